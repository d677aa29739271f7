"""Files shipped with syncd: units/ (a link to the repository's units/ directory, copied into wheels)."""

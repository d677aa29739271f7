"""syncd: keeps a systemd service in sync with its git repository, safely."""

__version__ = "0.1.0"

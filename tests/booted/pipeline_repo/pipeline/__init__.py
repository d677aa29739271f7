"""A small DICOM node, as the hospital teams write them: answers C-ECHO, logs to a file."""

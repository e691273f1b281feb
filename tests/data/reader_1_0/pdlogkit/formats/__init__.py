"""Pure, I/O-free codecs of the log formats: bytes in, records out."""

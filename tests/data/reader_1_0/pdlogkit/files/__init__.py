"""File layers of the log formats: readers and writers over paths, files and pipes."""

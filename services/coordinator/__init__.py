"""Drives pipeline runs, exports datasets, launches training Jobs."""

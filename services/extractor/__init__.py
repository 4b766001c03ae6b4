"""Harmful-element extraction: seeds in, harmful queries with two objects out."""

"""Helpers the tests share: real servers started on loopback, tiny models."""

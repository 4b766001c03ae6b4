"""The safety judge other teams call."""

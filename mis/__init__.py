"""MIS platform contracts; the generated messages and stubs live in mis.v1."""

"""The `mis` command."""

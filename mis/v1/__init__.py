"""Generated from proto/mis/v1 by `make proto`; do not edit."""

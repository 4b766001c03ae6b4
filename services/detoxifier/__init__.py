"""Instruction refinement and detoxification into a neutral instruction."""

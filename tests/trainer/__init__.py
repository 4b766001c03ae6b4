"""Tests of the MIRage trainer on tiny models built from configs."""

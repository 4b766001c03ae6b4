"""Evaluating a candidate model on MIS test splits: generate responses with the
paper's settings, judge them, compute ASR/RSR/RR/HR with confidence intervals,
and write JSON and HTML reports (`mis eval`)."""

"""The paper's other safety benchmarks on the MIS runner: SIUO, MSSBench,
FigStep, MM-SafetyBench, JailbreakV-28K and VLGuard's test set.

Each benchmark is one small module that reads the public release in its own
layout into `EvalSample`s, declared once in `registry.BENCHMARKS` with its
official judge and metric. Generation, resuming, caching and the report are
the runner's, as for MIS.
"""

"""The Monte Carlo validation study: many synthetic extracts through the real stages, bias and coverage
per method.
Beside the orchestration layer: imports synth and the stages' library functions (extract to
effects).
"""

"""The math: each op's forward and backward side by side, on NumPy arrays.

One module per op. Forward functions return their output and, where backward
needs more than the inputs, a `saved` value; backward functions take the
output gradient and ACCUMULATE parameter gradients into the arrays they are
given (`dweight += ...`), so one zeroing of the flat gradient buffer per step
serves every op. Every op runs in float32 (training) and float64 (checks).

Where a fast path hides the formula, the plain formula comes first in the same
module as `X_reference`, with X's signature and return values (differences are
in its docstring), and tests/test_fast_paths.py checks that the two agree.
"""

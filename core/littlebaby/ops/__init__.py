"""The math: each op's forward and backward side by side, on NumPy arrays.

One module per op. Forward functions return their output and, where backward
needs more than the inputs, a `saved` value; backward functions take the
output gradient and ACCUMULATE parameter gradients into the arrays they are
given (`dweight += ...`), so one zeroing of the flat gradient buffer per step
serves every op. Every op runs in float32 (training) and float64 (checks).
"""

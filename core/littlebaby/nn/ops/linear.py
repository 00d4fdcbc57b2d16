"""Linear layer: y = x @ weight + bias, weight stored (n_in, n_out)."""

from littlebaby.nn.ops.reduce import column_sum


def linear_forward(x, weight, bias=None):
    """x (..., n_in) -> (..., n_out)."""
    # One 2-D GEMM on the reshaped x: ndarray.dot on a 3-D x runs far below GEMM speed.
    y = x.reshape(-1, x.shape[-1]) @ weight
    if bias is not None:
        # as a (1, n_out) row: NumPy's loop for operands of one rank costs less per call than
        # broadcasting a vector over a matrix, which shows on generation's single rows
        y += bias[None]
    return y.reshape(*x.shape[:-1], weight.shape[1])


def linear_backward(dy, x, weight, dweight, dbias=None):
    """dy (..., n_out) -> dx (..., n_in); accumulates into dweight (n_in, n_out) and dbias (n_out,)."""
    dy2 = dy.reshape(-1, dy.shape[-1])
    x2 = x.reshape(-1, x.shape[-1])
    dweight += x2.T @ dy2
    if dbias is not None:
        dbias += column_sum(dy2)
    return (dy2 @ weight.T).reshape(x.shape)

"""Holding BLAS to a number of threads, through the OpenBLAS library NumPy ships.

When `step.py` splits a batch over Python threads, each thread's GEMMs must
run on one core: OpenBLAS spreading every GEMM over all cores as well would
oversubscribe them (measured: slower than no split at all). NumPy has no API
for this, so we call OpenBLAS's own `*set_num_threads*` through ctypes.

If NumPy is not linked to an OpenBLAS we can find (MKL, Accelerate, a system
BLAS under another name), every function here is a harmless no-op and
`threads()` returns None. The setting is process-wide (OpenBLAS's
`openblas_set_num_threads_local` turned out to change it for every thread too).
"""

import contextlib
import ctypes
import glob
import os

import numpy as np

_SETTERS = (
    "scipy_openblas_set_num_threads64_",
    "scipy_openblas_set_num_threads",
    "openblas_set_num_threads64_",
    "openblas_set_num_threads",
)
_GETTERS = (
    "scipy_openblas_get_num_threads64_",
    "scipy_openblas_get_num_threads",
    "openblas_get_num_threads64_",
    "openblas_get_num_threads",
)
_CORENAMES = (
    "scipy_openblas_get_corename64_",
    "scipy_openblas_get_corename",
    "openblas_get_corename64_",
    "openblas_get_corename",
)


def _find_library():
    """(set, get, corename) functions of NumPy's OpenBLAS, or None."""
    here = os.path.dirname(np.__file__)
    # wheels bundle it next to the package (numpy.libs on Linux, .dylibs on macOS)
    patterns = [os.path.join(here, "..", "numpy.libs", "*openblas*"), os.path.join(here, ".dylibs", "*openblas*")]
    candidates = [path for pattern in patterns for path in sorted(glob.glob(pattern))]
    for path in candidates:
        try:
            library = ctypes.CDLL(path)
        except OSError:
            continue
        found = [
            next((getattr(library, n) for n in names if hasattr(library, n)), None)
            for names in (_SETTERS, _GETTERS, _CORENAMES)
        ]
        if found[0] is not None and found[1] is not None:
            found[0].argtypes, found[0].restype, found[1].restype = [ctypes.c_int], None, ctypes.c_int
            if found[2] is not None:
                found[2].restype = ctypes.c_char_p
            return found
    return None


_functions = None
_looked = False


def _library():
    global _functions, _looked
    if not _looked:
        _looked = True
        try:
            _functions = _find_library()
        except Exception:  # any surprise in someone else's binary: fall back to doing nothing
            _functions = None
    return _functions


def threads() -> int | None:
    """OpenBLAS's current thread count, or None when we cannot control it."""
    functions = _library()
    return None if functions is None else functions[1]()


def set_threads(n: int):
    """Set OpenBLAS's thread count (process-wide); a no-op without OpenBLAS."""
    functions = _library()
    if functions is not None:
        functions[0](int(n))


def kernel() -> str | None:
    """The OpenBLAS core kernel in use (e.g. 'SkylakeX', 'Haswell'), or None."""
    functions = _library()
    if functions is None or functions[2] is None:
        return None
    return functions[2]().decode()


@contextlib.contextmanager
def limit(n: int):
    """Hold OpenBLAS to n threads inside the block, then restore the previous count."""
    before = threads()
    if before is None or before == n:
        yield
        return
    set_threads(n)
    try:
        yield
    finally:
        set_threads(before)

"""Talking to the machine: files read within bounds (reading.py) and written whole (atomic.py), whether a
writer lives (processes.py), memory (memory.py), BLAS threads (blas.py), worker threads (threads.py) and the
checks of what a Python caller hands the API (arguments.py). Nothing here knows about models or runs."""

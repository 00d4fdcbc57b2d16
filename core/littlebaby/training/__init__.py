"""Training a run: a session with its saves and signals (session.py, stopping.py), the loop
(trainer.py), one step's gradient over threads and processes (step.py, distributed.py), the learning
rate (schedule.py) and per-group statistics (stats.py); the update itself is optim/'s."""

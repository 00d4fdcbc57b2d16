"""A run on disk: the home and where each run file lives (home.py), model and optimizer files
(weights.py), checkpoint folders (checkpoints.py), and the report (report.py, records.py, report_writer.py)."""

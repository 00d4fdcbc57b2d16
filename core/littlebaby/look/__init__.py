"""Looking inside runs: the listing of a home (listing.py), a model's parameter table (inspection.py),
curves and attention maps (figures.py, views.py), and the per-token loss of a text (surprise.py)."""

"""Making and using runs: train (train.py), resume (resume.py), finetune (finetune.py), import the original
notebook's files (original.py), load (load.py) and generate (generate.py); what they read (data.py) and
share before training (setup.py); prepare a corpus (prepare.py)."""

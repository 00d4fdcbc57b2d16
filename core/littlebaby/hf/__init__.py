"""Hugging Face model folders in and out: `import-hf` makes one a run, `export-hf` writes a run as one."""

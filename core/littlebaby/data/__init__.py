"""Data shipped with littlebaby: tiny Shakespeare (1,115,393 characters), the default training text."""

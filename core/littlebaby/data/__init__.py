"""Data shipped with littlebaby: tiny Shakespeare (1,115,393 characters), the default training text, and
Sophocles' Antigone in Greek (sophocles.txt), new characters and words to finetune the Shakespeare baby on."""

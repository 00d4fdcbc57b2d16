"""The `littlebaby` command: its grammar (arguments.py), what each command does (commands.py), main (main.py)."""

from littlebaby.cli.main import main

__all__ = ["main"]

"""The `littlebaby` command: its grammar (arguments.py) and what each command does (commands.py)."""

from littlebaby.cli.commands import main

__all__ = ["main"]

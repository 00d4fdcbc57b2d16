"""The one exception type for mistakes a user can fix.

A `UserError` carries what is wrong and how to fix it; the CLI prints it as a
single line and exits with code 2. Internal bugs raise ordinary exceptions.
"""


class UserError(Exception):
    """A user mistake: `problem` says what is wrong, `fix` what to do about it."""

    def __init__(self, problem: str, fix: str | None = None):
        self.problem = problem
        self.fix = fix
        super().__init__(problem if not fix else f"{problem}; {fix}")

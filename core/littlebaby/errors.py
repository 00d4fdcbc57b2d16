"""The one exception type for mistakes a user can fix, and how values appear in its message.

A `UserError` says what is wrong (`problem`) and what to do about it (`fix`); the CLI prints it as
one line and exits with code 2. Internal bugs raise ordinary exceptions.

A message about a setting the user gives (a config key, a function parameter) writes its name as
`{name}`, or `{name=}` right before a value, and lists the name in `keys`. Python callers read
`max_tokens` and `max_tokens=200`; the command line reads `--max-tokens` and `--max-tokens 200`, or
`--set lr` and `--set lr=0.001` for a config key (cli/flags.py spells them).
"""


def python_spelling(key: str, value_follows: bool) -> str:
    return f"{key}=" if value_follows else key


class UserError(Exception):
    """A user mistake: `problem` says what is wrong, `fix` what to do about it; `keys` the settings named."""

    def __init__(self, problem: str, fix: str | None = None, keys: tuple = ()):
        self.keys = (keys,) if isinstance(keys, str) else tuple(keys)
        self.raw_problem, self.raw_fix = problem, fix
        self.problem, self.fix = self.spelled(python_spelling)
        super().__init__(self.problem if not self.fix else f"{self.problem}; {self.fix}")

    def spelled(self, spell) -> tuple[str, str | None]:
        """(problem, fix) with every `{key}` / `{key=}` of `keys` written as spell(key, value_follows)."""

        def said(text):
            if text is None:
                return None
            for key in self.keys:
                text = text.replace("{" + key + "=}", spell(key, True)).replace("{" + key + "}", spell(key, False))
            return text

        return said(self.raw_problem), said(self.raw_fix)

    def line(self, spell=python_spelling) -> str:
        problem, fix = self.spelled(spell)
        return problem if not fix else f"{problem}; {fix}"


def shown(value) -> str:
    """A value as it appears in an error line: its repr, cut short."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def describe_bytes(count: int) -> str:
    """1536 -> '1.5 KiB': sizes in messages (a config may ask for more bytes than a float holds)."""
    if count < 1024:
        return f"{count} bytes"
    for power, unit in enumerate(("KiB", "MiB", "GiB", "TiB", "PiB"), start=1):
        if count < 1024 ** (power + 1):
            return f"{count / 1024**power:.1f} {unit}"
    if count < 1024**5 * 10**6:
        return f"{count // 1024**5:,} PiB"
    return f"10^{len(str(int(count))) - 1} bytes"

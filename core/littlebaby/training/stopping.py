"""How a training run stops early: signals, the stop request the trainer polls, deferred saves.

Ctrl-C (SIGINT), SIGTERM (how Slurm and Kubernetes stop a job) and SIGHUP
(the terminal went away) all ask the run to stop after the current step; the
run then saves a checkpoint and its model, and says how to resume. A second
signal quits at once, except while a checkpoint is being written: then it
waits for the write to end (`StopRequest.deferred`), so a checkpoint is never
half the old step and half the new one.

The decision to stop is taken in one place, `StopRequest.should_stop()`, which
the trainer asks once per step: a run over several processes (MPI) makes every
process agree there.
"""

import contextlib
import signal
import threading

import attrs

SIGNALS = ("SIGINT", "SIGTERM", "SIGHUP")  # the signals that stop a run gracefully (those this platform has)


class QuitNow(KeyboardInterrupt):
    """The second signal: quit at once. It carries that signal's name, so the exit code names it
    (a scheduler's second SIGTERM still ends in 143, not Ctrl-C's 130)."""

    def __init__(self, signal_name: str):
        super().__init__(signal_name)
        self.signal = signal_name


@attrs.define
class StopRequest:
    """Whether (and by which signal) the run was asked to stop; polled by the trainer each step."""

    signal: str | None = None  # name of the first signal that asked, e.g. "SIGTERM"; "request" from code
    quit_now: str | None = None  # the second signal, if it came while signals were deferred
    deferring: bool = False

    def request(self, name: str = "request"):
        if self.signal is None:
            self.signal = name

    def should_stop(self) -> bool:
        """The one decision point: True once a stop was requested (the step in progress has finished)."""
        return self.signal is not None

    @contextlib.contextmanager
    def deferred(self):
        """While active, a second signal waits; it quits (QuitNow) once the block is done."""
        self.deferring = True
        try:
            yield
        finally:
            self.deferring = False
        if self.quit_now:
            raise QuitNow(self.quit_now)

    def on_signal(self, signum, notice=None):
        """What a signal does: ask for a stop; a second one quits at once (or after a deferred write)."""
        name = signal.Signals(signum).name
        if self.signal is None:
            self.request(name)
            if notice is not None:
                notice(name)
        elif self.deferring:
            self.quit_now = name
        else:
            raise QuitNow(name)


@contextlib.contextmanager
def _handled(names, handler):
    """While active, the signals `names` call handler(signum, frame). A signal the process ignores
    stays ignored (`nohup` ignores SIGHUP, a shell's background job SIGINT: their owner meant it).
    Outside the main thread signals cannot be caught: then nothing is installed."""
    previous = {}
    if threading.current_thread() is threading.main_thread():
        for name in names:
            number = getattr(signal, name, None)
            if number is not None and signal.getsignal(number) is not signal.SIG_IGN:
                previous[number] = signal.signal(number, handler)
    try:
        yield
    finally:
        for number, handler_before in previous.items():
            signal.signal(number, handler_before)


@contextlib.contextmanager
def handle_signals(stop: StopRequest, notice=None):
    """While active, SIGINT, SIGTERM and SIGHUP go to `stop` (see _handled for ignored signals and threads)."""
    with _handled(SIGNALS, lambda signum, frame: stop.on_signal(signum, notice)):
        yield stop


@contextlib.contextmanager
def quit_on_signals():
    """For a command that saves nothing midway (prepare, generate, plot, ...): SIGTERM and SIGHUP
    quit as Ctrl-C does, by an exception (QuitNow), so what the command was writing (prepare's
    temporary directory) is removed on the way out and the exit code still names the signal.
    Their default action would end the process at once and leave it."""

    def quit(signum, frame):
        raise QuitNow(signal.Signals(signum).name)

    with _handled(("SIGTERM", "SIGHUP"), quit):
        yield


def exit_code(signal_name: str | None) -> int:
    """The shell's convention for a process a signal stopped: 128 + its number (SIGINT 130, SIGTERM 143, SIGHUP 129)."""
    number = getattr(signal, signal_name or "", None)
    return 128 + int(number) if number is not None else 130

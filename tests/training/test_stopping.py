"""Stopping a run: signals ask for a stop, a second one quits, except while a save is deferred."""

import os
import signal

import pytest

from littlebaby.training.stopping import StopRequest, exit_code, handle_signals


@pytest.mark.parametrize("name", ["SIGINT", "SIGTERM", "SIGHUP"])
def test_a_signal_asks_for_a_stop_and_a_second_one_quits(name):
    stop, notices = StopRequest(), []
    with handle_signals(stop, notice=notices.append):
        assert not stop.should_stop()
        os.kill(os.getpid(), getattr(signal, name))
        assert stop.should_stop() and stop.signal == name and notices == [name]
        with pytest.raises(KeyboardInterrupt) as quit:
            os.kill(os.getpid(), getattr(signal, name))
        assert quit.value.signal == name  # the exit code is the second signal's (143 for SIGTERM)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL


def test_a_second_signal_waits_for_a_deferred_save_then_quits():
    stop, done = StopRequest(), []
    with handle_signals(stop):
        os.kill(os.getpid(), signal.SIGTERM)
        with pytest.raises(KeyboardInterrupt) as quit:
            with stop.deferred():
                os.kill(os.getpid(), signal.SIGINT)  # arrives mid-save: must not cut it
                done.append("saved")
    assert done == ["saved"] and stop.signal == "SIGTERM" and quit.value.signal == "SIGINT"


def test_exit_codes_follow_the_shell_convention():
    assert (exit_code("SIGINT"), exit_code("SIGTERM"), exit_code("SIGHUP")) == (130, 143, 129)
    assert exit_code("request") == 130


def test_an_ignored_signal_stays_ignored():
    previous = signal.signal(signal.SIGHUP, signal.SIG_IGN)  # as under nohup
    try:
        stop = StopRequest()
        with handle_signals(stop):
            os.kill(os.getpid(), signal.SIGHUP)
        assert not stop.should_stop() and signal.getsignal(signal.SIGHUP) == signal.SIG_IGN
    finally:
        signal.signal(signal.SIGHUP, previous)


def test_a_signal_right_after_the_stop_all_reduce_waits_for_the_next_step():
    """The race behind a hung `mpiexec` job: the all-reduce said "go on" to every process, then a
    signal landed on one of them. It must go on too (the next step's agreement stops them all);
    stopping alone left the others waiting in the step's gradient all-reduce forever."""
    from types import SimpleNamespace

    from littlebaby.training.trainer import Trainer

    stop = StopRequest()

    class World:  # every process voted "go on"; the signal arrives as the answer comes back
        def max(self, value):
            stop.request("SIGINT")
            return 0

    trainer = SimpleNamespace(stop=stop, world=World())
    assert Trainer.should_stop(trainer) is False  # the agreed answer for this step
    assert stop.signal == "SIGINT"  # kept: the next step's vote carries it to everyone

"""The training loop: it learns, keeps its report, stops on request and resumes exactly."""

import numpy as np
import pytest

from littlebaby.optim.adamw import AdamW
from littlebaby.plugins import resolve
from littlebaby.plugins.resolve import build_model
from littlebaby.store.report import Report
from littlebaby.text.batches import Epochs, val_windows
from littlebaby.training.distributed import Solo
from littlebaby.training.trainer import Trainer, evaluate

TEXT = np.array([ord(c) - 97 for c in "abcdefgh" * 60])  # a pattern a model learns in a few steps


def trainer(dropout=0.0, **keys):
    config = resolve.config(
        dict(
            n_ctx=8,
            n_emb=16,
            head_size=16,
            n_heads=2,
            n_layers=1,
            batch_size=4,
            lr=0.01,
            warmup_steps=2,
            max_steps=30,
            num_epochs=3,
            eval_interval=10,
            dtype="float64",
            dropout=dropout,
        )
        | keys
    )
    model = build_model(config, vocab_size=8)
    reports = []
    train = Trainer(
        model,
        AdamW(model.parameters),
        Epochs(TEXT, 8, 4, config.seed),
        val_windows(TEXT, 8, 8),
        config,
        Report({}),
        on_report=lambda r: reports.append(dict(r.data)),
    )
    return train, reports


def test_it_learns_and_reports():
    train, reports = trainer()
    before = evaluate(train.model, train.val_inputs, train.val_targets, 4)
    assert train.run(quiet=True) == "finished"
    report = train.report.data
    assert report["best_val_loss"] < 0.8 * before
    assert [v["step"] for v in report["val"]] == [10, 20, 30]
    assert [s["step"] for s in report["steps"]] == list(range(1, 31))
    assert set(report["steps"][0]) >= {"step", "loss", "lr", "grad_norm", "seconds", "tokens_per_second", "groups"}
    assert set(report["steps"][0]["groups"]["attention"]) == {"grad_norm", "update_ratio"}
    assert report["status"] == "finished" and report["steps_done"] == 30 and report["peak_memory_mb"] > 0
    assert len(reports) >= 3 and reports[0]["status"] == "running"  # refreshed at every eval


def stop_at(train, at: int):
    """Ask train to stop once step `at` is done, as Ctrl-C during that step would."""
    original = train.train_step

    def step():
        record = original()
        if train.step == at:
            train.stop.request()
        return record

    train.train_step = step


def test_stop_request_ends_after_the_current_step():
    train, _ = trainer()
    stop_at(train, 4)
    assert train.run(quiet=True) == "interrupted"
    assert train.step == 4 and train.report.data["status"] == "interrupted"


def test_resume_replays_the_same_run():
    straight, _ = trainer(dropout=0.1)
    straight.run(quiet=True)
    first, _ = trainer(dropout=0.1)
    stop_at(first, 13)
    assert first.run(quiet=True) == "interrupted"
    second, _ = trainer(dropout=0.1)
    second.model.parameters.data[...] = first.model.parameters.data
    second.optimizer.load_state(first.optimizer.state())
    second.load_state(first.state())
    second.run(quiet=True)
    np.testing.assert_array_equal(second.model.parameters.data, straight.model.parameters.data)


def test_state_round_trips_the_models_generator():
    first, _ = trainer(dropout=0.1)
    first.model.rng.random(5)  # moved away from its seeded start
    second, _ = trainer(dropout=0.1)
    second.load_state(first.state())
    assert second.model.rng is not first.model.rng
    assert all(layer.rng is second.model.rng for layer in second.model.walk())  # every dropout draws from it
    np.testing.assert_array_equal(second.model.rng.random(4), first.model.rng.random(4))


def test_a_loss_that_is_not_a_number_stops_before_the_update():
    import pytest

    from littlebaby.training.trainer import Diverged

    train, _ = trainer()
    original = train.train_step

    def poisoned():  # a NaN in the weights shows up as a NaN loss in the next step
        if train.step == 5:
            train.model.parameters.data[0] = np.nan
            train.good = train.model.parameters.data.copy()
        return original()

    train.train_step = poisoned
    with pytest.raises(Diverged, match="diverged at step 6: the loss is nan") as error:
        train.run(quiet=True)
    assert error.value.step == 6 and train.step == 5 and "lower it (for example lr=" in str(error.value)
    np.testing.assert_array_equal(train.model.parameters.data, train.good)  # AdamW did not touch them


def test_progress_bar_is_the_text_bar_outside_a_kernel_and_without_ipywidgets(monkeypatch):
    import sys
    import types

    import tqdm.std

    from littlebaby.training.trainer import progress_bar

    def bar_type():
        bar = progress_bar(total=1, disable=True)
        bar.close()
        return type(bar)

    monkeypatch.delitem(sys.modules, "ipykernel", raising=False)
    assert bar_type() is tqdm.std.tqdm  # a terminal
    monkeypatch.setitem(sys.modules, "ipykernel", types.ModuleType("ipykernel"))
    monkeypatch.setitem(sys.modules, "ipywidgets", None)  # a kernel without ipywidgets: import fails
    assert bar_type() is tqdm.std.tqdm


class TwoSlowRanks(Solo):
    """A world that says it has two processes, computes as one, and whose wait for the gradient's buckets
    (once a step, buckets.py) takes 0.25 s."""

    size = 2

    def finish(self, requests):
        self.reduce_seconds += 0.25


def test_the_all_reduce_time_per_step_counts_this_sessions_steps_only():
    config_keys = dict(max_steps=12, eval_interval=4)
    first, _ = trainer(**config_keys)
    stop_at(first, 5)
    first.run(quiet=True)
    train, _ = trainer(**config_keys)
    train.world = TwoSlowRanks()
    train.load_state(first.state())  # resumed at step 5: this session takes steps 6 .. 12
    assert train.run(quiet=True) == "finished"
    assert (train.session_steps, train.session_reduce_seconds) == (7, pytest.approx(7 * 0.25))
    assert train.report.data["world"]["allreduce_seconds_per_step"] == 0.25
    assert [s["allreduce_seconds"] for s in train.report.data["steps"]] == [0.25] * 7


def test_warmup_stable_decay_holds_the_rate_then_falls_in_a_line():
    from littlebaby.training.schedule import learning_rate

    rates = [learning_rate(step, 100, 1.0, 0.1, 10, "wsd", 0.2) for step in range(100)]
    assert rates[:10] == [pytest.approx((s + 1) / 10) for s in range(10)]  # warmup as cosine's
    assert rates[10:80] == [1.0] * 70  # stable: the peak until the last fifth
    falls = np.diff(rates[79:])
    assert np.all(falls < 0) and np.allclose(falls, falls[0]) and rates[-1] == pytest.approx(0.1)
    cosine = [learning_rate(step, 100, 1.0, 0.1, 10) for step in range(100)]
    assert cosine[50] < 1.0 and cosine == [learning_rate(s, 100, 1.0, 0.1, 10, "cosine", 0.5) for s in range(100)]


def test_a_run_trained_with_wsd_records_its_rates(tmp_path):
    from littlebaby import api

    keys = {"max_steps": 20, "warmup_steps": 2, "schedule": "wsd", "cooldown": 0.5, "lr": 0.01, "min_lr": 0.001}
    rates = [s["lr"] for s in api.train("tiny", overrides=keys, home=tmp_path).report.data["steps"]]
    assert rates[2:10] == [0.01] * 8 and rates[-1] == pytest.approx(0.001) and rates[10] < 0.01

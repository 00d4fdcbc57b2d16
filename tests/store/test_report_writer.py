"""The report written as it grows: each write the text of json.dumps, serialising only the new records."""

import json
import shutil
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from littlebaby import api
from littlebaby.store import report_writer
from littlebaby.store.report_writer import ReportWriter


def whole(report) -> str:
    """What a report file held before the writer: the whole dict serialised at once."""
    return json.dumps(report, indent=2, ensure_ascii=False) + "\n"


def step(n: int) -> dict:
    return {"step": n, "loss": 4.0 / n, "lr": 0.001, "grad_norm": 1.5, "groups": {"attention": {"grad_norm": 0.1 * n}}}


values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=12,
)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.text(), values, max_size=6))
def test_the_text_is_json_dumps_of_the_whole_report(report):
    """Any JSON object (strings with newlines, quotes and non-ASCII, nested and empty lists)."""
    assert ReportWriter().text(report) + "\n" == whole(report)


def test_every_write_equals_the_whole_report_while_records_are_appended(tmp_path):
    path, writer = tmp_path / "report.json", ReportWriter()
    report = {"guid": "run ä", "config": {"n_ctx": 8}, "steps": [], "val": [], "status": "running"}
    for n in range(1, 30):
        report["steps"].append(step(n))
        if n % 4 == 0:
            report["val"].append({"step": n, "loss": 2.0 - n / 100})
            report["best_val_loss"] = report["val"][-1]["loss"]
        report["train_seconds"] = n * 0.25
        writer.write(path, report)
        assert path.read_text(encoding="utf-8") == whole(report)


def test_a_rewound_or_replaced_list_is_written_afresh(tmp_path):
    path, writer = tmp_path / "report.json", ReportWriter()
    report = {"steps": [step(n) for n in range(1, 9)], "val": [{"step": 4, "loss": 2.0}]}
    writer.write(path, report)
    report["steps"] = report["steps"][:5]  # report.rewind keeps the steps of the checkpoint
    report["val"] = []
    writer.write(path, report)
    assert path.read_text(encoding="utf-8") == whole(report)
    del report["steps"][3:]  # cut in place, then grown back to a longer length with other records
    report["steps"] += [step(10), step(11), step(12)]
    writer.write(path, report)
    assert path.read_text(encoding="utf-8") == whole(report)
    report["steps"][-1] = step(13)  # the last record replaced in place
    writer.write(path, report)
    assert path.read_text(encoding="utf-8") == whole(report)


def test_each_record_is_serialised_once_however_often_the_report_is_written(tmp_path, monkeypatch):
    serialised = []

    class Counting:  # json as the writer sees it, noting every step record it is asked to serialise
        @staticmethod
        def dumps(value, **options):
            if isinstance(value, dict) and "grad_norm" in value:
                serialised.append(value["step"])
            return json.dumps(value, **options)

    monkeypatch.setattr(report_writer, "json", Counting)
    path, writer = tmp_path / "report.json", ReportWriter()
    report = {"guid": "x", "steps": []}
    for n in range(1, 201):
        report["steps"].append(step(n))
        writer.write(path, report)
    assert serialised == list(range(1, 201))  # 200 writes, not 200 * 201 / 2 record serialisations
    assert path.read_text(encoding="utf-8") == whole(report)


def report_file(home, name) -> Path:
    return Path(home) / "outputs" / f"report_{name}.json"


def test_a_run_resumed_from_an_older_checkpoint_appends_after_it(tmp_path):
    """The newest checkpoint lost: resume rewinds the report to the one before and its writer appends from there."""
    result = api.train("tiny", overrides={"max_steps": 6, "checkpoint_interval": 2}, home=tmp_path)
    path = report_file(tmp_path, result.name)
    assert path.read_text(encoding="utf-8") == whole(result.report.data)
    folders = sorted((tmp_path / "checkpoints" / result.name).glob("step_*"))
    assert [f.name for f in folders] == ["step_000000004", "step_000000006"]
    shutil.rmtree(folders[-1])
    resumed = api.train(resume=result.name, overrides={"max_steps": 9}, home=tmp_path)
    text = path.read_text(encoding="utf-8")
    assert text == whole(json.loads(text))  # the layout of a whole json.dumps
    assert json.loads(text) == json.loads(json.dumps(resumed.report.data))
    assert [s["step"] for s in json.loads(text)["steps"]] == list(range(1, 10))
    assert [v["step"] for v in json.loads(text)["val"]] == [3, 6, 9]
    assert json.loads(text)["resumed"] == [4]

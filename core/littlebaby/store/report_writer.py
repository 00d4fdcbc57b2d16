"""Writing a run's report file again and again as it grows, at the cost of what is new.

A training run rewrites its report after every eval and at least every 30 s
(session.py). Serialising the whole dict each time would make the writes of a
run cost the square of its length: the step records pile up. `ReportWriter`
keeps the text of every item of the report's top-level lists (the step and val
records) once written, so a write serialises the small header and the new items
and joins the rest. The text is exactly `json.dumps(report, indent=2,
ensure_ascii=False)`, and the file is still replaced atomically (files.py).

Items already written are taken as final: report.py only appends to these lists,
and when it changes earlier ones (report.rewind on resume) it puts a new list in
place, which the writer sees and serialises afresh.
"""

import json

from littlebaby.system import atomic

INDENT = 2


def _dumps(value, depth: int) -> str:
    """value's JSON as it appears `depth` levels into an indented document (JSON strings hold no
    raw newline, so every newline of the text is a line break to indent)."""
    return json.dumps(value, indent=INDENT, ensure_ascii=False).replace("\n", "\n" + " " * (INDENT * depth))


class ReportWriter:
    """Writes one report, remembering the text of its list items between writes."""

    def __init__(self):
        self._lists = {}  # top-level key -> (the list object, its last item written, the text of its items written)

    def _items(self, key: str, items: list) -> list:
        """The text of every item of report[key], serialising only those not written before."""
        kept, last, texts = self._lists.get(key, (None, None, []))
        if kept is not items or len(texts) > len(items) or (texts and items[len(texts) - 1] is not last):
            texts = []  # another list, or this one cut or changed: serialise it afresh
        texts.extend(_dumps(item, 2) for item in items[len(texts) :])
        self._lists[key] = (items, items[-1], texts)
        return texts

    def text(self, report: dict) -> str:
        """json.dumps(report, indent=2, ensure_ascii=False), reusing the text of items written before."""
        if not report:
            return "{}"
        members = []
        for key, value in report.items():
            if isinstance(value, list) and value:  # as json.dumps lays a list out: an item per line, two levels in
                items = (",\n" + " " * (2 * INDENT)).join(self._items(key, value))
                value_text = "[\n" + " " * (2 * INDENT) + items + "\n" + " " * INDENT + "]"
            else:
                value_text = _dumps(value, 1)
            members.append(" " * INDENT + json.dumps(key, ensure_ascii=False) + ": " + value_text)
        return "{\n" + ",\n".join(members) + "\n}"

    def write(self, path, report: dict):
        """The report file, replaced whole (a temporary renamed into place)."""
        atomic.write_text(path, self.text(report) + "\n")

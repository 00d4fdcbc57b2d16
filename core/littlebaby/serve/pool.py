"""The runs a server answers with: resolved by any name `littlebaby` takes, loaded once, one request at a time each.

A model keeps what its last forward saw (activations for backward, its KV cache), so two requests must not run
through one model together: each loaded run has a lock, and a request holds it while it generates. Requests for
different runs run side by side on the server's worker threads. A run is loaded again when its model file
changes (a run still training writes a newer checkpoint or model); what is computed from a loaded model alone
(its parameter table, which a page polling a training run asks for every few seconds) is kept with it.
"""

import threading

from littlebaby.errors import UserError
from littlebaby.look.inspection import render_table
from littlebaby.runs.load import load_named
from littlebaby.store.home import Home


class Pool:
    def __init__(self, home):
        self.home = Home(home)
        self.loaded: dict = {}  # run name -> (stamp of its files, Loaded, lock)
        self.tables: dict = {}  # run name -> (the Loaded it was computed from, `littlebaby inspect`'s table)
        self.guard = threading.Lock()

    def name(self, run: str) -> str:
        """The run's name (GUID) for `run` as a user gives it: `last`, a GUID or prefix, a readable name."""
        if not isinstance(run, str) or not run:
            raise UserError("model must be a run's name, GUID or 'last'", "list them with GET /v1/models")
        return self.home.resolve(run)

    def _stamp(self, name: str):
        files = [self.home.model(name), *self.home.checkpoints(name).glob("step_*")]
        return max((path.stat().st_mtime_ns for path in files if path.exists()), default=None)

    def get(self, run: str):
        """(name, Loaded, lock) of a run, loaded now if it is new or its model changed."""
        name = self.name(run)
        stamp = self._stamp(name)
        with self.guard:
            kept = self.loaded.get(name)
            if kept is None or kept[0] != stamp:
                kept = (stamp, load_named(self.home, name), threading.Lock())
                self.loaded[name] = kept
        return name, kept[1], kept[2]

    def table(self, run: str) -> str:
        """`littlebaby inspect`'s parameter table of a run: computed once for each time its model is loaded."""
        name, loaded, lock = self.get(run)
        with lock:
            kept = self.tables.get(name)
            if kept is None or kept[0] is not loaded:
                kept = self.tables[name] = (loaded, render_table(loaded.model))
        return kept[1]

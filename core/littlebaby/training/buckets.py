"""A step's gradient summed over the processes in buckets, while the backward pass still runs.

The model's backward completes its gradients stage by stage (`GPT.stages`: the head and final norm, the
blocks from the last to the first, the embeddings) and says so through a callback. A bucket is the gradient
of one or more consecutive stages, at least BUCKET_ELEMENTS elements or the mean stage's size if less (so a
small model has buckets too; the last bucket takes what is left):
as soon as its last stage ends, its non-blocking all-reduce starts (with a sharded optimizer a
reduce-scatter, each process receiving the part of the bucket that falls in its part of the buffer), and
the earlier layers' backward runs while it travels. The step waits for every bucket (`finish`) before
clipping; each wait keeps the deadline of deadline.py, and the time waited is the reductions' exposed time.

params.py lays the flat buffer out as the decayed tensors, then the others, each group in declaration order
(embeddings, blocks in order, final norm, head), so a stage's gradient is at most two ranges (its matrices,
its vectors) and consecutive stages' ranges meet: a bucket is one or two contiguous ranges.

Threads: the rows are split over the model and its replicas (step.py), each with its own gradient. A
bucket's ranges are summed over them (the replicas' into the model's, in their order, as step.py sums the
whole buffer) once all have ended its stages; the main thread, the only one that calls MPI, checks at its
own stage ends, and what is left when the threads join is summed and sent then. Only the last micro-batch
of a step sends buckets: the earlier ones add into model.grad.

MPI (MPICH without a progress thread) advances a non-blocking collective only inside MPI calls, so each
stage end also tests the buckets in flight. One process has nothing to sum: step.py does not use this.
LITTLEBABY_OVERLAP=0 in the environment makes one bucket of the whole buffer, sent when the backward pass
ends, as before buckets: benchmarks/scaling.py measures what the overlap gains with it.
"""

import math
import os
import weakref

BUCKET_ELEMENTS = 1 << 17  # 512 KiB of float32: small enough that a block of baby makes a bucket of its own
SMALL = 8  # a range under 1/SMALL of the bucket size waits for the last bucket
SWITCH = "LITTLEBABY_OVERLAP"

_plans: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()  # model -> (its parameters, its plan)


def _merged(ranges) -> list[tuple[int, int]]:
    """(start, stop) ranges sorted, those that meet joined."""
    out = []
    for start, stop in sorted(ranges):
        if out and out[-1][1] == start:
            out[-1] = (out[-1][0], stop)
        else:
            out.append((start, stop))
    return out


def _stage_ranges(model) -> list[list[tuple[int, int]]]:
    """The flat gradient's ranges each stage of the backward completes; what no stage names (none in the
    core's blocks) goes with the last stage, so the stages cover the buffer once."""
    parameters, prefixes = model.parameters, {id(layer): prefix for prefix, layer in model.named_layers()}
    stages = []
    for layers in model.stages():
        names = [name for layer in layers for name, *_ in layer.named_specs(prefixes[id(layer)])]
        stages.append(
            [(parameters.offsets[n], parameters.offsets[n] + math.prod(parameters.specs[n].shape)) for n in names]
        )
    covered, gaps, at = _merged(r for ranges in stages for r in ranges), [], 0
    for start, stop in covered + [(parameters.size, parameters.size)]:
        if start > at:
            gaps.append((at, start))
        at = max(at, stop)
    stages[-1] += gaps
    return stages


def plan(model, least: int = BUCKET_ELEMENTS) -> list[tuple[int, list[tuple[int, int]]]]:
    """The model's buckets in the order they are sent: (how many stages must have ended, its ranges).
    Made once per model (again if its parameters are replaced)."""
    kept = _plans.get(model)
    if kept is not None and kept[0] is model.parameters and kept[1] == least:
        return kept[2]
    stages, buckets, pending = _stage_ranges(model), [], []
    at_least = min(least, model.parameters.size // len(stages))
    if os.environ.get(SWITCH) == "0":
        at_least = model.parameters.size + 1
    for ended, ranges in enumerate(stages, start=1):
        pending += ranges
        if sum(stop - start for start, stop in pending) >= at_least or ended == len(stages):
            buckets.append((ended, _merged(pending)))
            pending = []
    # a bucket's small ranges (its blocks' norms and biases, beside their matrices) go with the last bucket,
    # where they meet: one collective per bucket instead of two, each paying its latency
    deferred = []
    for i, (ended, ranges) in enumerate(buckets[:-1]):
        large = [(start, stop) for start, stop in ranges if stop - start >= at_least // SMALL]
        if large:
            deferred += [r for r in ranges if r not in large]
            buckets[i] = (ended, large)
    buckets[-1] = (buckets[-1][0], _merged(buckets[-1][1] + deferred))
    _plans[model] = (model.parameters, least, buckets)
    return buckets


class Reduction:
    """One step's buckets: `finished(worker)` is the backward callback of the step's chunk `worker` (0: the
    model, on the main thread), `finish()` sends what is left and waits for every bucket.

    out: None, every process gets the whole sum in model.grad; or a sharded optimizer's part of the buffer
    (`world.rows(size)`), which gets this process's part of the sum."""

    def __init__(self, model, world, out=None):
        self.model, self.world, self.out = model, world, out
        self.buckets = plan(model)
        self.helpers, self.ended = [], [0]
        self.sent, self.requests = 0, []

    def workers(self, helpers: list):
        """The last micro-batch's rows run on the model and `helpers` (replicas): their gradients are summed."""
        self.helpers, self.ended = list(helpers), [0] * (1 + len(helpers))

    def finished(self, worker: int):
        def callback(stage: int):
            self.ended[worker] = stage + 1
            if worker == 0:  # only the main thread calls MPI
                self.send(min(self.ended))

        return callback

    def send(self, ended: float):
        """Start every bucket not yet sent whose stages have all ended, in order; test those in flight."""
        grad = self.model.grad
        while self.sent < len(self.buckets) and self.buckets[self.sent][0] <= ended:
            for start, stop in self.buckets[self.sent][1]:
                for helper in self.helpers:
                    grad[start:stop] += helper.grad[start:stop]
                self.requests.append(self._start(start, stop))
            self.sent += 1
        for request in self.requests:
            if request is not None:
                request.Test()  # completes nothing itself: lets MPI move the buckets in flight

    def _start(self, start: int, stop: int):
        grad, world = self.model.grad, self.world
        if self.out is None:
            return world.start_sum(grad[start:stop])
        # each rank's share of this bucket: where it meets that rank's part (world.rows of it)
        bounds = [grad.size * rank // world.size for rank in range(world.size + 1)]
        counts = [max(0, min(stop, b) - max(start, a)) for a, b in zip(bounds[:-1], bounds[1:])]
        mine = bounds[world.rank]
        at = max(start, mine) - mine
        return world.start_sum(grad[start:stop], self.out[at : at + counts[world.rank]], counts)

    def finish(self):
        # one wait per bucket, in order: each starts by polling without a pause (deadline.py), which a large
        # bucket needs on shared memory (it moves in pieces, each when both processes poll); one wait for all
        # measured slower (benchmarks/scaling.py --overlap)
        self.send(math.inf)
        self.world.finish([request for request in self.requests if request is not None])

"""Whether runs differ beyond noise: groups of seeds compared by Welch's t-test, in NumPy and the math module.

Runs whose configs agree except for `seed` (and settings that do not change the result: threads, how often
to checkpoint) form a group. Against the first group (the baseline: the first run named), every other group
gets the difference of mean best val loss and of mean best bits per byte, its 95% interval, and the two-sided
p-value of Welch's t-test, which does not assume equal variances. Runs scored on different val windows
(`eval_windows`) get a warning: a sample's error is part of their difference. A group of one run has no spread: it is
compared only by its number, and the line says that seeds are needed. The t-distribution's CDF is the
regularized incomplete beta function, by its continued fraction (Lentz's method).
"""

import math

import attrs
import numpy as np

from littlebaby.config import Config

# config keys that do not make two runs different experiments
SAME_EXPERIMENT = ("seed", "threads", "checkpoint_interval", "eval_interval")


def _continued_fraction(a: float, b: float, x: float) -> float:
    """The continued fraction of I_x(a, b), evaluated from the front (modified Lentz)."""
    tiny = 1e-300
    c, d = 1.0, 1.0 - (a + b) * x / (a + 1.0)
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 1000):
        for numerator in (
            m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
            -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1)),
        ):
            d = 1.0 + numerator * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + numerator / c
            c = c if abs(c) > tiny else tiny
            h *= d * c
        if abs(d * c - 1.0) < 1e-15:
            break
    return h


def regularized_beta(x: float, a: float, b: float) -> float:
    """I_x(a, b) = B(x; a, b) / B(a, b), for 0 <= x <= 1 and a, b > 0."""
    if x <= 0.0 or x >= 1.0:
        return 0.0 if x <= 0.0 else 1.0
    front = math.exp(math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x))
    if x < (a + 1.0) / (a + b + 2.0):  # the fraction converges fast on this side; use the symmetry on the other
        return front * _continued_fraction(a, b, x) / a
    return 1.0 - front * _continued_fraction(b, a, 1.0 - x) / b


def two_sided_p(t: float, df: float) -> float:
    """P(|T| >= |t|) for Student's t with df degrees of freedom."""
    return regularized_beta(df / (df + t * t), df / 2.0, 0.5)


def t_quantile(probability: float, df: float) -> float:
    """The t with P(T <= t) = probability (> 0.5), by bisection on the CDF."""
    low, high = 0.0, 1e7
    for _ in range(200):
        middle = (low + high) / 2.0
        if 1.0 - two_sided_p(middle, df) / 2.0 < probability:
            low = middle
        else:
            high = middle
    return (low + high) / 2.0


@attrs.frozen
class Difference:
    """mean(b) - mean(a), its 95% interval and Welch's test (None where a group has one run)."""

    difference: float
    low: float | None = None
    high: float | None = None
    t: float | None = None
    df: float | None = None
    p: float | None = None


def welch(a, b) -> Difference:
    """Welch's t-test of mean(b) - mean(a), with its 95% interval."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    difference = float(b.mean() - a.mean())
    if len(a) < 2 or len(b) < 2:
        return Difference(difference)
    va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
    error = math.sqrt(va + vb)
    if error == 0.0:  # no spread at all: equal means are no difference, others are all difference
        return Difference(difference, difference, difference, None, None, 1.0 if difference == 0.0 else 0.0)
    df = (va + vb) ** 2 / (va**2 / (len(a) - 1) + vb**2 / (len(b) - 1))
    t = difference / error
    half = t_quantile(0.975, df) * error
    return Difference(difference, difference - half, difference + half, t, df, two_sided_p(t, df))


def groups(configs: dict) -> list[list[str]]:
    """Runs (name -> config dict) grouped by their config without SAME_EXPERIMENT, in the order first named."""
    found: dict = {}
    for name, config in configs.items():
        key = repr(sorted((k, v) for k, v in config.items() if k not in SAME_EXPERIMENT))
        found.setdefault(key, []).append(name)
    return list(found.values())


def _line(what: str, d: Difference) -> str:
    if d.p is None:
        return f"{what} {d.difference:+.4f} (one run in a group: no spread to judge noise by)"
    if d.t is None:
        return f"{what} {d.difference:+.4f} (no spread between seeds: p = {d.p:g})"
    verdict = "beyond noise" if d.p < 0.05 else "within noise"
    return (
        f"{what} {d.difference:+.4f}, 95% interval {d.low:+.4f} to {d.high:+.4f}, Welch t = {d.t:.2f} "
        f"(df {d.df:.1f}), p = {d.p:.3g}: {verdict}" + (" (p < 0.01)" if d.p < 0.01 else "")
    )


def lines(results: dict, labels: dict) -> list[str]:
    """What compare prints: results is name -> {"config", "best_val_loss", "best_val_bpb"}."""
    grouped = groups({name: result["config"] for name, result in results.items()})
    if len(grouped) < 2:
        return [f"{len(results)} runs of one config: nothing to compare them against (vary a setting)"]
    base = grouped[0]
    said = [f"baseline: {labels[base[0]]}" + (f" and {len(base) - 1} more seed(s)" if len(base) > 1 else "")]
    for group in grouped[1:]:
        said.append(f"against {labels[group[0]]}" + (f" and {len(group) - 1} more seed(s)" if len(group) > 1 else ""))
        for key, what in (("best_val_loss", "  best val loss"), ("best_val_bpb", "  bits per byte")):
            before = [results[name][key] for name in base if results[name][key] is not None]
            after = [results[name][key] for name in group if results[name][key] is not None]
            if before and after:
                said.append(_line(what, welch(before, after)))
    sampled = attrs.fields(Config).eval_windows.default  # what reports from before the key was written used
    scored = sorted({result["config"].get("eval_windows", sampled) for result in results.values()})
    if len(scored) > 1:  # a sample of windows has an error of its own, the same in every run scored on it
        kinds = " and ".join("the whole val split" if n == 0 else f"{n} val windows" for n in scored)
        said.append(
            f"careful: these runs were scored on {kinds}; part of a difference is the sample's error, "
            "not the runs' (score them alike: --set eval_windows=0 scores the whole split)"
        )
    if any(len(group) < 2 for group in grouped):
        said.append("for a test of noise, train each config on several seeds (--set seed=1, --set seed=2, ...)")
    return said

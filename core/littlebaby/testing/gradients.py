"""Finite-difference gradient checks in float64, for ops, blocks and whole models.

The analytic gradient from `backward` is compared with central differences
(f(p + eps) - f(p - eps)) / 2 eps on a sample of entries of every parameter
tensor and of the input. The error of a tensor is max |analytic - numeric|
over its sampled entries divided by max |numeric| (so tiny entries do not
blow it up); a wrong sign gives about 2, a missing term usually > 1e-2,
and correct float64 code about 1e-9. Gradients start from random values
rather than zeros, so a backward that assigns instead of adding fails too.
"""

import math

import attrs
import numpy as np

from littlebaby.nn.gpt import GPT
from littlebaby.testing.build import bind_parameters, tiny_model


def numerical_gradient(f, array, indices, eps=1e-6):
    """Central differences of the scalar f() w.r.t. array.flat[i] for i in indices (array is changed and restored)."""
    flat = array.reshape(-1)  # a view: the caller's array is perturbed in place
    out = np.empty(len(indices))
    for n, i in enumerate(indices):
        saved = flat[i]
        flat[i] = saved + eps
        plus = f()
        flat[i] = saved - eps
        minus = f()
        flat[i] = saved
        out[n] = (plus - minus) / (2 * eps)
    return out


def sample_indices(size, samples, rng):
    """Every index of a small tensor, else `samples` distinct random ones."""
    return np.arange(size) if size <= samples else rng.choice(size, samples, replace=False)


def relative_error(analytic, numeric) -> float:
    return float(np.max(np.abs(analytic - numeric)) / max(np.max(np.abs(numeric)), 1e-8))


@attrs.frozen
class GradientReport:
    """Relative error of every checked tensor (parameters by name, the input as 'input')."""

    errors: dict
    tol: float

    @property
    def worst(self):
        name = max(self.errors, key=self.errors.get)
        return name, self.errors[name]

    @property
    def ok(self) -> bool:
        return all(e <= self.tol for e in self.errors.values())

    def __str__(self):
        name, error = self.worst
        verdict = "ok" if self.ok else "FAILED"
        return (
            f"gradient check {verdict}: worst relative error {error:.2e} in {name} "
            f"(tolerance {self.tol:.0e}, {len(self.errors)} tensors)"
        )


def _reseed(block, seed):
    # the same dropout masks in every evaluation, so dropout paths can be checked too
    rng = np.random.default_rng(seed)
    for b in block.walk():
        b.rng = rng


def _prefill(grad, seed):
    # backward must ADD into the gradient: start from random values, not zeros,
    # so that a gradient assigned (=) instead of accumulated (+=) shows
    offset = np.random.default_rng(seed + 2).standard_normal(grad.shape)
    grad[...] = offset
    return offset


def check_gradients(target, x=None, *, targets=None, tol=1e-5, eps=1e-6, samples=12, seed=0, raise_on_failure=True):
    """Check `target.backward` against finite differences; returns a GradientReport.

    target: a GPT model (float64 config; x = token ids (B, T), targets likewise,
            random when omitted) or any Block (x: input array, random (2, 5, n_emb)
            when omitted; its parameters are bound at random if it has none yet).
    Raises AssertionError naming the worst tensor when an error exceeds tol.
    """
    rng = np.random.default_rng(seed)
    if isinstance(target, GPT):
        if target.parameters.dtype != np.float64:
            raise ValueError("gradient checks need a float64 model (config dtype='float64')")
        V, n_ctx = target.vocab_size, target.config.n_ctx
        ids = rng.integers(0, V, (2, min(n_ctx, 6))) if x is None else np.asarray(x)
        targets = rng.integers(0, V, ids.shape) if targets is None else np.asarray(targets)

        def loss():
            _reseed(target, seed)
            return target.loss(ids, targets)

        offset = _prefill(target.grad, seed)
        _reseed(target, seed)
        target.loss_and_grad(ids, targets)
        target.grad -= offset
        parameters, grad, inputs = target.parameters, target.grad, {}
    else:
        parameters = getattr(target, "parameters", None)
        if parameters is None and any(True for _ in target.named_specs()):
            parameters = bind_parameters(target, seed=seed)
        if x is None:
            config = getattr(target, "config", None)  # core layers have none
            n_emb = config.n_emb if config is not None else 8
            x = rng.standard_normal((2, 5, n_emb))
        x = np.array(x, dtype=np.float64)
        probe = None

        def loss():
            nonlocal probe
            _reseed(target, seed)
            y = target.forward(x)
            if probe is None:
                probe = np.random.default_rng(seed + 1).standard_normal(y.shape)
            return float(np.sum(y * probe))

        loss()
        if parameters is not None:
            offset = _prefill(target.grad, seed)
        _reseed(target, seed)
        target.forward(x)
        dx = target.backward(probe)
        if parameters is not None:
            target.grad -= offset
        grad = target.grad if parameters is not None else None
        inputs = {"input": (x, dx)}

    errors = {}
    if parameters is not None:
        for name, spec in parameters.specs.items():
            value = parameters.view(parameters.data, name)
            idx = sample_indices(math.prod(spec.shape), samples, rng)
            numeric = numerical_gradient(loss, value, idx, eps)
            errors[name] = relative_error(parameters.view(grad, name).reshape(-1)[idx], numeric)
    for name, (value, analytic) in inputs.items():
        idx = sample_indices(value.size, samples, rng)
        numeric = numerical_gradient(loss, value, idx, eps)
        errors[name] = relative_error(np.asarray(analytic).reshape(-1)[idx], numeric)
    report = GradientReport(errors, tol)
    if raise_on_failure and not report.ok:
        raise AssertionError(str(report))
    return report


def check_model_gradients(registry=None, *, dropout=0.0, seed=0, tol=1e-5, **overrides):
    """Gradient-check a tiny float64 GPT built from block names and options, e.g.
    `check_model_gradients(c_attention="gqa", n_kv_heads=2)`; with dropout > 0 in training mode."""
    model = tiny_model(registry, seed=seed, dropout=dropout, **overrides)
    return check_gradients(model.train(dropout > 0), seed=seed, tol=tol)

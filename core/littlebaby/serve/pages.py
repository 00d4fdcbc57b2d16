"""The web app's JSON, for the pages in static/: the runs, one run's curves and parameters, its attention maps
and its surprise on a text. Everything a learner sees here comes from the same code as the commands
(`runs`, `plot`, `inspect`, `attention`, `surprise`), computed on the server's worker threads.
"""

from pathlib import Path

import numpy as np
from starlette.concurrency import run_in_threadpool
from starlette.responses import FileResponse, JSONResponse

from littlebaby.errors import UserError
from littlebaby.look.figures import observations
from littlebaby.look.listing import runs
from littlebaby.look.surprise import token_losses
from littlebaby.serve.openai_api import Refused
from littlebaby.store.report import Report

STATIC = Path(__file__).with_name("static")
PROMPT_LIMIT = 2000  # characters of a prompt or text looked at in the page


def _plotly() -> Path:
    import plotly

    return Path(plotly.__file__).parent / "package_data" / "plotly.min.js"


async def page(request, pool):
    name = request.path_params.get("page", "index.html")
    if name == "plotly.js":
        return FileResponse(_plotly(), media_type="text/javascript")
    path = STATIC / name
    if "/" in name or not path.is_file():
        raise Refused(404, f"no such page: {name}")
    return FileResponse(path)


async def listing(request, pool):
    return JSONResponse(await run_in_threadpool(runs, pool.home.path))


def _run(pool, run: str) -> dict:
    name = pool.name(run)
    report = Report.tolerant(pool.home.report(name))
    seen = report.listed()
    steps = [s for s in report.data.get("steps", []) if isinstance(s, dict)]
    val_steps, val_seconds, val_losses = report.val_curve() if report.data.get("val") else ([], [], [])
    return {
        "guid": name,
        "name": seen["name"],
        "status": seen["status"],
        "config": seen["config"],
        "steps": [[s.get("step"), s.get("loss"), s.get("lr")] for s in steps],
        "val": [list(v) for v in zip(val_steps, val_seconds, val_losses)],
        "parameters": pool.table(name),
    }


def _text(request, key: str) -> str:
    text = request.query_params.get(key, "")
    if not text or len(text) > PROMPT_LIMIT:
        raise Refused(400, f"{key} must be 1 to {PROMPT_LIMIT} characters", key)
    return text


def _whole(request, key: str):
    value = request.query_params.get(key)
    if value in (None, ""):
        return None
    if not value.isdigit():
        raise Refused(400, f"{key} must be a whole number", key)
    return int(value)


def _attention(pool, run, prompt, layer, head) -> dict:
    name, loaded, lock = pool.get(run)
    ids = loaded.tokenizer.encode(prompt)[-loaded.config.n_ctx :]
    with lock:
        found = observations(loaded.model, ids)
    layer = 0 if layer is None else layer
    if layer >= len(found) or "attention" not in found[layer]:
        raise Refused(400, f"layer must be from 0 to {len(found) - 1}", "layer")
    weights = np.asarray(found[layer]["attention"])  # (H, T, T)
    head = 0 if head is None else head
    if head >= weights.shape[0]:
        raise Refused(400, f"head must be from 0 to {weights.shape[0] - 1}", "head")
    tokens = [loaded.tokenizer.token_text(int(i)) for i in ids]
    gates = {k: np.asarray(v).round(4).tolist() for k, v in found[layer].items() if k != "attention"}
    return {
        "tokens": tokens,
        "weights": weights[head].round(4).tolist(),
        "layers": len(found),
        "heads": int(weights.shape[0]),
        "gates": gates,
    }


async def attention(request, pool):
    prompt, layer, head = _text(request, "prompt"), _whole(request, "layer"), _whole(request, "head")
    try:
        return JSONResponse(await run_in_threadpool(_attention, pool, request.path_params["run"], prompt, layer, head))
    except UserError as error:
        raise Refused(400, str(error)) from None


def _surprise(pool, run, text):
    name, loaded, lock = pool.get(run)
    with lock:
        return [[piece, round(float(loss), 4)] for piece, loss in token_losses(loaded, text)]


async def surprise(request, pool):
    text = _text(request, "text")
    try:
        return JSONResponse(await run_in_threadpool(_surprise, pool, request.path_params["run"], text))
    except UserError as error:
        raise Refused(400, str(error)) from None


async def run_data(request, pool):
    try:
        return JSONResponse(await run_in_threadpool(_run, pool, request.path_params["run"]))
    except UserError as error:
        raise Refused(404, str(error)) from None

"""The OpenAI API under /v1, so that existing clients (the `openai` library, `llm`, curl) talk to littlebaby.

GET /v1/models lists the home's runs (by GUID, with `last`); POST /v1/completions and /v1/chat/completions
sample from one, with `max_tokens`, `temperature`, `top_k` (littlebaby's; `top_p` other than 1 is refused),
`stop`, `seed` and `stream` (server-sent events). A request with a seed gives exactly the text
`littlebaby generate RUN --prompt P --seed S` gives: the same code samples it (runs/generate.py). A chat is
sent to these base models as a plain transcript (CHAT_TEMPLATE below) ending in "Assistant:".
A bad request is a 4xx with an OpenAI-style JSON error, never a traceback.
"""

import json
import math
import queue
import threading
import time
import uuid

from starlette.concurrency import run_in_threadpool
from starlette.responses import JSONResponse, StreamingResponse

from littlebaby.errors import UserError
from littlebaby.look.listing import runs
from littlebaby.runs.generate import generate
from littlebaby.system import reading

BODY_LIMIT = 1 << 20  # bytes of a request: a prompt far longer than any window these models read
MAX_TOKENS = 4096
CHAT_TEMPLATE = "{role}: {content}\n"  # each message; then "Assistant:" for the model to continue


class Refused(Exception):
    def __init__(self, status: int, message: str, param: str | None = None, code: str | None = None):
        super().__init__(message)
        self.status, self.message, self.param, self.code = status, message, param, code


def error_response(status: int, message: str, param=None, code=None) -> JSONResponse:
    kind = "invalid_request_error" if status < 500 else "server_error"
    return JSONResponse({"error": {"message": message, "type": kind, "param": param, "code": code}}, status)


async def body_of(request) -> dict:
    """The request's JSON object; its size checked from the header before anything is read."""
    length = request.headers.get("content-length")
    if length is not None and (not length.isdigit() or int(length) > BODY_LIMIT):
        raise Refused(413, f"the request body is over {BODY_LIMIT} bytes")
    raw = b""
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > BODY_LIMIT:
            raise Refused(413, f"the request body is over {BODY_LIMIT} bytes")
    try:
        body = reading.loads(raw, "request body")
    except UserError as error:
        raise Refused(400, f"the body is not valid JSON: {error}") from None
    if not isinstance(body, dict):
        raise Refused(400, "the body must be a JSON object")
    return body


def _whole(body, key, default, low, high):
    value = body.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise Refused(400, f"{key} must be a whole number from {low} to {high}, got {json.dumps(value)}", key)
    return value


def settings(body: dict) -> dict:
    """The sampling settings of a request, each checked; refusals name the parameter."""
    temperature = body.get("temperature", 1.0)
    if isinstance(temperature, bool) or not isinstance(temperature, (int, float)) or not math.isfinite(temperature):
        raise Refused(400, "temperature must be a finite number", "temperature")
    if not 0 <= temperature <= 100:
        raise Refused(400, f"temperature must be from 0 to 100, got {temperature}", "temperature")
    top_p = body.get("top_p", 1)
    if top_p not in (1, 1.0, None):
        raise Refused(400, "littlebaby samples with temperature and top_k, not top_p: leave top_p at 1", "top_p")
    if body.get("n", 1) not in (1, None):
        raise Refused(400, "littlebaby returns one choice per request: n must be 1", "n")
    stop = body.get("stop")
    stop = [stop] if isinstance(stop, str) else (stop or [])
    if not isinstance(stop, list) or len(stop) > 4 or not all(isinstance(s, str) and s for s in stop):
        raise Refused(400, "stop must be a string or a list of at most 4 non-empty strings", "stop")
    seed = body.get("seed")
    if seed is not None:
        seed = _whole(body, "seed", None, 0, 2**63 - 1)
    if not isinstance(body.get("stream", False), bool):
        raise Refused(400, "stream must be true or false", "stream")
    return {
        "max_tokens": _whole(body, "max_tokens", 16, 1, MAX_TOKENS),
        "temperature": float(temperature),
        "top_k": _whole(body, "top_k", 0, 0, 2**31),
        "seed": seed,
        "stop": stop,
    }


def prompt_of(body: dict, chat: bool) -> str:
    if chat:
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            raise Refused(400, "messages must be a non-empty list", "messages")
        text = ""
        for message in messages:
            if not isinstance(message, dict) or not isinstance(message.get("content"), str):
                raise Refused(400, "each message needs a role and a string content", "messages")
            text += CHAT_TEMPLATE.format(role=str(message.get("role", "user")).capitalize(), content=message["content"])
        return text + "Assistant:"
    prompt = body.get("prompt", "")
    if isinstance(prompt, list) and len(prompt) == 1:
        prompt = prompt[0]
    if not isinstance(prompt, str):
        raise Refused(400, "prompt must be a string (or a list of one string)", "prompt")
    return prompt


class _Stopped(Exception):
    """A stop sequence appeared: generation ends there."""


def sample(loaded, lock, prompt: str, wanted: dict, on_piece=None) -> tuple[str, str]:
    """(completion, finish_reason), as `littlebaby generate` samples it; on_piece gets the text as it comes."""
    said, started = [], [bool(prompt)]  # the first piece generate hands on is the prompt itself

    def on_text(piece):
        if started[0]:
            started[0] = False
            return
        if not piece:  # a character still waiting for its other bytes
            return
        said.append(piece)
        reach = len(piece) + max((len(stop) for stop in wanted["stop"]), default=0)
        tail = "".join(said[-reach:])[-reach:]  # a stop that ends in this piece lies within its reach
        if any(stop in tail for stop in wanted["stop"]):
            raise _Stopped
        if on_piece is not None:
            on_piece(piece)

    options = {k: wanted[k] for k in ("max_tokens", "temperature", "top_k", "seed")}
    with lock:
        try:
            whole = generate(loaded, prompt or None, write=False, on_text=on_text, **options)
            completion, reason = whole[len(prompt) :], "length"
        except _Stopped:
            completion, reason = "".join(said), "stop"
    for stop in wanted["stop"]:
        if stop in completion:
            completion, reason = completion[: completion.index(stop)], "stop"
    return completion, reason


def _envelope(name: str, chat: bool, piece: str, reason, streaming: bool) -> dict:
    kind = "chat.completion" + (".chunk" if streaming else "") if chat else "text_completion"
    if chat:
        content = {"delta" if streaming else "message": {"role": "assistant", "content": piece}}
        choice = {"index": 0, **content, "finish_reason": reason}
    else:
        choice = {"index": 0, "text": piece, "logprobs": None, "finish_reason": reason}
    prefix = "chatcmpl-" if chat else "cmpl-"
    return {
        "id": prefix + uuid.uuid4().hex,
        "object": kind,
        "created": int(time.time()),
        "model": name,
        "choices": [choice],
    }


async def complete(request, pool, chat: bool):
    body = await body_of(request)
    wanted, prompt = settings(body), prompt_of(body, chat)
    try:
        name, loaded, lock = await run_in_threadpool(pool.get, body.get("model"))
    except UserError as error:
        raise Refused(404, str(error), "model", "model_not_found") from None
    if body.get("stream"):
        return StreamingResponse(_events(name, loaded, lock, prompt, wanted, chat), media_type="text/event-stream")
    try:
        completion, reason = await run_in_threadpool(sample, loaded, lock, prompt, wanted)
    except UserError as error:
        raise Refused(400, str(error)) from None
    reply = _envelope(name, chat, completion, reason, False)
    used = len(loaded.tokenizer.encode(prompt)) if prompt else 0
    made = len(loaded.tokenizer.encode(completion)) if completion else 0
    reply["usage"] = {"prompt_tokens": used, "completion_tokens": made, "total_tokens": used + made}
    return JSONResponse(reply)


def _events(name, loaded, lock, prompt, wanted, chat):
    """Server-sent events: one chunk per piece of text as it is sampled, then the finish reason and [DONE]."""
    pieces: queue.Queue = queue.Queue()
    outcome = {}

    def work():
        try:
            outcome["reason"] = sample(loaded, lock, prompt, wanted, on_piece=pieces.put)[1]
        except Exception as error:  # a refusal mid-way: said as an error event, never a broken stream
            outcome["error"] = str(error)
        pieces.put(None)

    threading.Thread(target=work, daemon=True).start()
    while (piece := pieces.get()) is not None:
        yield f"data: {json.dumps(_envelope(name, chat, piece, None, True))}\n\n"
    if "error" in outcome:
        yield f"data: {json.dumps({'error': {'message': outcome['error'], 'type': 'invalid_request_error'}})}\n\n"
    else:
        yield f"data: {json.dumps(_envelope(name, chat, '', outcome['reason'], True))}\n\n"
    yield "data: [DONE]\n\n"


async def models(request, pool):
    """`last`, then each run by its GUID (unique, as a model id must be), its readable name beside it."""
    rows = await run_in_threadpool(runs, pool.home.path)
    listed = [{"id": "last", "object": "model", "created": 0, "owned_by": "littlebaby", "name": "last"}]
    for row in rows:
        listed.append(
            {"id": row["guid"], "object": "model", "created": 0, "owned_by": "littlebaby", "name": row["name"]}
        )
    return JSONResponse({"object": "list", "data": listed})

"""The runs of a littlebaby home as models of simonw's `llm`: `llm -m littlebaby/last "ROMEO:"`.

The home is $LITTLEBABY_HOME (default: the current folder). Each run is a model `littlebaby/<guid>`, with its
readable name as an alias, and `littlebaby/last` is the run with the newest model. The text is sampled
in this process by littlebaby itself, streamed as it comes, and with a seed it is exactly what
`littlebaby generate RUN --prompt P --seed S` prints after the prompt.
"""

import os
import queue
import threading

import llm
from pydantic import Field

import littlebaby
from littlebaby import api
from littlebaby.runs.generate import generate


def home() -> str:
    return os.environ.get("LITTLEBABY_HOME", ".")


class Run(llm.Model):
    can_stream = True
    supports_conversation = False  # a base model continues text: the prompt alone is sent

    class Options(llm.Options):
        max_tokens: int = Field(default=200, ge=1, le=100_000, description="tokens to sample")
        temperature: float = Field(default=0.8, ge=0, le=100, description="0: the likeliest token each time")
        top_k: int = Field(default=0, ge=0, description="sample from the k likeliest (0: all)")
        seed: int | None = Field(default=None, ge=0, description="same seed, same text")

    def __init__(self, run: str):
        self.run = run
        self.model_id = f"littlebaby/{run}"

    def execute(self, prompt, stream, response, conversation):
        loaded = littlebaby.load(self.run, home=home())
        options, text = prompt.options, prompt.prompt or ""
        pieces: queue.Queue = queue.Queue()
        first = [bool(text)]  # generate hands on the prompt first: llm shows only the completion
        failed = []

        def on_text(piece):
            if first[0]:
                first[0] = False
            elif piece:
                pieces.put(piece)

        def work():
            try:
                generate(
                    loaded,
                    text or None,
                    options.max_tokens,
                    options.temperature,
                    options.top_k,
                    options.seed,
                    write=False,
                    on_text=on_text,
                )
            except Exception as error:  # said by llm as the error it is, after what was already sampled
                failed.append(error)
            pieces.put(None)

        threading.Thread(target=work, daemon=True).start()
        while (piece := pieces.get()) is not None:
            yield piece
        if failed:
            raise llm.ModelError(str(failed[0]))


@llm.hookimpl
def register_models(register):
    register(Run("last"))
    try:
        names = api.runs(home())
    except littlebaby.UserError:  # no home here: only littlebaby/last, which says so when used
        return
    for row in names:
        register(Run(row["guid"]), aliases=[f"littlebaby/{row['name']}"] if row["name"] else ())

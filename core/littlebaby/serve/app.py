"""The server: one Starlette app (the OpenAI API, the web app's pages and their JSON), run by uvicorn.

The pages (static/) are plain HTML, CSS and JavaScript shipped in the package, with plotly.js served from the
plotly package: no build step, nothing from a CDN.

It binds 127.0.0.1 unless told otherwise, and says so in a warning line when told: the API has no keys and
runs any request it is sent. uvicorn ends it on Ctrl-C or SIGTERM, after the requests in flight.
"""

import sys

from starlette.applications import Starlette
from starlette.routing import Route

from littlebaby.serve import openai_api, pages
from littlebaby.serve.pool import Pool

LOCAL = ("127.0.0.1", "localhost", "::1")


def build(home) -> Starlette:
    pool = Pool(home)

    def guarded(handler):
        async def endpoint(request):
            try:
                return await handler(request, pool)
            except openai_api.Refused as refused:
                return openai_api.error_response(refused.status, refused.message, refused.param, refused.code)

        return endpoint

    routes = [
        Route("/", guarded(pages.page), methods=["GET"]),
        Route("/api/runs", guarded(pages.listing), methods=["GET"]),
        Route("/api/runs/{run}", guarded(pages.run_data), methods=["GET"]),
        Route("/api/runs/{run}/attention", guarded(pages.attention), methods=["GET"]),
        Route("/api/runs/{run}/surprise", guarded(pages.surprise), methods=["GET"]),
        Route("/{page}", guarded(pages.page), methods=["GET"]),
        Route("/v1/models", guarded(openai_api.models), methods=["GET"]),
        Route("/v1/completions", guarded(lambda r, p: openai_api.complete(r, p, chat=False)), methods=["POST"]),
        Route("/v1/chat/completions", guarded(lambda r, p: openai_api.complete(r, p, chat=True)), methods=["POST"]),
    ]

    async def not_found(request, exc):
        return openai_api.error_response(getattr(exc, "status_code", 404), f"no such page: {request.url.path}")

    return Starlette(routes=routes, exception_handlers={404: not_found, 405: not_found})


def serve(home=".", host: str = "127.0.0.1", port: int = 8000, log=print):
    import uvicorn

    if host not in LOCAL:
        print(
            f"littlebaby: warning: serving on {host}: anyone who reaches it can use the runs of this home",
            file=sys.stderr,
            flush=True,
        )
    app = build(home)
    log(f"serving the runs of {home} on http://{host}:{port}/ (the OpenAI API under /v1); Ctrl-C stops")
    uvicorn.run(app, host=host, port=port, log_level="warning")

"""The study's web application for participants (an ASGI app: Starlette, served by uvicorn).

::

    GET  /                        the participant page (consent, instructions, trials)
    POST /api/participants        a new anonymous participant: {"token": …}
    GET  /api/next?token=T        the participant's next trial, or {"done": true, "code": …}
    POST /api/answers             {"token", "trial", "choice", "rt_ms"}: "left" or "right",
                                  or a ranking's positions best first ("2,0,1")
    GET  /images/NAME             an image of the study (nothing else is served)
    GET  /admin?token=A           progress, exclusions, the export link
    GET  /admin/judgments.csv?token=A   the judgments, for ``likeness study analyze``

Every answer is committed to the store before it is acknowledged (``store.record``: the
participant's next trial only, the same answer again acknowledged once).  Refused: request
bodies over ``MAX_BODY`` bytes (413), malformed JSON or fields (400), unknown tokens
(404 for participants, 403 for the admin), more than ``rate`` requests per second from one
address beyond a burst (429; images not counted), new participants beyond
``max_participants`` (403).  When the answers database fails (a full disk, a lost
connection) the request is answered 503 (the participant page asks to try again) and the
operator is told on the ``likeness.study`` logger, once a minute for the same message; any
other failure is one line there too, not a traceback (``LIKENESS_DEBUG=1`` shows it).
"""

from __future__ import annotations

import copy
import errno
import hmac
import json
import logging
import os
import re
import secrets
import socket
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from likeness.errors import InvalidInputError, LikenessError, StorageError
from likeness.results.study import find_exclusions
from likeness.study.export import as_judgments, judgments, judgments_csv
from likeness.study.folder import ANSWERS_FILE, Study
from likeness.study.handouts import SERVED, record_handout
from likeness.study.pages import admin_page, completion_code, participant_page, trial_view
from likeness.study.store import AnswerStore

__all__ = ["LOG", "MAX_BODY", "check_address", "make_app", "serve"]

MAX_BODY = 4096
TOKEN = re.compile(r"^[A-Za-z0-9_-]{20,64}$")
IMAGE = re.compile(r"^[0-9a-f]{24}\.png$")
Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
HEADERS = {"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer",
           "X-Frame-Options": "DENY", "Cache-Control": "no-store"}


LOG = logging.getLogger("likeness.study")
_REPEAT_AFTER = 60.0  # seconds before the same failure is told to the operator again


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=HEADERS)


class _Operator:
    """Tells whoever runs the server what failed: each message once a minute at most (a
    full disk fails every participant's answers alike)."""

    def __init__(self) -> None:
        self.told: dict[str, float] = {}

    def tell(self, message: str) -> None:
        now = time.monotonic()
        if now - self.told.get(message, -_REPEAT_AFTER) >= _REPEAT_AFTER:
            if len(self.told) > 1000:
                self.told.clear()
            self.told[message] = now
            LOG.error(message)


class _OneLineFailures:
    """An unexpected exception (Starlette has answered 500 already) becomes one line for
    the operator instead of uvicorn's traceback; ``LIKENESS_DEBUG=1`` keeps the traceback."""

    def __init__(self, app: Any, operator: _Operator) -> None:
        self.app, self.operator = app, operator

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await self.app(scope, receive, send)
        except Exception as error:
            if os.environ.get("LIKENESS_DEBUG"):
                raise
            self.operator.tell(f"unexpected {type(error).__name__} answering "
                               f"{scope.get('path', '')}: {error} (a bug in likeness: please "
                               "report it; LIKENESS_DEBUG=1 shows the traceback)")


class _RateLimit:
    """A token bucket per client address: ``rate`` requests a second, ``burst`` at once
    (an ASGI middleware; rate 0: no limit).  Images are not counted: they are the study's
    own small files, and a lab's participants behind one address load several per trial."""

    def __init__(self, app: Any, rate: float, burst: int) -> None:
        self.app, self.rate, self.burst = app, rate, burst
        self.buckets: dict[str, tuple[float, float]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and self.rate > 0 \
                and not scope.get("path", "").startswith("/images/"):
            address = (scope.get("client") or ("unknown", 0))[0]
            now = time.monotonic()
            tokens, then = self.buckets.get(address, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - then) * self.rate)
            if tokens < 1:
                self.buckets[address] = (tokens, now)
                response = _error(429, "too many requests: wait a moment")
                response.headers["Retry-After"] = "1"
                await response(scope, receive, send)
                return
            self.buckets[address] = (tokens - 1, now)
            if len(self.buckets) > 10_000:  # forget the addresses that are full again
                self.buckets = {a: b for a, b in self.buckets.items()
                                if b[0] + (now - b[1]) * self.rate < self.burst}
        await self.app(scope, receive, send)


async def _json_body(request: Request) -> dict[str, Any] | Response:
    """The request's JSON object, or the response refusing it."""
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > MAX_BODY):
        return _error(413, f"the request is larger than {MAX_BODY} bytes")
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY:
            return _error(413, f"the request is larger than {MAX_BODY} bytes")
    if "application/json" not in request.headers.get("content-type", ""):
        return _error(415, "send JSON (Content-Type: application/json)")
    try:
        document = json.loads(body or b"{}")
    except (ValueError, RecursionError):  # not JSON, not UTF-8, or nested past any use
        return _error(400, "the request is not JSON")
    if not isinstance(document, dict):
        return _error(400, "send a JSON object")
    return document


def make_app(study: Study, store: AnswerStore, *, rate: float = 50.0, burst: int = 500,
             max_participants: int | None = None) -> Any:
    """The ASGI application of ``study``, storing in ``store``."""
    secret = study.admin_token()
    trials_cache: dict[int, list[Any]] = {}
    operator = _Operator()

    def trials(number: int) -> list[Any]:
        if number not in trials_cache:
            if len(trials_cache) > 50_000:
                trials_cache.clear()
            trials_cache[number] = study.design.trials(number - 1)
        return trials_cache[number]

    async def participant(token: Any) -> int | Response:
        if not isinstance(token, str) or not TOKEN.match(token):
            return _error(400, "a malformed participant token")
        number = await run_in_threadpool(store.participant, token)
        if number is None:
            return _error(404, "unknown participant: start the study again")
        return number

    async def page(request: Request) -> Response:
        nonce = secrets.token_urlsafe(16)
        headers = dict(HEADERS)
        headers["Content-Security-Policy"] = (
            f"default-src 'self'; script-src 'nonce-{nonce}'; style-src 'unsafe-inline'; "
            "img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'")
        return HTMLResponse(participant_page(study, nonce), headers=headers)

    async def start(request: Request) -> Response:
        body = await _json_body(request)
        if isinstance(body, Response):
            return body
        token = secrets.token_urlsafe(24)
        if await run_in_threadpool(store.add_participant, token, "web",
                                   max_participants) is None:
            return _error(403, "the study is full: thank you for your interest")
        return JSONResponse({"token": token}, status_code=201, headers=HEADERS)

    async def next_trial(request: Request) -> Response:
        number = await participant(request.query_params.get("token"))
        if isinstance(number, Response):
            return number
        own = trials(number)
        answered = await run_in_threadpool(store.answered, number)
        if answered >= len(own):
            code = completion_code(secret, request.query_params["token"])
            return JSONResponse({"done": True, "code": code}, headers=HEADERS)
        return JSONResponse(trial_view(study, own[answered], len(own)), headers=HEADERS)

    async def answer(request: Request) -> Response:
        body = await _json_body(request)
        if isinstance(body, Response):
            return body
        number = await participant(body.get("token"))
        if isinstance(number, Response):
            return number
        trial, choice, rt_ms = body.get("trial"), body.get("choice"), body.get("rt_ms")
        own = trials(number)
        if not isinstance(trial, int) or isinstance(trial, bool) or not 0 <= trial < len(own):
            return _error(400, f"trial must be a trial number from 0 to {len(own) - 1}")
        if not isinstance(choice, str):
            return _error(400, "choice must be \"left\", \"right\" or a ranking")
        try:
            chosen = own[trial].recorded(choice)
        except InvalidInputError as error:
            return _error(400, str(error))
        if rt_ms is not None and (not isinstance(rt_ms, int) or isinstance(rt_ms, bool)
                                  or not 0 <= rt_ms < 86_400_000):
            rt_ms = None  # a response time the browser cannot have measured: not kept
        outcome = await run_in_threadpool(store.record, number, trial, choice, chosen, rt_ms)
        status = {"recorded": 201, "repeated": 200, "conflict": 409, "not next": 409}[outcome]
        return JSONResponse({"outcome": outcome}, status_code=status, headers=HEADERS)

    images = study.images

    async def image(request: Request) -> Response:
        name = request.path_params["name"]
        if not IMAGE.match(name) or name not in images:
            return _error(404, "no such image")
        if not images[name].is_file():  # the study folder changed while it is served
            operator.tell(f"{images[name]}: an image of the study is missing from its folder; "
                          "restore the folder, or create the study again")
            return _error(404, "no such image")
        return FileResponse(images[name], media_type="image/png",
                            headers={"Cache-Control": "private, max-age=86400",
                                     "X-Content-Type-Options": "nosniff"})

    def admin_allowed(request: Request) -> bool:
        given = request.query_params.get("token", "")
        header = request.headers.get("authorization", "")
        if header.lower().startswith("bearer "):
            given = header[7:].strip()
        return hmac.compare_digest(given.encode(), secret.encode())

    async def admin(request: Request) -> Response:
        if not admin_allowed(request):
            return _error(403, "the admin token is wrong (it is in the study folder's "
                               "admin-token file)")
        rows = await run_in_threadpool(judgments, study, store)
        people = await run_in_threadpool(store.participants)
        tokens = await run_in_threadpool(store.tokens)
        listed = [(n, s, t, c, completion_code(secret, tokens.get(n, ""))) for n, s, t, c
                  in people]
        return HTMLResponse(admin_page(study, listed, sum(p[3] for p in people),
                                       find_exclusions(as_judgments(rows)),
                                       f"admin/judgments.csv?token={secret}"), headers=HEADERS)

    async def export(request: Request) -> Response:
        if not admin_allowed(request):
            return _error(403, "the admin token is wrong")
        rows = await run_in_threadpool(judgments, study, store)
        headers = dict(HEADERS)
        headers["Content-Disposition"] = 'attachment; filename="judgments.csv"'
        return Response(judgments_csv(rows), media_type="text/csv; charset=utf-8",
                        headers=headers)

    async def not_found(request: Request, exc: Exception) -> Response:
        return _error(404, "not found")

    async def not_allowed(request: Request, exc: Exception) -> Response:
        return _error(405, "method not allowed")

    async def unavailable(request: Request, exc: Exception) -> Response:
        operator.tell(str(exc))
        response = _error(503, "the server cannot store answers at the moment: please try "
                               "again in a minute")
        response.headers["Retry-After"] = "60"
        return response

    app = Starlette(routes=[
        Route("/", page), Route("/api/participants", start, methods=["POST"]),
        Route("/api/next", next_trial), Route("/api/answers", answer, methods=["POST"]),
        Route("/images/{name}", image), Route("/admin", admin),
        Route("/admin/judgments.csv", export)],
        exception_handlers={404: not_found, 405: not_allowed, StorageError: unavailable})
    return _OneLineFailures(_RateLimit(app, rate, burst), operator)


def check_address(host: str, port: int) -> None:
    """Refuse an address the server could not listen on (another program's port, a host
    that is not this machine's), before anything says it serves there.

    Raises:
        LikenessError: saying which, and what to choose instead.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET  # as uvicorn binds it
    try:
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind((host, port))
    except OSError as error:
        fix = ("choose another port" if error.errno == errno.EADDRINUSE
               else "give an address of this machine (127.0.0.1, 0.0.0.0 for every network "
                    "interface)")
        raise LikenessError(f"cannot listen on {host}:{port} ({error.strerror or error}): "
                            f"{fix}") from None


def serve(study: Study, store: AnswerStore, *, host: str = "127.0.0.1", port: int = 8000,
          rate: float = 50.0, burst: int = 500, max_participants: int | None = None,
          trusted_proxies: str = "127.0.0.1") -> None:
    """Serve ``study`` until interrupted (uvicorn; Ctrl-C or SIGTERM stop it: every
    acknowledged answer is already committed).  ``trusted_proxies``: the addresses
    (comma-separated; networks too) whose ``X-Forwarded-For`` names the participant's
    address — for the rate limit behind a reverse proxy; "" trusts none.  Given
    explicitly, so that uvicorn's ``FORWARDED_ALLOW_IPS`` variable never changes it.  The
    study is recorded as served (``handouts``): never replaced by a new study."""
    import uvicorn

    own = os.path.realpath(store.where) == os.path.realpath(study.folder / ANSWERS_FILE)
    record_handout(study.folder, SERVED, None if own else store.where)
    app = make_app(study, store, rate=rate, burst=burst, max_participants=max_participants)
    logging_config = copy.deepcopy(uvicorn.config.LOGGING_CONFIG)  # its format, ours too
    logging_config["loggers"][LOG.name] = {"handlers": ["default"], "level": "INFO",
                                           "propagate": False}
    uvicorn.run(app, host=host, port=port, log_level="warning", server_header=False,
                log_config=logging_config,
                timeout_keep_alive=5, h11_max_incomplete_event_size=16 * 1024,
                proxy_headers=bool(trusted_proxies),
                forwarded_allow_ips=trusted_proxies or "127.0.0.1")

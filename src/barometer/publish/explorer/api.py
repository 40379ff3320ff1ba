"""The explorer's ASGI app: a JSON API over the cube, and the package's static pages.

Starlette is the toolkit (a small, well-kept ASGI library — routing, requests and
responses without a framework's model layer, which the cube makes unnecessary); uvicorn
serves it (:mod:`.serve`). Every response is built from the immutable
:class:`~barometer.publish.explorer.cube.Cube`: the estimates of each question ×
breakdown × scope × wave are serialised once, at start-up, as escaped JSON fragments
(:func:`~barometer.publish.explorer.escape.dumps`), so a request only checks its
parameters and joins bytes.

Safety: every parameter is checked against the cube (unknown names get a 400 naming
them, with a suggestion) and bounded (:mod:`.openapi` gives the limits); unknown or
repeated parameters are refused; errors are JSON with no traceback; every response
carries a content-security policy with no inline script and ``nosniff``; static files
are a fixed table read at start-up (no path from a request ever reaches the file
system, so there is no traversal and no directory listing).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from importlib import resources
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from barometer.errors import did_you_mean
from barometer.publish.explorer.cube import ROW_COLUMNS, Cube
from barometer.publish.explorer.escape import dumps
from barometer.publish.explorer.openapi import MAX_ITEMS, MAX_NAME, MAX_QUERY, openapi
from barometer.publish.explorer.pages import VEGA, live_page, render_index, vega_bundle

__all__ = ["CSP", "BadRequest", "create_app"]

#: The content-security policy of every response: scripts and styles from this origin
#: only (no inline script, no eval), nothing framed, no plugins. The pages' charts keep
#: to it: Vega-Embed runs Vega's expression interpreter (its ``ast`` option) instead of
#: compiling expressions with ``Function``, takes no default style sheet, and the
#: tooltip is the page's own element, so neither 'unsafe-eval' nor 'unsafe-inline' is
#: needed. The static export carries the same policy as a ``<meta>`` element.
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)
_HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-resource-policy", b"same-origin"),
]
_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".woff2": "font/woff2",
    ".txt": "text/plain; charset=utf-8",
}
_PARAMETERS = ("question", "countries", "waves", "by")

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class BadRequest(Exception):
    """A request the API refuses (400): its message and the parameter at fault."""

    status = 400

    def __init__(self, message: str, parameter: str | None = None, value: str | None = None):
        super().__init__(message)
        self.message, self.parameter, self.value = message, parameter, value


def _json(body: Any, status: int = 200) -> Response:
    return Response(dumps(body), status_code=status, media_type="application/json")


def _error(
    status: int, message: str, parameter: str | None = None, value: str | None = None
) -> Response:
    body = {"status": status, "message": message, "parameter": parameter, "value": value}
    return _json({"error": body}, status)


class _Index:
    """The cube's rows as JSON fragments: (question, breakdown) -> scope -> wave -> bytes."""

    def __init__(self, cube: Cube) -> None:
        self.parts: dict[tuple[str, str | None], dict[str, dict[str, bytes]]] = {}
        cells: dict[tuple[str, str | None, str, str], list[dict[str, Any]]] = {}
        for row in cube.rows.select(ROW_COLUMNS).iter_rows(named=True):
            key = (row["question"], row["breakdown"], row["scope"], row["wave"])
            cells.setdefault(key, []).append(row)
        for (question, breakdown, scope, wave), rows in cells.items():
            # one encoding per cell: its rows as a JSON list, without the brackets
            fragment = dumps(rows, string_keys=True)[1:-1]
            self.parts.setdefault((question, breakdown), {}).setdefault(scope, {})[wave] = fragment

    def rows(
        self, question: str, breakdown: str | None, scopes: list[str], waves: list[str]
    ) -> bytes:
        held = self.parts.get((question, breakdown), {})
        pieces = [held[s][w] for s in scopes if s in held for w in waves if w in held[s]]
        return b",".join(pieces)


class _Checker:
    """The query parameters of /api/estimates, checked against the cube and bounded."""

    def __init__(self, cube: Cube) -> None:
        self.cube = cube
        self.questions = [q.id for q in cube.questions]
        self.scopes = [s.id for s in cube.scopes]
        self.waves = list(cube.waves)
        self.breakdowns = [b.id for b in cube.breakdowns]

    def _names(self, params: dict[str, str], name: str, known: list[str], what: str) -> list[str]:
        raw = params.get(name, "")
        if not raw:
            return list(known)
        items = [s.strip() for s in raw.split(",")]
        if len(items) > MAX_ITEMS:
            raise BadRequest(f"{name}: at most {MAX_ITEMS} items", name)
        chosen = []
        for item in items:
            if item not in known:
                hint = did_you_mean(item, known) if len(item) <= MAX_NAME else ""
                raise BadRequest(
                    f"unknown {what} {item[:MAX_NAME]!r}{hint}; known: {', '.join(known)}",
                    name, item[:MAX_NAME],
                )  # fmt: skip
            if item not in chosen:
                chosen.append(item)
        return [k for k in known if k in chosen]

    def estimates(self, request: Request) -> tuple[str, str | None, list[str], list[str]]:
        if len(request.scope.get("query_string", b"")) > MAX_QUERY:
            raise BadRequest(f"the query string is longer than {MAX_QUERY} bytes")
        params: dict[str, str] = {}
        for key, value in request.query_params.multi_items():
            if key not in _PARAMETERS:
                raise BadRequest(
                    f"unknown parameter {key[:MAX_NAME]!r}{did_you_mean(key, list(_PARAMETERS))}"
                    f"; parameters: {', '.join(_PARAMETERS)}", key[:MAX_NAME],
                )  # fmt: skip
            if key in params:
                raise BadRequest(f"parameter {key!r} given more than once", key)
            params[key] = value
        qid = params.get("question", "")
        if not qid:
            raise BadRequest("the parameter 'question' is required", "question")
        info = self.cube.question(qid)
        if info is None:
            hint = did_you_mean(qid, self.questions) if len(qid) <= MAX_NAME else ""
            raise BadRequest(
                f"unknown question {qid[:MAX_NAME]!r}{hint}", "question", qid[:MAX_NAME]
            )
        if info.parts:  # the cube holds a set's rows under its parts' ids only
            raise BadRequest(
                f"{qid!r} is a {'grid' if info.kind == 'grid' else 'multiple-response question'}"
                f"; ask for its parts: {', '.join(p[2] for p in info.parts)}",
                "question", qid,
            )  # fmt: skip
        by = params.get("by") or None
        if by is not None and by not in info.breakdowns:
            known = list(info.breakdowns)
            hint = did_you_mean(by, known) if len(by) <= MAX_NAME else ""
            raise BadRequest(
                f"unknown breakdown {by[:MAX_NAME]!r} of {qid!r}{hint}; declared breakdowns: "
                f"{', '.join(known) or 'none'} (the spec's publication.breakdowns)",
                "by", by[:MAX_NAME],
            )  # fmt: skip
        scopes = self._names(params, "countries", self.scopes, "country or region")
        waves = self._names(params, "waves", self.waves, "wave")
        return qid, by, scopes, waves


def _static_files(root: Path | None) -> dict[str, tuple[bytes, str]]:
    """Every regular file under ``root`` (default: the package's ``static/``), read once:
    request path -> (bytes, content type). Files of unknown type are left out."""
    if root is None:
        base = resources.files("barometer.publish.explorer") / "static"
        root = Path(str(base))
    files: dict[str, tuple[bytes, str]] = {}
    if not root.is_dir():
        return files
    top = root.resolve()
    for path in sorted(top.rglob("*")):
        real = path.resolve()
        if not real.is_file() or not real.is_relative_to(top) or path.suffix not in _TYPES:
            continue
        files[path.relative_to(top).as_posix()] = (real.read_bytes(), _TYPES[path.suffix])
    return files


def _secured(app: ASGIApp) -> ASGIApp:
    """``app`` with the security headers added to every HTTP response."""

    async def wrapped(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return

        async def send_with_headers(message: MutableMapping[str, Any]) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *_HEADERS]
            await send(message)

        await app(scope, receive, send_with_headers)

    return wrapped


def create_app(cube: Cube, static: Path | None = None) -> Starlette:
    """The ASGI app serving ``cube`` (and the static files of ``static``, default the
    package's own pages).

    Routes: ``GET /api/questions``, ``GET /api/estimates``, ``GET /api/methodology``,
    ``GET /api/openapi.json``, ``GET /`` (index.html: the explorer's pages, reading
    this API) and ``GET /static/<file>`` (the page files and ``vega.js``, the charting
    library taken from vl-convert: :mod:`.pages`).
    """
    index = _Index(cube)
    checker = _Checker(cube)
    files = _static_files(static)
    if static is None:
        files["index.html"] = (render_index(live_page()), _TYPES[".html"])
    questions = dumps(cube.catalogue())
    methodology = dumps(dict(cube.methodology))
    sets = [q.id for q in cube.questions if q.parts]
    schema = dumps(openapi(cube.name, checker.questions, checker.scopes, checker.waves,
                           checker.breakdowns, sets))  # fmt: skip

    def constant(body: bytes) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            return Response(body, media_type="application/json")

        return endpoint

    async def estimates(request: Request) -> Response:
        try:
            qid, by, scopes, waves = checker.estimates(request)
        except BadRequest as err:
            return _error(err.status, err.message, err.parameter, err.value)
        head = dumps({"question": qid, "breakdown": by})[:-1]
        body = head + b',"rows":[' + index.rows(qid, by, scopes, waves) + b"]}"
        return Response(body, media_type="application/json")

    async def static_file(request: Request) -> Response:
        name = request.path_params.get("name", "index.html")
        if name == VEGA and name not in files:
            # Built on first request (seconds), not at start-up: the API alone needs none.
            files[VEGA] = (vega_bundle(), _TYPES[".js"])
        found = files.get(name)
        if found is None:
            return _error(404, "no such file")
        return Response(found[0], media_type=found[1])

    async def http_error(request: Request, exc: Exception) -> Response:
        status = exc.status_code if isinstance(exc, HTTPException) else 500
        message = exc.detail if isinstance(exc, HTTPException) else "internal error"
        return _error(status, str(message))

    routes = [
        Route("/api/questions", constant(questions), methods=["GET"]),
        Route("/api/estimates", estimates, methods=["GET"]),
        Route("/api/methodology", constant(methodology), methods=["GET"]),
        Route("/api/openapi.json", constant(schema), methods=["GET"]),
        Route("/", static_file, methods=["GET"]),
        Route("/static/{name:path}", static_file, methods=["GET"]),
    ]
    app = Starlette(
        routes=routes, exception_handlers={HTTPException: http_error, Exception: http_error}
    )
    app.add_middleware(_Headers)
    return app


class _Headers:
    """The security headers as Starlette middleware (a pure ASGI wrapper: no buffering)."""

    def __init__(self, app: ASGIApp) -> None:
        self.handle = _secured(app)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.handle(scope, receive, send)

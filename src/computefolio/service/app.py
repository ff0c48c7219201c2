"""The FastAPI application: settings, security headers, error handling, routers.

:func:`create_app` builds one application from a
:class:`~computefolio.service.state.ServiceConfig`; ``computefolio serve`` runs it under
uvicorn. Everything it serves comes from the package: the dashboard's templates
(``service/templates``, importing the report's macros), its stylesheet and script
(``service/static``), htmx (``service/static/htmx.min.js``, pinned, shipped) and
plotly.js (from the installed ``plotly`` package). The content-security policy is
``default-src 'self'``: no script, style, font, image or connection from anywhere else,
no inline script.
"""

from __future__ import annotations

import logging
import secrets
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response

from ..errors import ComputefolioError, one_line
from .state import ServiceConfig, ServiceState

log = logging.getLogger("computefolio.service")

CSP = ("default-src 'self'; base-uri 'none'; object-src 'none'; frame-ancestors 'none'; form-action 'self'; "
       "img-src 'self' data:")
#: The security headers of every response (the CSP unless a route set a stricter one).
HEADERS = {
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
    "cross-origin-opener-policy": "same-origin",
    "cross-origin-resource-policy": "same-origin",
    "permissions-policy": "camera=(), microphone=(), geolocation=(), payment=(), usb=()",
}


class SecurityHeaders:
    """Pure ASGI middleware adding :data:`CSP` and :data:`HEADERS` (streams pass through untouched)."""

    def __init__(self, app):
        self.app = app
        self._extra = [(k.encode(), v.encode()) for k, v in HEADERS.items()]

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        static = scope.get("path", "").startswith("/static/")

        async def wrapped(message):
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                names = {k.lower() for k, _ in headers}
                if b"content-security-policy" not in names:
                    headers.append((b"content-security-policy", CSP.encode()))
                if b"cache-control" not in names:
                    headers.append((b"cache-control", b"public, max-age=3600" if static else b"no-store"))
                headers.extend(h for h in self._extra if h[0] not in names)
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, wrapped)


def _is_api(request: Request) -> bool:
    return request.url.path.startswith("/api/")


def _error(request: Request, status: int, message: str, headers: dict | None = None) -> Response:
    message = one_line(str(message))
    if _is_api(request) or "text/html" not in request.headers.get("accept", ""):
        return JSONResponse({"error": message, "status": status}, status_code=status, headers=headers)
    from .pages import error_page

    return error_page(request, status, message, headers=headers)


def create_app(config: ServiceConfig | None = None, *, state: ServiceState | None = None) -> FastAPI:
    """The service as an ASGI application (see the module docstring)."""
    from . import api, pages
    from .auth import Auth
    from .jobs import JobManager

    state = state or ServiceState(config or ServiceConfig())

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        import anyio

        await anyio.to_thread.run_sync(state.setup)
        await anyio.to_thread.run_sync(app.state.jobs.start)
        import gc
        import threading

        gc.freeze()  # the imported libraries' objects leave the collector's scans: shorter pauses under load
        threading.Thread(target=_warm, args=(state,), name="warm-caches", daemon=True).start()
        try:
            yield
        finally:
            app.state.jobs.stop()
            state.gate.stop()

    app = FastAPI(title="computefolio service", version=_version(),
                  description=("The book, its risk, orders with pre-trade compliance, the compliance log and runs "
                               "of the main job. Every number states its unit and basis (fractions are fractions: "
                               "0.05 = 5%; amounts in the book currency; calendar days unless said). "
                               "Authenticate with `Authorization: Bearer <token>` (computefolio users token)."),
                  docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan)
    app.state.service = state
    app.state.auth = Auth(state)
    app.state.jobs = JobManager(state)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException):
        return _error(request, exc.status_code, exc.detail, headers=getattr(exc, "headers", None))

    from starlette.exceptions import HTTPException as StarletteHTTPException

    @app.exception_handler(StarletteHTTPException)
    async def starlette_error(request: Request, exc: StarletteHTTPException):
        return _error(request, exc.status_code, exc.detail or "error", headers=getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError):
        parts = []
        for e in exc.errors()[:5]:
            loc = ".".join(str(x) for x in e.get("loc", ()) if x not in ("body", "query", "path"))
            parts.append(f"{loc or 'request'}: {e.get('msg', 'invalid')}")
        return _error(request, 422, "; ".join(parts) or "invalid request")

    @app.exception_handler(ComputefolioError)
    async def domain_error(request: Request, exc: ComputefolioError):
        from .gate import StoreBusy
        from .ops import FourEyes

        status = 503 if isinstance(exc, StoreBusy) else 403 if isinstance(exc, FourEyes) else 409
        return _error(request, status, str(exc))

    @app.exception_handler(LookupError)
    async def not_found(request: Request, exc: LookupError):
        return _error(request, 404, exc.args[0] if exc.args else "not found")

    @app.exception_handler(Exception)
    async def internal(request: Request, exc: Exception):
        ref = secrets.token_hex(4)
        log.error("internal error %s on %s %s", ref, request.method, request.url.path, exc_info=exc)
        return _error(request, 500, f"internal error (reference {ref}; details in the server log)")

    app.include_router(api.router)
    app.include_router(pages.router)
    pages.mount_static(app)
    app.add_middleware(SecurityHeaders)
    return app


def _warm(state: ServiceState) -> None:
    """Compute the default views once at start (the first visitor does not wait for them)."""
    from . import views as V

    try:
        V.overview_view(state)
        V.risk_view(state)
    except Exception as exc:  # noqa: BLE001 - an empty book or a store without prices: shown on request
        log.info("caches not warmed: %s", exc)


def _version() -> str:
    try:
        from .. import __version__

        return str(__version__)
    except ImportError:  # pragma: no cover
        return "0"


def static_dir() -> Path:
    return Path(__file__).parent / "static"

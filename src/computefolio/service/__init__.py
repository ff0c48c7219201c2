"""The service: a JSON API and a live dashboard over the book, with users, roles and four eyes.

``computefolio serve`` runs one FastAPI application under uvicorn (127.0.0.1 by default).
The service is a thin layer, like the CLI: every number comes from the library
(:mod:`computefolio.book`, :mod:`computefolio.rebalance`, :mod:`computefolio.compliance`,
:mod:`computefolio.risk`, :mod:`computefolio.job`); the service adds who may ask and do
what, one writer at a time, caching and pages. Needs the ``service`` extra
(``pip install 'computefolio[service]'``: fastapi, uvicorn, sse-starlette, argon2-cffi,
python-multipart).

Modules: ``state`` (settings, loaded configuration, caches keyed by the store's
fingerprint), ``gate`` (the store file: leases, one writer, idle release), ``users``
(users, argon2id hashes, tokens, sessions), ``auth`` (bearer tokens, session cookies,
CSRF, login rate limit), ``views`` (what is shown, from the library), ``ops`` (propose,
override, release, cancel; four eyes), ``jobs`` (runs of the main job with progress),
``api`` (``/api/v1``), ``pages`` (the dashboard), ``app`` (the application).

Public API::

    from computefolio.service import ServiceConfig, create_app
    app = create_app(ServiceConfig(store="store.duckdb", source="sample"))
"""

from __future__ import annotations

from .state import ServiceConfig

__all__ = ["ServiceConfig", "create_app"]


def create_app(config: ServiceConfig | None = None, **kw):
    """The FastAPI application (see :func:`computefolio.service.app.create_app`)."""
    from .app import create_app as _create

    return _create(config, **kw)

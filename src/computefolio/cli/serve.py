"""``computefolio serve``: the JSON API and the dashboard (FastAPI under uvicorn).

Binds 127.0.0.1 by default (loopback only). The book, users and (by default) prices come
from the store file; ``--data FOLDER`` or ``--sample`` value the book on files or the
built-in sample market instead. Needs the ``service`` extra. See docs/service.md.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Optional

import typer

from ._common import app, err_console, guard


@app.command("serve")
@guard
def serve(
    host: str = typer.Option("127.0.0.1", "--host", help="Address to bind (default loopback only)."),
    port: int = typer.Option(8000, "--port", help="TCP port."),
    store: Optional[Path] = typer.Option(None, "--store", help="Store file with the book and users (default: "
                                                               "$COMPUTEFOLIO_HOME/store.duckdb)."),
    data: Optional[Path] = typer.Option(None, "--data", help="Value the book on this folder of price files instead "
                                                             "of the store's prices."),
    sample: bool = typer.Option(False, "--sample", help="Value the book on the built-in sample market (simulated)."),
    strategy: Optional[Path] = typer.Option(None, "--strategy", help="Strategy proposing orders and setting risk "
                                                                     "budgets (default: shipped)."),
    strategies: Optional[Path] = typer.Option(None, "--strategies", help="Folder of more strategy files runs may "
                                                                         "name."),
    runs_dir: Optional[Path] = typer.Option(None, "--runs", help="Folder for run outputs (default: beside the "
                                                                 "store, runs/)."),
    policy: Optional[Path] = typer.Option(None, "--policy", help="Compliance policy YAML (default: shipped)."),
    venues: Optional[Path] = typer.Option(None, "--venues", help="Venue rules YAML (default: shipped)."),
    universe: Optional[Path] = typer.Option(None, "--universe", "-u", help="Universe YAML (default: the strategy's)."),
    secure_cookies: bool = typer.Option(False, "--secure-cookies", help="Mark the session cookie Secure (serve "
                                                                         "behind HTTPS)."),
    allow_host: list[str] = typer.Option([], "--allow-host", help="Host names the server answers to (default: the "
                                                                  "bound address, localhost, 127.0.0.1)."),
    log_level: str = typer.Option("warning", "--log-level", help="uvicorn log level."),
    demo: bool = typer.Option(False, "--demo", help="Serve a demo book on the sample market: a store under "
                                                    "$COMPUTEFOLIO_HOME/demo/ (or --store) seeded with a USD 100m book "
                                                    "and users pm, risk, viewer, admin (passwords printed once)."),
) -> None:
    """Serve the JSON API (/api/v1) and the dashboard (users: computefolio users add)."""
    try:
        import uvicorn

        from ..service import ServiceConfig, create_app
    except ImportError as exc:
        from ..errors import ComputefolioError

        raise ComputefolioError(f"the service needs its extra: pip install 'computefolio[service]' "
                                f"({exc.name} is missing)") from None
    if data is not None and sample:
        raise typer.BadParameter("give at most one of --data and --sample")
    if not 0 < port < 65536:
        raise typer.BadParameter(f"--port: 1 to 65535, got {port}")
    if demo:
        from ..data.store import default_store_path

        store = store or default_store_path().parent / "demo" / "store.duckdb"
        sample = data is None
    if data is not None and not Path(data).exists():
        raise typer.BadParameter(f"--data {data}: no such file or folder of price files")
    source = "files" if data is not None else "sample" if sample else "store"
    cfg = ServiceConfig(store=store, source=source, data=data, strategy=strategy, strategies=strategies,
                        runs_dir=runs_dir, policy=policy, venues=venues, universe=universe,
                        cookie_secure=secure_cookies)
    application = create_app(cfg)
    st = application.state.service
    st.setup()  # the store opens and holds the service's tables, or one line says why not (exit 2)
    if demo:
        _seed(st)
    if source == "store":
        st.market()  # a store without prices is refused now, not on the first request
    hosts = list(allow_host) or sorted({host, "localhost", "127.0.0.1", "[::1]", "::1"})
    if not _loopback(host):
        err_console.print(f"[yellow]warning:[/] binding {host}: the service is reachable from other machines; serve it "
                          "behind HTTPS with --secure-cookies", highlight=False)
    if "*" not in hosts:
        from starlette.middleware.trustedhost import TrustedHostMiddleware

        application.add_middleware(TrustedHostMiddleware, allowed_hosts=hosts)
    err_console.print(f"computefolio serve: http://{host if ':' not in host else f'[{host}]'}:{port}/ - store "
                      f"{st.gate.path}, prices from {source}" + (f" ({data})" if data else "")
                      + "; API schema /api/v1/openapi.json", highlight=False, soft_wrap=True)
    uvicorn.run(application, host=host, port=port, log_level=log_level, access_log=False, server_header=False)


def _seed(state) -> None:
    """Seed the demo book and users into the service's store (once)."""
    from ..service.demo import seed_demo

    info = seed_demo(state.gate.path, state.market(), state.universe)
    err_console.print(f"demo book: {info['entries']} ledger entries (bought {info['day']} at the cut-off prices) in "
                      f"{info['store']}", highlight=False, soft_wrap=True)
    for name, pw in info["users"].items():
        err_console.print(f"demo user {name} (role {name}): password {pw}", highlight=False)
    if not info["users"]:
        err_console.print("demo users exist already (computefolio users add NAME --update to set a password)",
                          highlight=False)


def _loopback(host: str) -> bool:
    if host in ("localhost",):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False

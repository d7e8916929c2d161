"""The web application: one FastAPI app serving pages and the JSON API for every role.

Sessions live in the database (``web_sessions``), so several processes can run behind a proxy.
Every request passes the protections in ``web.security`` (headers, sessions, origin check, CSRF
token) before any route runs; a route added later gets them without asking.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import AsyncIterator
from pathlib import Path

import anyio.to_thread
from fastapi import Depends, FastAPI
from fastapi.staticfiles import StaticFiles

from grantflow.config import Settings, check_production, get_settings
from grantflow.db.session import get_engine
from grantflow.services.bootstrap import init_database
from grantflow.web import errors
from grantflow.web.routes_account import router as account_router
from grantflow.web.routes_adjustments import router as adjustments_router
from grantflow.web.routes_calendar import router as calendar_router
from grantflow.web.routes_calls import router as calls_router
from grantflow.web.routes_core import router as core_router
from grantflow.web.routes_forms import router as forms_router
from grantflow.web.routes_inbox import router as inbox_router
from grantflow.web.routes_office_calls import router as office_calls_router
from grantflow.web.routes_orgs import router as orgs_router
from grantflow.web.routes_overview import router as overview_router
from grantflow.web.routes_people import router as people_router
from grantflow.web.routes_programmes import router as programmes_router
from grantflow.web.routes_publications import router as publications_router
from grantflow.web.routes_review import router as review_router
from grantflow.web.security import HeadersMiddleware, OriginMiddleware, SessionMiddleware, require_csrf

STATIC = Path(__file__).parent / "static"
DOCS_PATH = "/api/docs"


def secret_key(settings: Settings) -> str:
    """GRANTFLOW_SECRET_KEY, or (outside production) a key generated once and kept in the data directory."""
    if settings.secret_key is not None and settings.secret_key.get_secret_value().strip():
        return settings.secret_key.get_secret_value().strip()
    check_production(settings)  # production never falls back to a generated key
    settings.ensure_dirs()
    path = settings.home_dir / "secret_key"
    if not path.exists():
        # made complete, then linked into place only if none is there: web workers starting
        # together all end up with the one key (each with its own would refuse the others' forms)
        tmp = path.with_name(f".secret_key.{os.getpid()}")
        tmp.write_text(secrets.token_urlsafe(48), encoding="utf-8")
        tmp.chmod(0o600)
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass
        finally:
            tmp.unlink(missing_ok=True)
    return path.read_text(encoding="utf-8").strip()


def create_app(settings: Settings | None = None, *, migrate: bool = True) -> FastAPI:
    s = settings or get_settings()
    check_production(s)  # refuses to start with a missing or default secret, naming what to set
    engine = get_engine(s)
    if migrate:
        init_database(engine)  # an empty database is upgraded on first start
    docs = None if s.production else DOCS_PATH

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        # the worker threads that run the routes (AnyIO's default is 40): one process runs Python
        # on one core at a time, so dozens of threads only take turns, each holding its database
        # connection (and, writing, SQLite's one write lock) while it waits for its turn
        anyio.to_thread.current_default_thread_limiter().total_tokens = s.web_threads
        yield

    app = FastAPI(
        lifespan=lifespan,
        title="grantflow",
        docs_url=docs,
        redoc_url=None,
        openapi_url="/api/openapi.json",
        dependencies=[Depends(require_csrf)],
    )
    app.state.engine = engine
    app.state.settings = s
    app.state.scanner = None  # the content guard used by "publish now"; None: the shipped guard
    # added innermost first: a request meets the headers, then the session, then the origin check
    app.add_middleware(OriginMiddleware, settings=s, refuse=errors.refuse)
    app.add_middleware(SessionMiddleware, engine=engine, settings=s, secret=secret_key(s))
    app.add_middleware(HeadersMiddleware, docs_path=docs)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    errors.install(app)
    app.include_router(core_router)
    app.include_router(account_router)
    app.include_router(forms_router)
    app.include_router(review_router)
    app.include_router(inbox_router)
    app.include_router(orgs_router)
    app.include_router(people_router)
    app.include_router(publications_router)
    app.include_router(overview_router)
    app.include_router(adjustments_router)
    app.include_router(programmes_router)
    app.include_router(calls_router)
    app.include_router(calendar_router)
    app.include_router(office_calls_router)
    return app

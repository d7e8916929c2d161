"""The web application: one FastAPI app serving pages and the JSON API for every role.

Stateless apart from the signed session cookie, so several processes can run behind a proxy.
"""

from __future__ import annotations

import secrets
from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from starlette.middleware.sessions import SessionMiddleware

from grantflow.config import Settings, get_settings
from grantflow.db.session import get_engine
from grantflow.services.bootstrap import init_database
from grantflow.web import errors
from grantflow.web.routes_adjustments import router as adjustments_router
from grantflow.web.routes_core import router as core_router
from grantflow.web.routes_forms import router as forms_router
from grantflow.web.routes_inbox import router as inbox_router
from grantflow.web.routes_programmes import router as programmes_router
from grantflow.web.routes_review import router as review_router

STATIC = Path(__file__).parent / "static"


def secret_key(settings: Settings) -> str:
    """GRANTFLOW_SECRET_KEY, or a key generated once and kept in the data directory."""
    if settings.secret_key:
        return settings.secret_key
    settings.ensure_dirs()
    path = settings.home_dir / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(48), encoding="utf-8")
        path.chmod(0o600)
    return path.read_text(encoding="utf-8").strip()


def create_app(settings: Settings | None = None, *, migrate: bool = True) -> FastAPI:
    s = settings or get_settings()
    engine = get_engine(s)
    if migrate:
        init_database(engine)  # an empty database is upgraded on first start
    app = FastAPI(title="grantflow", docs_url="/api/docs", openapi_url="/api/openapi.json")
    app.state.engine = engine
    app.state.settings = s
    app.add_middleware(SessionMiddleware, secret_key=secret_key(s), same_site="lax", session_cookie="grantflow")
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    errors.install(app)
    app.include_router(core_router)
    app.include_router(forms_router)
    app.include_router(review_router)
    app.include_router(inbox_router)
    app.include_router(adjustments_router)
    app.include_router(programmes_router)
    return app

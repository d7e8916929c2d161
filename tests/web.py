"""An HTTP client for tests that behaves as a page in the browser does: every state-changing
request carries the session's CSRF token (``X-CSRF-Token``, fetched from ``GET /api/session``
after each change of session), and nothing else about the request is eased."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient


class WebClient(TestClient):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._csrf: tuple[str | None, str] | None = None

    def csrf_token(self) -> str:
        cookie = self.cookies.get("grantflow") or self.cookies.get("__Host-grantflow")
        if self._csrf is None or self._csrf[0] != cookie or cookie is None:
            token = super().request("GET", "/api/session").json()["csrf_token"]
            cookie = self.cookies.get("grantflow") or self.cookies.get("__Host-grantflow")
            self._csrf = (cookie, token)
        return self._csrf[1]

    def request(self, method: str, url: Any, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        if method.upper() not in ("GET", "HEAD", "OPTIONS"):
            headers = dict(kwargs.pop("headers", None) or {})
            if not any(k.lower() == "x-csrf-token" for k in headers):
                headers["X-CSRF-Token"] = self.csrf_token()
            kwargs["headers"] = headers
        return super().request(method, url, *args, **kwargs)


def web_client(app: Any, **kwargs: Any) -> WebClient:
    return WebClient(app, **kwargs)

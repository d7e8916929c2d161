"""The floor for bench/deadline_rush.py: the least a server must do per submission.

One FastAPI endpoint, served by its own uvicorn process, that takes a multipart upload, writes
the file to disk with its SHA-256 and inserts one row in SQLite (WAL) per request. Nothing
else: no session, no CSRF, no page. Whatever the real app costs above this is its overhead.

    python -m uvicorn --factory rush_floor_app:create_app --app-dir bench  (RUSH_FLOOR_DIR=...)
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import tempfile
from pathlib import Path

from fastapi import FastAPI, Form, UploadFile
from fastapi.responses import JSONResponse

CHUNK = 256 * 1024


def create_app() -> FastAPI:
    root = Path(os.environ["RUSH_FLOOR_DIR"])
    files = root / "files"
    files.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(root / "floor.db", isolation_level=None, check_same_thread=False)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute(
        "CREATE TABLE IF NOT EXISTS uploads (id INTEGER PRIMARY KEY, who TEXT, name TEXT, size INT, sha256 TEXT)"
    )
    app = FastAPI()

    @app.post("/submit")
    async def submit(who: str = Form(), attachment: UploadFile = Form()) -> JSONResponse:  # noqa: B008 - FastAPI style
        digest = hashlib.sha256()
        size = 0
        fd, tmp = tempfile.mkstemp(dir=files, prefix=".up-")
        with os.fdopen(fd, "wb") as fh:
            while chunk := await attachment.read(CHUNK):
                digest.update(chunk)
                size += len(chunk)
                fh.write(chunk)
        sha = digest.hexdigest()
        os.replace(tmp, files / sha)
        db.execute(
            "INSERT INTO uploads (who, name, size, sha256) VALUES (?, ?, ?, ?)",
            (who, attachment.filename or "file", size, sha),
        )
        return JSONResponse({"sha256": sha, "size": size})

    return app

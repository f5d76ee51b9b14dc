"""A second example app, shaped unlike the first so that an inventory must say so.

- Its ASGI object is `notes.service:api` (not `<name>.main:app`).
- Its health path is /healthz, and it answers only once its database opens.
- It keeps its data in SQLite, in the file DATABASE_URL names (sqlite:////path):
  on the kit's hosts that is the app's shared/ directory, the one place a release
  may write, kept across releases and rollbacks.
"""

import os
import sqlite3
from contextlib import closing

from fastapi import FastAPI
from pydantic import BaseModel, Field

api = FastAPI(title="notes_api", version="1.0.0")


def _db_path() -> str:
    url = os.environ.get("DATABASE_URL", "sqlite:///./notes.db")
    if not url.startswith("sqlite:///"):
        raise RuntimeError(f"notes_api keeps its data in SQLite; DATABASE_URL names {url.split(':', 1)[0]}")
    return url.removeprefix("sqlite:///")


def _connect() -> sqlite3.Connection:
    conn = sqlite3.connect(_db_path(), timeout=5)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("CREATE TABLE IF NOT EXISTS notes (id INTEGER PRIMARY KEY, text TEXT NOT NULL)")
    return conn


class Note(BaseModel):
    text: str = Field(min_length=1, max_length=1000)


@api.get("/healthz")
def healthz() -> dict:
    with closing(_connect()) as conn:
        count = conn.execute("SELECT count(*) FROM notes").fetchone()[0]
    return {"status": "ok", "release": os.environ.get("APP_RELEASE", "dev"), "notes": count}


@api.get("/")
def index() -> dict:
    return {"app": "notes_api", "release": os.environ.get("APP_RELEASE", "dev"), "instance": os.environ.get("APP_INSTANCE", "")}


@api.post("/notes", status_code=201)
def add(note: Note) -> dict:
    with closing(_connect()) as conn, conn:
        cur = conn.execute("INSERT INTO notes (text) VALUES (?)", (note.text,))
    return {"id": cur.lastrowid, "text": note.text}


@api.get("/notes")
def notes() -> list[dict]:
    with closing(_connect()) as conn:
        return [{"id": i, "text": t} for i, t in conn.execute("SELECT id, text FROM notes ORDER BY id")]

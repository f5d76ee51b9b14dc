"""The example app: names its release, answers a health gate, echoes WebSockets, streams.

The kit runs it with Gunicorn and Uvicorn workers; the release id comes from
the APP_RELEASE environment variable, which the kit's gunicorn.conf.py sets
from the release directory the instance runs in.

With a database and a queue it does more, each part switched on by its variable:

- DATABASE_URL (PostgreSQL, `postgresql+psycopg://...`): /items stores rows and
  /heartbeats counts the rows `python -m hello_api.heartbeat` writes; the tables
  come from `python -m hello_api.migrate` (Alembic), run before the switch.
- REDIS_URL (`redis://...` or `unix://...`): POST /jobs enqueues a job that
  `python -m hello_api.worker` does (it needs DATABASE_URL too), GET /jobs/{id} tells
  its state.

Without them those endpoints answer 503 naming the missing variable, and the
rest serves as before. SQLAlchemy, psycopg and arq are imported on first use
only, so the web process starts as fast without them as with them.
"""

import asyncio
import os
import socket
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, HTTPException, Query, Request, WebSocket, WebSocketDisconnect
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import BaseModel, Field

from hello_api import __version__, observability, settings


@asynccontextmanager
async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
    yield
    # Close what was opened, and only that: an unused service was never imported.
    if "hello_api.jobs" in sys.modules:
        await sys.modules["hello_api.jobs"].close()
    if "hello_api.db" in sys.modules:
        sys.modules["hello_api.db"].dispose()


app = FastAPI(title="hello_api", version=__version__, lifespan=lifespan)
# The request id (X-Request-ID from nginx) in every log line and in the response, an
# access line per request, and the request metrics /metrics shows.
app.add_middleware(observability.RequestMiddleware)


@app.exception_handler(settings.NotConfigured)
async def not_configured(_request: Request, exc: settings.NotConfigured) -> JSONResponse:
    return JSONResponse({"detail": str(exc), "missing": exc.variable}, status_code=503)


@app.get("/")
def index(request: Request) -> dict:
    """Name the release, the instance and the client as the app sees them.

    HELLO_RESPONSE_DELAY_MS (default 0) makes it answer that much later: a slow app
    for the load check's tests (playbooks/loadcheck.yml).
    """
    delay = int(os.environ.get("HELLO_RESPONSE_DELAY_MS", "0") or 0)
    if delay > 0:
        time.sleep(delay / 1000)
    return {
        "app": "hello_api",
        "version": __version__,
        "release": settings.release(),
        "instance": os.environ.get("APP_INSTANCE", ""),
        "host": socket.gethostname(),
        "greeting": os.environ.get("HELLO_GREETING", "hello"),
        "client": request.client.host if request.client else None,
        "scheme": request.url.scheme,
    }


@app.get("/health")
def health() -> dict:
    """Health gate for deploys and load balancers: 200 once the app imported."""
    return {"status": "ok", "release": settings.release()}


@app.get("/metrics", include_in_schema=False)
def metrics() -> Response:
    """Prometheus metrics of every Gunicorn worker of this instance. The kit's nginx
    answers 404 for /metrics on the public servers; Prometheus reads it through nginx's
    metrics listener (nginx_app_metrics_listen_address), from allowed addresses only."""
    body, content_type = observability.metrics_body()
    return Response(body, media_type=content_type)


@app.websocket("/ws")
async def echo(websocket: WebSocket) -> None:
    """Echo every text message back, prefixed so a test can tell it came from here."""
    await websocket.accept()
    try:
        while True:
            message = await websocket.receive_text()
            await websocket.send_text(f"echo: {message}")
    except WebSocketDisconnect:
        pass


@app.get("/stream")
async def stream(gap: float = Query(1.0, ge=0, le=120)) -> StreamingResponse:
    """Send one line, stay silent for `gap` seconds, send another: a long poll or an
    event stream that waits for its next event, for front ends to keep open."""

    async def lines() -> AsyncIterator[str]:
        yield "first\n"
        await asyncio.sleep(gap)
        yield "second\n"

    return StreamingResponse(lines(), media_type="text/plain")


class ItemIn(BaseModel):
    name: str = Field(min_length=1, max_length=200)


class JobIn(BaseModel):
    n: int = Field(ge=-(2**31), le=2**31)
    seconds: float = Field(0.0, ge=0, le=30, description="how long the job works before it records itself")


def _unavailable(service: str, exc: Exception) -> HTTPException:
    # The exception's class only: its text may hold a host name or a user, never needed by a client.
    return HTTPException(503, f"{service} unavailable ({type(exc).__name__})")


def _item(row) -> dict:
    return {"id": row.id, "name": row.name, "release": row.release, "created_at": row.created_at.isoformat()}


@app.post("/items", status_code=201)
def add_item(item: ItemIn) -> dict:
    """Store a row in PostgreSQL (needs DATABASE_URL)."""
    settings.database_url()
    from sqlalchemy.exc import OperationalError

    from hello_api import db

    try:
        with db.session() as session, session.begin():
            row = db.Item(name=item.name, release=settings.release())
            session.add(row)
            session.flush()
            session.refresh(row)
            return _item(row)
    except OperationalError as e:
        raise _unavailable("database", e) from e


@app.get("/items")
def list_items(limit: int = Query(100, ge=1, le=1000)) -> list[dict]:
    """The first `limit` rows, oldest first."""
    settings.database_url()
    from sqlalchemy import select
    from sqlalchemy.exc import OperationalError

    from hello_api import db

    try:
        with db.session() as session:
            return [_item(row) for row in session.scalars(select(db.Item).order_by(db.Item.id).limit(limit))]
    except OperationalError as e:
        raise _unavailable("database", e) from e


@app.get("/items/{item_id}")
def get_item(item_id: int) -> dict:
    settings.database_url()
    from sqlalchemy.exc import OperationalError

    from hello_api import db

    try:
        with db.session() as session:
            row = session.get(db.Item, item_id)
    except OperationalError as e:
        raise _unavailable("database", e) from e
    if row is None:
        raise HTTPException(404, f"no item {item_id}")
    return _item(row)


@app.post("/jobs", status_code=202)
async def add_job(job: JobIn) -> dict:
    """Enqueue a job in Redis (needs REDIS_URL); a worker does it and records it."""
    settings.redis_url()
    from redis.exceptions import RedisError

    from hello_api import jobs

    try:
        job_id = await jobs.enqueue(job.n, job.seconds)
    except (RedisError, OSError) as e:
        raise _unavailable("redis", e) from e
    return {"id": job_id, "state": "queued"}


@app.get("/jobs/{job_id}")
async def get_job(job_id: str) -> dict:
    """queued, in_progress or done; done jobs also tell who did them (from PostgreSQL, when configured)."""
    settings.redis_url()
    from redis.exceptions import RedisError

    from hello_api import jobs

    try:
        settings.database_url()
        with_database = True
    except settings.NotConfigured:
        with_database = False  # the queue alone still tells queued, in_progress or done
    if with_database:
        from hello_api import db

        def done_row():
            with db.session() as session:
                return session.get(db.JobDone, job_id)

        from sqlalchemy.exc import OperationalError

        try:
            row = await asyncio.to_thread(done_row)
        except OperationalError as e:
            raise _unavailable("database", e) from e
        if row is not None:
            return {"id": job_id, "state": "done", "n": row.n, "result": row.result, "release": row.release,
                    "host": row.host, "worker_pid": row.worker_pid, "job_try": row.job_try,
                    "done_at": row.done_at.isoformat()}
    try:
        state = await jobs.state(job_id)
    except (RedisError, OSError) as e:
        raise _unavailable("redis", e) from e
    if state == "unknown":
        raise HTTPException(404, f"no job {job_id}")
    return {"id": job_id, "state": state}


@app.get("/heartbeats")
def heartbeats() -> dict:
    """How many heartbeats each host wrote, and its last one."""
    settings.database_url()
    from sqlalchemy import func, select
    from sqlalchemy.exc import OperationalError

    from hello_api import db

    query = select(db.Heartbeat.host, func.count(), func.max(db.Heartbeat.beat_at)).group_by(db.Heartbeat.host)
    try:
        with db.session() as session:
            rows = session.execute(query.order_by(db.Heartbeat.host)).all()
    except OperationalError as e:
        raise _unavailable("database", e) from e
    return {"hosts": [{"host": h, "count": c, "last": last.isoformat()} for h, c, last in rows]}

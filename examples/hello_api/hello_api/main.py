"""The example app: names its release, answers a health gate, echoes WebSockets, streams.

The kit runs it with Gunicorn and Uvicorn workers; the release id comes from
the APP_RELEASE environment variable, which the kit's gunicorn.conf.py sets
from the release directory the instance runs in.
"""

import asyncio
import os
import socket
from collections.abc import AsyncIterator

from fastapi import FastAPI, Query, Request, WebSocket, WebSocketDisconnect
from fastapi.responses import StreamingResponse

from hello_api import __version__

app = FastAPI(title="hello_api", version=__version__)


def _release() -> str:
    return os.environ.get("APP_RELEASE", "dev")


@app.get("/")
def index(request: Request) -> dict:
    """Name the release, the instance and the client as the app sees them."""
    return {
        "app": "hello_api",
        "version": __version__,
        "release": _release(),
        "instance": os.environ.get("APP_INSTANCE", ""),
        "host": socket.gethostname(),
        "greeting": os.environ.get("HELLO_GREETING", "hello"),
        "client": request.client.host if request.client else None,
        "scheme": request.url.scheme,
    }


@app.get("/health")
def health() -> dict:
    """Health gate for deploys and load balancers: 200 once the app imported."""
    return {"status": "ok", "release": _release()}


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

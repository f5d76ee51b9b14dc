"""The request id in every log line, an access line per request, Prometheus metrics.

nginx generates a request id per request and passes it as `X-Request-ID` (the kit's
nginx role drops any id a client sent); a request that comes without one (straight
to the socket, in development) gets a new one. The id is kept in a context variable,
and every log record made while the request runs carries it as `request_id`: the
kit's gunicorn.conf.py writes it as a JSON field (or `request_id=` in text logs).

Metrics follow prometheus-client's multiprocess mode when PROMETHEUS_MULTIPROC_DIR
is set (the kit's gunicorn role gives each instance a fresh one and marks dead
workers in child_exit), so that /metrics adds up every Gunicorn worker:

- http_requests_total{method,route,status}
- http_request_duration_seconds{method,route} (histogram)
- http_requests_in_progress (gauge, summed over live workers)

`route` is the path template of the route that answered (`/items/{item_id}`), never
the raw path, so that the number of series stays bounded; requests no route matched
count under `<unmatched>`.
"""

import contextvars
import logging
import os
import time
import uuid

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client import multiprocess

request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="")

access_log = logging.getLogger("hello_api.access")

REQUESTS = Counter("http_requests_total", "HTTP requests answered", ["method", "route", "status"])
DURATION = Histogram("http_request_duration_seconds", "Time to answer an HTTP request", ["method", "route"])
IN_PROGRESS = Gauge("http_requests_in_progress", "HTTP requests being answered", multiprocess_mode="livesum")

UNMATCHED = "<unmatched>"
# An id nginx made ($request_id: 32 hex digits), or one of ours; anything longer is cut.
_MAX_ID = 64


def _install_record_factory() -> None:
    """Give every log record the current request id (empty outside a request)."""
    previous = logging.getLogRecordFactory()
    if getattr(previous, "_hello_api_request_id", False):
        return

    def factory(*args, **kwargs) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        rid = request_id.get()
        if rid and not hasattr(record, "request_id"):
            record.request_id = rid
        return record

    factory._hello_api_request_id = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(factory)


_install_record_factory()


def _header(scope: dict, name: bytes) -> str:
    for key, value in scope.get("headers", ()):
        if key == name:
            return value.decode("latin-1")[:_MAX_ID]
    return ""


def _route(scope: dict) -> str:
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else UNMATCHED


class RequestMiddleware:
    """Pure ASGI middleware (streams and WebSockets pass through untouched): sets the
    request id, echoes it in the response, writes the access line, counts the request."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        rid = _header(scope, b"x-request-id") or uuid.uuid4().hex
        token = request_id.set(rid)
        if scope["type"] == "websocket":
            try:
                await self.app(scope, receive, send)
            finally:
                request_id.reset(token)
            return

        status = 500
        start = time.perf_counter()

        async def send_with_id(message):
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"x-request-id"]
                headers.append((b"x-request-id", rid.encode("latin-1")))
                message = {**message, "headers": headers}
            await send(message)

        IN_PROGRESS.inc()
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            IN_PROGRESS.dec()
            elapsed = time.perf_counter() - start
            method = scope.get("method", "")
            route = _route(scope)
            REQUESTS.labels(method, route, str(status)).inc()
            DURATION.labels(method, route).observe(elapsed)
            client = scope.get("client")
            access_log.info(
                "%s %s %s",
                method,
                scope.get("path", ""),
                status,
                extra={
                    "type": "access",
                    "method": method,
                    "path": scope.get("path", ""),
                    "route": route,
                    "status": status,
                    "duration_ms": round(elapsed * 1000, 3),
                    "client": client[0] if client else None,
                },
            )
            request_id.reset(token)


def metrics_body() -> tuple[bytes, str]:
    """The exposition of every worker's metrics (multiprocess), else of this process's."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    from prometheus_client import REGISTRY

    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST

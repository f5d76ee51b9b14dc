"""The request id and the metrics of the example app, through its ASGI interface
(no server, no service): the id from X-Request-ID reaches the response and every log
line of the request, and /metrics counts requests by route template."""

import asyncio
import logging
import re
import sys
from pathlib import Path

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("prometheus_client")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from hello_api.main import app  # noqa: E402


def _get(path, headers=()):
    messages = []

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message):
        messages.append(message)

    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET", "scheme": "http",
        "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "",
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers],
        "client": ("127.0.0.1", 5000), "server": ("app", 80),
    }
    asyncio.run(app(scope, receive, send))
    start = next(m for m in messages if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in messages if m["type"] == "http.response.body")
    return start["status"], start["headers"], body.decode()


def test_request_id_from_the_front_end_reaches_the_response_and_the_log(caplog):
    with caplog.at_level(logging.INFO, logger="hello_api.access"):
        status, headers, _ = _get("/items/7", [("X-Request-ID", "abc123")])
    assert status == 503
    assert [v for k, v in headers if k == b"x-request-id"] == [b"abc123"]
    [record] = [r for r in caplog.records if r.name == "hello_api.access"]
    assert (record.request_id, record.route, record.status, record.method) == ("abc123", "/items/{item_id}", 503, "GET")


def test_request_without_an_id_gets_a_new_one():
    _, headers, _ = _get("/health")
    [rid] = [v for k, v in headers if k == b"x-request-id"]
    assert re.fullmatch(rb"[0-9a-f]{32}", rid)


def test_metrics_count_by_route_template():
    def count(body, route, status):
        m = re.search(r'^http_requests_total\{method="GET",route="%s",status="%s"\} (\S+)$' % (re.escape(route), status), body, re.M)
        return float(m.group(1)) if m else 0.0

    before = _get("/metrics")[2]
    _get("/items/1")
    _get("/items/2")
    _get("/no/such/path")
    after = _get("/metrics")[2]
    assert count(after, "/items/{item_id}", 503) - count(before, "/items/{item_id}", 503) == 2
    assert count(after, "<unmatched>", 404) - count(before, "<unmatched>", 404) == 1
    assert "/items/1" not in after
    assert re.search(r"^http_request_duration_seconds_bucket\{", after, re.M)
    assert re.search(r"^http_requests_in_progress 1\.0$", after, re.M)

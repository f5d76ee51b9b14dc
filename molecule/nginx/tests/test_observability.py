"""Issue 15: JSON logs with nginx's request id, nginx's metrics, the app's metrics.

Requests go through nginx from the controller (127.0.0.1:18443); logs, the exporter
and the metrics listener are read on the host."""

import json
import re
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "shared"))
import kithttp  # noqa: E402

NAME = "app.kit.test"
HTTPS_PORT = 18443
ACCESS_LOG = "/var/log/nginx/access.log"
APP_UNITS = "-u 'hello_api@*.service' -u 'hello_two@*.service'"
METRICS = "http://127.0.0.1:9180/metrics/hello_api"


def _access_log(host):
    return [json.loads(line) for line in host.file(ACCESS_LOG).content_string.splitlines() if line]


def _app_records(host, since="-1h"):
    """The app units' lines of their own output (not systemd's), each parsed as JSON."""
    out = host.check_output(f"journalctl --no-pager -o json --since {since} {APP_UNITS} _TRANSPORT=stdout")
    records = []
    for line in out.splitlines():
        entry = json.loads(line)
        message = entry["MESSAGE"]
        if isinstance(message, list):  # journald's form of a message that is not UTF-8
            message = bytes(message).decode(errors="replace")
        records.append((entry.get("_SYSTEMD_UNIT"), message))
    return records


def _app_access_lines(host, ids, tries=20):
    """The app's access lines of these request ids, once the journal has them all."""
    for _ in range(tries):
        found = {}
        for _unit, message in _app_records(host, "-10min"):
            record = json.loads(message)
            if record.get("logger") == "hello_api.access" and record.get("request_id") in ids:
                found[record["request_id"]] = record
        if set(found) == set(ids):
            return found
        time.sleep(0.5)
    raise AssertionError(f"the app's journal lacks {sorted(set(ids) - set(found))}")


def test_request_id_from_nginx_reaches_the_client_nginx_log_and_app_log(host):
    forged = "client-forged-id"
    ids = []
    for path in ("/", "/health?probe=1", "/no-such-path"):
        status, headers, _ = kithttp.request(NAME, HTTPS_PORT, path, headers={"X-Request-ID": forged})
        rid = headers.get("x-request-id", "")
        # nginx's own id, once (the app's copy is hidden), never the one the client sent.
        assert re.fullmatch(r"[0-9a-f]{32}", rid), headers
        ids.append(rid)
    assert len(set(ids)) == 3
    time.sleep(0.5)
    log = {entry["request_id"]: entry for entry in _access_log(host)}
    for rid, (path, status) in zip(ids, [("/", 200), ("/health?probe=1", 200), ("/no-such-path", 404)]):
        entry = log[rid]
        assert entry["uri"] == path and entry["status"] == status and entry["method"] == "GET", entry
        assert entry["host"] == NAME and entry["server_name"] == NAME, entry
        assert entry["upstream_addr"].startswith("unix:/run/hello_api/"), entry
        assert re.fullmatch(r"\d+\.\d{3}", entry["upstream_response_time"]), entry
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d", entry["time"]), entry
        assert isinstance(entry["request_time"], float) and isinstance(entry["bytes_sent"], int), entry
        assert entry["remote_addr"] and "http_user_agent" in entry, entry
    app = _app_access_lines(host, ids)
    assert [app[rid]["status"] for rid in ids] == [200, 200, 404]
    assert [app[rid]["route"] for rid in ids] == ["/", "/health", "<unmatched>"]
    assert all(forged not in json.dumps(record) for record in app.values())


def test_every_line_of_the_nginx_access_log_is_json(host):
    # Lines of every kind: a redirect, a name no site serves (444), characters JSON must
    # escape in what a client sent, besides the app's answers of the tests before.
    kithttp.request(NAME, 18080, "/health", tls=False)
    kithttp.request(NAME, HTTPS_PORT, '/health?q="}', headers={"User-Agent": 'quote " backslash \\ tab \t end'})
    try:
        kithttp.request("unknown.example", 18080, "/", tls=False)
    except OSError:
        pass
    time.sleep(0.5)
    lines = [line for line in host.file(ACCESS_LOG).content_string.splitlines() if line]
    assert len(lines) >= 3
    assert any(json.loads(line)["status"] == 444 for line in lines)
    assert any(json.loads(line)["http_user_agent"] == 'quote " backslash \\ tab \t end' for line in lines)
    for line in lines:
        entry = json.loads(line)
        assert re.fullmatch(r"[0-9a-f]{32}", entry["request_id"]), line


def test_every_line_the_app_units_wrote_to_the_journal_is_json(host):
    records = _app_records(host, "-2h")
    units = {unit.split("@")[0] for unit, _ in records}
    assert units == {"hello_api", "hello_two"}, units
    loggers = set()
    for unit, message in records:
        try:
            record = json.loads(message)
        except ValueError:
            raise AssertionError(f"{unit} wrote a line that is not JSON: {message!r}") from None
        assert {"time", "level", "logger", "message"} <= set(record), message
        loggers.add(record["logger"])
    # Gunicorn's, Uvicorn's and the app's own lines, all of them JSON.
    assert {"gunicorn.error", "uvicorn.error", "hello_api.access"} <= loggers, loggers


def test_nginx_exporter_reads_stub_status(host):
    svc = host.service("prometheus-nginx-exporter")
    assert svc.is_running and svc.is_enabled
    status, out = _get(host, "http://127.0.0.1:9113/metrics")
    assert status == 200, out
    assert re.search(r"^nginx_up 1$", out, re.M), out
    accepted = re.search(r"^nginx_connections_accepted (\d+)", out, re.M)
    assert accepted and int(accepted.group(1)) > 0, out
    assert re.search(r"^nginx_connections_active \d+", out, re.M), out
    assert re.search(r"^nginx_http_requests_total \d+", out, re.M), out
    # Only on the address it was given.
    listening = host.check_output("ss -Htlnp")
    assert "127.0.0.1:9113" in listening and "*:9113" not in listening and "0.0.0.0:9113" not in listening


def test_exporter_unit_is_hardened(host):
    out = host.check_output("systemd-analyze security --no-pager prometheus-nginx-exporter.service")
    score = float(re.search(r"Overall exposure level for \S+: (\d+\.\d+)", out).group(1))
    print(f"prometheus-nginx-exporter.service exposure: {score}")
    assert score <= 3.0, out


# GET from the host itself, optionally from a given source address: (status, body),
# status None when no connection was made. In Python: the host has no other HTTP client.
HTTP_GET = r"""
import http.client, sys, urllib.parse
url = urllib.parse.urlsplit(sys.argv[1])
source = (sys.argv[2], 0) if len(sys.argv) > 2 else None
conn = http.client.HTTPConnection(url.hostname, url.port, timeout=10, source_address=source)
conn.request("GET", url.path or "/")
response = conn.getresponse()
sys.stdout.write("%d\n" % response.status + response.read().decode(errors="replace"))
"""


def _get(host, url, source=None):
    result = host.run("python3 -c %s %s" + (" %s" if source else ""), HTTP_GET, url, *([source] if source else []))
    if result.rc != 0:
        return None, result.stderr
    status, _, body = result.stdout.partition("\n")
    return int(status), body


def _own_address(host):
    return host.check_output("hostname -I").split()[0]


def test_stub_status_is_not_reachable_but_on_its_loopback_address(host):
    status, body = _get(host, "http://127.0.0.1:8080/stub_status")
    assert status == 200 and "Active connections" in body, body
    status, _, body = kithttp.request(NAME, HTTPS_PORT, "/stub_status")
    assert status == 404 and "Active connections" not in body
    # Not on the host's own address either.
    assert _get(host, f"http://{_own_address(host)}:8080/stub_status")[0] is None


def test_metrics_answer_404_on_every_public_server(host):
    """ATTACK: the app serves /metrics; through nginx's public servers it must not."""
    for name in (NAME, "www.app.kit.test", "two.kit.test"):
        for path in ("/metrics", "/metrics/", "/metrics?format=text", "//metrics", "/%6detrics", "/./metrics"):
            status, _, body = kithttp.request(name, HTTPS_PORT, path)
            assert status == 404 and "http_requests_total" not in body, (name, path, status, body[:200])
    # The app itself does serve them: the 404 is nginx's.
    status, body = _get(host, METRICS)
    assert status == 200 and "http_requests_total" in body


def _requests_total(host, route):
    status, out = _get(host, METRICS)
    assert status == 200, out
    return sum(float(v) for v in re.findall(r'^http_requests_total\{[^}]*route="%s"[^}]*\} (\S+)$' % re.escape(route), out, re.M))


def test_app_metrics_add_up_every_worker(host):
    n = 40
    before = _requests_total(host, "/")
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda _: kithttp.request(NAME, HTTPS_PORT, "/"), range(n)))
    assert [status for status, _, _ in results] == [200] * n
    ids = [headers["x-request-id"] for _, headers, _ in results]
    pids = {record["pid"] for record in _app_access_lines(host, ids).values()}
    assert len(pids) == 2, f"the requests reached the workers {pids}"
    assert _requests_total(host, "/") - before == n
    _, out = _get(host, METRICS)
    assert re.search(r'^http_request_duration_seconds_bucket\{[^}]*route="/"', out, re.M), out
    assert re.search(r"^http_requests_in_progress ", out, re.M), out
    # The second site's app has its own path.
    status, body = _get(host, "http://127.0.0.1:9180/metrics/hello_two")
    assert status == 200 and "http_requests_total" in body


def test_metrics_listener_refuses_an_address_not_allowed(host):
    own = _own_address(host)
    allowed, _ = _get(host, METRICS)
    refused, body = _get(host, f"http://{own}:9180/metrics/hello_api", source=own)
    assert (allowed, refused) == (200, 403), body
    assert "http_requests_total" not in body
    assert _get(host, "http://127.0.0.1:9180/metrics/no_such_app")[0] == 404

"""The site watched by its monitoring host (issue 15), right after the converge (this
file runs before test_site.py): every target site.yml derived from the inventory is up
in Prometheus's API, the exporter ports answer the monitoring host and no other
container, pebble's short-lived certificates raise the expiry alert, an app stopped on
one host raises the probe alert at the webhook within its bound, every dashboard query
returns data, and every access line of nginx and the apps is JSON with the request id
the client saw.

Prometheus and the webhook's file are read inside the monitoring container (docker
exec): nothing of it is published."""

import json
import re
import subprocess
import sys
import time
import urllib.parse
from pathlib import Path

import pytest
import testinfra.utils.ansible_runner

sys.path.insert(0, str(Path(__file__).parent.parent.parent / "shared"))
import kithttp  # noqa: E402
from alerting import alerts_in, seconds as _seconds, wait as _wait  # noqa: E402
from test_site import INVENTORY, NOTES, WEB, docker_exec  # noqa: E402

testinfra_hosts = testinfra.utils.ansible_runner.AnsibleRunner(INVENTORY).get_hosts("web")

ROOT = Path(__file__).resolve().parents[3]
MON = "kit-site-mon"
OUTSIDER = "kit-site-pebble"
WEBHOOK_FILE = "/var/lib/kit-webhook/alerts.jsonl"


def _api(path, **params):
    url = "http://127.0.0.1:9090" + path + ("?" + urllib.parse.urlencode(params) if params else "")
    r = docker_exec(MON, "python3", "-c", "import sys, urllib.request; sys.stdout.write(urllib.request.urlopen(sys.argv[1], timeout=10).read().decode())", url)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)["data"]


def _alerts_received(alertname, status="firing", since=0):
    """Alerts of `alertname` in `status` among the webhook's POST bodies (after line `since`)."""
    return alerts_in(docker_exec(MON, "cat", WEBHOOK_FILE).stdout, alertname, status, since)


def _address(container):
    out = subprocess.run(["docker", "inspect", "-f", "{{json .NetworkSettings.Networks}}", container],
                         capture_output=True, text=True, check=True).stdout
    return json.loads(out)["kit-site-net"]["IPAddress"]


def _connects(source, address, port):
    r = docker_exec(source, "python3", "-c",
                    "import socket, sys; socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=3).close()",
                    address, str(port))
    return r.returncode == 0


@pytest.fixture(scope="module")
def mon_vars():
    """The monitoring host's settings, as the inventory gives them (molecule.yml)."""
    r = subprocess.run(["ansible-inventory", "-i", INVENTORY, "--host", MON], capture_output=True, text=True, check=True)
    return json.loads(r.stdout)


def test_every_target_site_yml_derived_is_up():
    web = [_address(c) for c in WEB]
    expected = {
        "node": {f"{a}:9100" for a in web + [_address(MON)]},
        "nginx": {f"{a}:9113" for a in web},
        # notes_api says `metrics: false`: only hello_api's, on each host.
        "app": {f"{a}:9180" for a in web},
        "probe": {f"https://{n}{p}" for n, p in [(WEB[c][0], "/health") for c in WEB] + [(NOTES[c][0], "/healthz") for c in NOTES]},
    }

    def by_job():
        got = {}
        for t in _api("/api/v1/targets")["activeTargets"]:
            if t["health"] == "up":
                got.setdefault(t["labels"]["job"], set()).add(t["labels"]["instance"])
        return got if all(got.get(job) == want for job, want in expected.items()) else None

    assert _wait(by_job, 90), json.dumps(_api("/api/v1/targets")["activeTargets"], indent=1)
    # Each probe reached its app through its real TLS name, with pebble's certificate.
    ok = _wait(lambda: len([r for r in _api("/api/v1/query", query="probe_success == 1")["result"]]) == len(expected["probe"]), 60)
    assert ok, _api("/api/v1/query", query="probe_success")["result"]


@pytest.mark.parametrize("port", [9100, 9113, 9180], ids=["node", "nginx", "app-metrics"])
def test_exporter_ports_answer_the_monitoring_host_only(port):
    for container in WEB:
        address = _address(container)
        assert _connects(MON, address, port), f"{MON} cannot reach {container}:{port}"
        assert not _connects(OUTSIDER, address, port), f"{OUTSIDER} (not a monitoring host) reaches {container}:{port}"


def test_certificate_expiry_alert_arrives():
    """pebble's certificates last 45 days here, within the rule's 60 (molecule.yml)."""
    alerts = _wait(lambda: _alerts_received("CertificateExpiringSoon"), 120)
    assert alerts, docker_exec(MON, "cat", WEBHOOK_FILE).stdout
    instances = {a["labels"]["instance"] for a in alerts}
    assert any(WEB["kit-site-web1"][0] in i for i in instances), instances


def test_probe_alert_arrives_when_an_app_stops_on_one_host(mon_vars):
    bound = sum(_seconds(mon_vars[k]) for k in ("monitoring_alert_for", "monitoring_scrape_interval",
                                                 "monitoring_evaluation_interval", "monitoring_alert_group_wait")) + 15
    victim, name = "kit-site-web2", WEB["kit-site-web2"][0]
    assert not [a for a in _api("/api/v1/alerts")["alerts"] if a["labels"]["alertname"] == "HealthProbeFailing"]
    lines = len(docker_exec(MON, "cat", WEBHOOK_FILE).stdout.splitlines())
    live = docker_exec(victim, "readlink", "/srv/hello_api/slots/.live").stdout.strip()
    units = [f"hello_api@{live}.socket", f"hello_api@{live}.service"]
    start = time.monotonic()
    docker_exec(victim, "systemctl", "stop", *units)
    try:
        alerts = _wait(lambda: _alerts_received("HealthProbeFailing", since=lines), bound + 30, step=0.5)
        elapsed = time.monotonic() - start
    finally:
        docker_exec(victim, "systemctl", "start", *units)
    assert alerts, f"no HealthProbeFailing at the webhook after {bound + 30} s"
    print(f"\nHealthProbeFailing arrived {elapsed:.1f} s after the stop (bound {bound} s)")
    assert elapsed <= bound, f"HealthProbeFailing arrived after {elapsed:.0f} s, bound {bound} s"
    # Only the stopped app on the stopped host.
    assert {a["labels"]["instance"] for a in alerts} == {f"https://{name}/health"}, alerts
    assert _wait(lambda: _alerts_received("HealthProbeFailing", "resolved", since=lines), bound + 30), "never resolved"


@pytest.mark.parametrize("path", sorted((ROOT / "dashboards").glob("*.json")), ids=lambda p: p.stem)
def test_every_dashboard_query_returns_data(path):
    empty = []
    for panel in json.loads(path.read_text())["panels"]:
        for target in panel["targets"]:
            expr = target["expr"].replace("$__rate_interval", "1m").replace("$__interval", "15s")
            if not _api("/api/v1/query", query=expr)["result"]:
                empty.append((panel["title"], expr))
    assert not empty, empty


def test_every_access_line_is_json_with_the_request_id_the_client_saw(host):
    name, port = WEB[host.backend.get_hostname()]
    _, headers, _ = kithttp.request(name, port, "/")
    rid = headers.get("x-request-id", "")
    assert re.fullmatch(r"[0-9a-f]{32}", rid), headers
    time.sleep(1)
    nginx = [json.loads(line) for line in host.file("/var/log/nginx/access.log").content_string.splitlines() if line]
    assert nginx and all(re.fullmatch(r"[0-9a-f]{32}", e["request_id"]) for e in nginx)
    assert [e["uri"] for e in nginx if e["request_id"] == rid] == ["/"]
    out = host.check_output("journalctl --no-pager -o cat --since -30min -u 'hello_api@*.service' -u 'notes_api@*.service' "
                            "_TRANSPORT=stdout")
    records = []
    for line in out.splitlines():
        try:
            records.append(json.loads(line))
        except ValueError:
            raise AssertionError(f"an app unit wrote a line that is not JSON: {line!r}") from None
    assert records
    assert [r["route"] for r in records if r.get("logger") == "hello_api.access" and r.get("request_id") == rid] == ["/"]

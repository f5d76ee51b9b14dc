"""The monitoring host: every target up through Prometheus's API, the certificate-expiry
alert and (after the probe target stops) the health-probe alert arrive at the webhook,
retention flags on Prometheus's command line, the hardened units, every dashboard panel
query returns data from the live Prometheus, and a screenshot of the alerts page."""

import json
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "shared"))
from alerting import alerts_in, seconds as _seconds, wait as _wait  # noqa: E402

ROOT = Path(__file__).resolve().parents[3]
# Prometheus's port, published on the controller's loopback (molecule.yml).
PROMETHEUS = "http://127.0.0.1:39090"
WEBHOOK_FILE = "/var/lib/kit-webhook/alerts.jsonl"
UNITS = ["prometheus.service", "prometheus-alertmanager.service", "prometheus-blackbox-exporter.service"]
# The bound this scenario holds the units to: `systemd-analyze security` exposure (0 best, 10 worst).
EXPOSURE_BOUND = 2.0


def _api(path, **params):
    url = f"{PROMETHEUS}{path}" + ("?" + urllib.parse.urlencode(params) if params else "")
    with urllib.request.urlopen(url, timeout=10) as r:
        return json.loads(r.read())["data"]


def _alerts_received(host, alertname, status="firing", since=0.0):
    """Alerts of `alertname` in `status` among the webhook's POST bodies (after line `since`)."""
    return alerts_in(host.run("cat %s", WEBHOOK_FILE).stdout, alertname, status, since)


@pytest.fixture(scope="module")
def hostvars(host):
    return host.ansible.get_variables()


def test_every_target_is_up():
    expected = {"prometheus", "node", "nginx", "app", "probe"}

    def all_up():
        targets = _api("/api/v1/targets")["activeTargets"]
        return targets if {t["labels"]["job"] for t in targets if t["health"] == "up"} == expected and all(
            t["health"] == "up" for t in targets) else None

    targets = _wait(all_up, 60)
    assert targets, json.dumps(_api("/api/v1/targets")["activeTargets"], indent=1)
    node = [t for t in targets if t["labels"]["job"] == "node"][0]
    # The node exporter is scraped over TLS with basic auth (it answers 401 without).
    assert node["scrapeUrl"].startswith("https://"), node


def test_retention_flags_on_the_command_line(host, hostvars):
    pid = host.check_output("systemctl show --property MainPID --value prometheus.service")
    argv = host.check_output("cat /proc/%s/cmdline | tr '\\0' '\\n'", pid).splitlines()
    assert f"--storage.tsdb.retention.time={hostvars['monitoring_retention_time']}" in argv, argv
    assert f"--storage.tsdb.retention.size={hostvars['monitoring_retention_size']}" in argv, argv


@pytest.mark.parametrize("unit", UNITS + ["node_exporter.service"])
def test_units_run_under_the_hardening(host, unit):
    assert host.service(unit).is_running
    out = host.check_output("systemd-analyze security --no-pager %s", unit)
    level = float(re.search(r"Overall exposure level for \S+: ([0-9.]+)", out).group(1))
    assert level <= EXPOSURE_BOUND, out
    props = host.check_output("systemctl show --property ProtectSystem,NoNewPrivileges,CapabilityBoundingSet,User %s", unit)
    assert "ProtectSystem=strict" in props and "NoNewPrivileges=yes" in props, props


def test_only_loopback_and_the_published_port_listen(host):
    """Alertmanager's gossip port is off; Alertmanager and the blackbox exporter answer on loopback only."""
    out = host.check_output("ss -Htlnp")
    listening = {line.split()[3] for line in out.splitlines()}
    assert "127.0.0.1:9093" in listening and "127.0.0.1:9115" in listening, out
    assert not any(addr.endswith(":9094") for addr in listening), out


def test_certificate_expiry_alert_arrives(host):
    """The probe target's certificate ends in 10 days, within the rule's 14."""
    alerts = _wait(lambda: _alerts_received(host, "CertificateExpiringSoon"), 120)
    assert alerts, host.run("cat %s", WEBHOOK_FILE).stdout
    assert alerts[0]["labels"]["instance"] == "https://probe.kit.test:8443/health", alerts


def test_probe_alert_arrives_when_the_target_stops(host, hostvars):
    bound = (_seconds(hostvars["monitoring_alert_for"]) + _seconds(hostvars["monitoring_scrape_interval"])
             + _seconds(hostvars["monitoring_evaluation_interval"]) + _seconds(hostvars["monitoring_alert_group_wait"]) + 15)
    # Quiet before (verify may run again on the same host: earlier alerts stay in the webhook's file).
    assert not [a for a in _api("/api/v1/alerts")["alerts"] if a["labels"]["alertname"] == "HealthProbeFailing"]
    lines = len(host.run("cat %s", WEBHOOK_FILE).stdout.splitlines())
    start = time.monotonic()
    host.run("systemctl stop kit-probe-target.service")
    try:
        alerts = _wait(lambda: _alerts_received(host, "HealthProbeFailing", since=lines), bound + 30, step=0.5)
        elapsed = time.monotonic() - start
    finally:
        host.run("systemctl start kit-probe-target.service")
    assert alerts, f"no HealthProbeFailing at the webhook after {bound + 30} s"
    assert elapsed <= bound, f"HealthProbeFailing arrived after {elapsed:.0f} s, bound {bound} s"
    assert alerts[0]["labels"]["app"] == "demo", alerts
    # Resolved once the target answers again.
    assert _wait(lambda: _alerts_received(host, "HealthProbeFailing", "resolved", since=lines), bound + 30), "never resolved"


DASHBOARDS = sorted((ROOT / "dashboards").glob("*.json"))


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.stem)
def test_every_dashboard_query_returns_data(path):
    empty = []
    for panel in json.loads(path.read_text())["panels"]:
        for target in panel["targets"]:
            expr = target["expr"].replace("$__rate_interval", "1m").replace("$__interval", "15s")
            if not _api("/api/v1/query", query=expr)["result"]:
                empty.append((panel["title"], expr))
    assert not empty, empty


def test_screenshot_of_the_alerts_page():
    """Debian's Prometheus ships only the classic web UI (no React UI): its alerts page."""
    chromium = shutil.which("chromium")
    if not chromium:
        subprocess.run(["apt-get", "install", "-y", "--no-install-recommends", "chromium", "fonts-dejavu-core"],
                       check=True, capture_output=True, env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"), timeout=900)
        chromium = shutil.which("chromium")
    out = Path(os.environ.get("MOLECULE_EPHEMERAL_DIRECTORY", "/tmp")) / "prometheus-alerts.png"
    out.unlink(missing_ok=True)
    subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--window-size=1280,900",
                    f"--screenshot={out}", f"{PROMETHEUS}/classic/alerts"], check=True, capture_output=True, timeout=120)
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.stat().st_size > 10000, out
    # The page itself lists the firing certificate alert.
    with urllib.request.urlopen(f"{PROMETHEUS}/classic/alerts", timeout=10) as r:
        assert "CertificateExpiringSoon" in r.read().decode()

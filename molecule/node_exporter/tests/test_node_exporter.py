"""The node exporter: a hardened unit that answers with node_ metrics, textfile metrics
included; on the release host only over TLS and only with the right password."""

import json
import re

import pytest

PASSWORD = "kit-metrics-pass"
CA = "/etc/kit-tls/node-exporter.crt"
TEXTFILE_DIR = "/var/lib/prometheus/node-exporter"

# A small HTTP client run on the host with its python3: status and body as JSON.
HTTP = r"""
import base64, json, ssl, sys, urllib.error, urllib.request
url, user, password, cafile = sys.argv[1:5]
req = urllib.request.Request(url)
if user:
    req.add_header("Authorization", "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode())
ctx = ssl.create_default_context(cafile=cafile) if cafile else None
try:
    r = urllib.request.urlopen(req, timeout=10, context=ctx)
    print(json.dumps({"status": r.status, "body": r.read().decode()}))
except urllib.error.HTTPError as e:
    print(json.dumps({"status": e.code, "body": ""}))
except Exception as e:
    print(json.dumps({"status": 0, "body": repr(e)}))
"""


def _get(host, url, user="", password="", cafile=""):
    cmd = host.run("python3 -c %s %s %s %s %s", HTTP, url, user, password, cafile)
    assert cmd.rc == 0, cmd.stderr
    return json.loads(cmd.stdout)


def _is_release_host(host):
    return host.backend.get_hostname().endswith("-bin")


def _metrics(host):
    if _is_release_host(host):
        return _get(host, "https://127.0.0.1:9110/metrics", "prometheus", PASSWORD, CA)
    return _get(host, "http://127.0.0.1:9100/metrics")


def test_unit_is_active_and_enabled(host):
    service = host.service("node_exporter")
    assert service.is_running
    assert service.is_enabled


def test_debian_unit_is_masked_on_the_package_host(host):
    if _is_release_host(host):
        assert not host.package("prometheus-node-exporter").is_installed
        return
    assert host.package("prometheus-node-exporter").is_installed
    state = host.check_output("systemctl is-enabled prometheus-node-exporter.service || true")
    assert state == "masked"


def test_listens_only_on_the_configured_address(host):
    port = 9110 if _is_release_host(host) else 9100
    listening = host.check_output("ss -Hltn")
    assert f"127.0.0.1:{port} " in listening
    assert not re.search(rf"(0\.0\.0\.0|\*|\[::\]):{port}\b", listening)


def test_metrics_answer_with_node_metrics(host):
    r = _metrics(host)
    assert r["status"] == 200, r
    assert re.search(r"^node_cpu_seconds_total\{", r["body"], re.M)
    assert re.search(r"^node_memory_MemTotal_bytes \S+", r["body"], re.M)


def test_collectors_follow_the_lists(host):
    if _is_release_host(host):
        pytest.skip("collector lists are set on the package host")
    body = _metrics(host)["body"]
    assert 'node_scrape_collector_success{collector="interrupts"} 1' in body
    assert 'collector="wifi"' not in body
    assert 'collector="infiniband"' not in body


def test_textfile_metrics_show_up(host):
    with host.sudo():
        host.run_test(
            "printf '# HELP kit_textfile_probe A test metric.\\n# TYPE kit_textfile_probe gauge\\n"
            "kit_textfile_probe{from=\"verify\"} 42\\n' > %s/kit_probe.prom.tmp && mv %s/kit_probe.prom.tmp %s/kit_probe.prom",
            TEXTFILE_DIR, TEXTFILE_DIR, TEXTFILE_DIR,
        )
    try:
        body = _metrics(host)["body"]
        assert 'kit_textfile_probe{from="verify"} 42' in body
    finally:
        host.run("rm -f %s/kit_probe.prom", TEXTFILE_DIR)


def test_basic_auth_over_tls(host):
    if not _is_release_host(host):
        pytest.skip("TLS and basic auth are on the release host")
    url = "https://127.0.0.1:9110/metrics"
    assert _get(host, url, cafile=CA)["status"] == 401
    assert _get(host, url, "prometheus", "wrong-pass", CA)["status"] == 401
    assert _get(host, url, "prometheus", PASSWORD, CA)["status"] == 200
    # No plain HTTP on the TLS port.
    assert _get(host, "http://127.0.0.1:9110/metrics", "prometheus", PASSWORD)["status"] != 200


def test_web_config_is_private(host):
    if not _is_release_host(host):
        assert not host.file("/etc/node_exporter/web.yml").exists
        return
    f = host.file("/etc/node_exporter/web.yml")
    assert f.user == "root" and f.group == "node-exporter" and f.mode == 0o640


def test_unit_exposure_is_at_most_two(host):
    out = host.check_output("systemd-analyze security --no-pager node_exporter.service")
    score = float(re.search(r"Overall exposure level for node_exporter\.service: ([0-9.]+)", out).group(1))
    print(f"exposure {score}")
    assert score <= 2.0, out


def test_runs_as_its_own_unprivileged_user(host):
    pid = host.check_output("systemctl show -p MainPID --value node_exporter")
    status = host.file(f"/proc/{pid}/status").content_string
    uid = re.search(r"^Uid:\s+(\d+)", status, re.M).group(1)
    assert uid == host.check_output("id -u node-exporter")
    assert re.search(r"^CapEff:\s+0+$", status, re.M)

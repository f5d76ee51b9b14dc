"""playbooks/loadcheck.yml against small HTTPS servers on loopback (no host is reached):
bad settings fail before Locust runs and name the variable; a server that answers 503
or nothing at all fails the error-share bound; a healthy one passes with its reports.
The data scenario runs it against a real deploy, healthy and made slow by a setting."""

import http.server
import json
import os
import re
import ssl
import subprocess
import threading
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NAME = "app.kit.test"


def _server(tmp, status):
    """A threaded HTTPS server on a free loopback port, for NAME, answering `status`."""

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self):
            body = b'{"ok": true}'
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(tmp / "cert.pem", tmp / "key.pem")
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """A certificate for NAME, a healthy server, a failing one, a closed port, and an inventory."""
    tmp = tmp_path_factory.mktemp("loadcheck")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                    "-days", "2", "-subj", f"/CN={NAME}", "-addext", f"subjectAltName=DNS:{NAME}",
                    "-keyout", tmp / "key.pem", "-out", tmp / "cert.pem"], check=True, capture_output=True)
    healthy, failing = _server(tmp, 200), _server(tmp, 503)
    inventory = tmp / "hosts.yml"
    inventory.write_text(json.dumps({"web": {"hosts": {"kit-loadcheck-web": {
        "ansible_connection": "local", "apps": [{"name": "hello_api", "nginx_server_names": [NAME]}]}}}}))
    yield {"tmp": tmp, "inventory": inventory, "healthy": healthy.server_address[1], "failing": failing.server_address[1]}
    healthy.shutdown()
    failing.shutdown()


def loadcheck(site, port, **settings):
    results = site["tmp"] / f"results-{port}-{len(settings)}"
    extra = {"app": "hello_api", "loadcheck_connect_to": {NAME: f"127.0.0.1:{port}"}, "loadcheck_duration": 5,
             "loadcheck_users": 4, "loadcheck_rate": 20, "loadcheck_tls_verify": str(site["tmp"] / "cert.pem"),
             "loadcheck_results_dir": str(results), "loadcheck_venv": str(site["tmp"] / "venv"), **settings}
    env = dict(os.environ, ANSIBLE_FORCE_COLOR="0", ANSIBLE_NOCOLOR="1")
    run = subprocess.run(["ansible-playbook", "-i", str(site["inventory"]), str(ROOT / "playbooks/loadcheck.yml"),
                          "-e", json.dumps(extra)], cwd=ROOT, capture_output=True, text=True, env=env, timeout=600)
    return run, " ".join((run.stdout + run.stderr).split()), results


BAD = [
    ("users-zero", {"loadcheck_users": 0}, "loadcheck_users"),
    ("users-a-word", {"loadcheck_users": "many"}, "loadcheck_users"),
    ("rate-too-high", {"loadcheck_rate": 100000}, "loadcheck_rate"),
    ("duration-too-long", {"loadcheck_duration": 3600}, "loadcheck_duration"),
    ("error-share-a-percent", {"loadcheck_max_error_share": 5}, "loadcheck_max_error_share"),
    ("p95-zero", {"loadcheck_max_p95_ms": 0}, "loadcheck_max_p95_ms"),
    ("path-without-slash", {"loadcheck_path": "health"}, "loadcheck_path"),
    ("ca-file-missing", {"loadcheck_tls_verify": "/nonexistent/ca.pem"}, "loadcheck_tls_verify"),
    ("connect-to-without-port", {"loadcheck_connect_to": {NAME: "127.0.0.1"}}, "loadcheck_connect_to"),
    ("app-unknown", {"app": "other_api"}, "loadcheck_targets"),
]


@pytest.mark.parametrize("settings,variable", [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_a_bad_setting_fails_before_locust_runs_and_names_it(site, settings, variable):
    run, said, results = loadcheck(site, site["healthy"], **settings)
    assert run.returncode != 0, said
    assert variable in said, said
    assert "Put the app under load" not in said and not results.exists(), said


def test_a_healthy_app_passes_and_leaves_its_reports(site):
    run, said, results = loadcheck(site, site["healthy"])
    assert run.returncode == 0, said
    assert "hello_api passed: error share 0.0" in said, said
    (report,) = results.iterdir()
    assert {"locust_stats.csv", "locust_failures.csv", "report.html"} <= {p.name for p in report.iterdir()}
    assert re.search(r"hello_api: \d+ requests at", said), said


def test_an_app_answering_503_fails_the_error_share_and_says_so(site):
    run, said, _ = loadcheck(site, site["failing"])
    assert run.returncode != 0, said
    assert re.search(r"error share 1\.0 \(\d+ of \d+\) is above loadcheck_max_error_share 0\.01", said), said


def test_a_closed_port_fails_the_error_share(site):
    closed = http.server.HTTPServer(("127.0.0.1", 0), http.server.BaseHTTPRequestHandler)
    port = closed.server_address[1]
    closed.server_close()
    run, said, _ = loadcheck(site, port)
    assert run.returncode != 0, said
    assert "is above loadcheck_max_error_share" in said, said

"""The app tier: Gunicorn with Uvicorn workers under a hardened, socket-activated unit."""

import json
import re
import time

APP = "hello_api"
UNIT = f"{APP}@blue"
SOCKET = f"/run/{APP}/blue.sock"
ROOT = f"/srv/{APP}"

# A tiny HTTP client over the unix socket, run on the host with its python3.
HTTP = r"""
import http.client, json, socket, sys
class C(http.client.HTTPConnection):
    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(sys.argv[1])
c = C("app.internal", timeout=10)
c.request("GET", sys.argv[2], headers=json.loads(sys.argv[3]))
r = c.getresponse()
print(json.dumps({"status": r.status, "body": r.read().decode()}))
"""


def _get(host, path, headers=None):
    cmd = host.run("python3 -c %s %s %s %s", HTTP, SOCKET, path, json.dumps(headers or {}))
    assert cmd.rc == 0, cmd.stderr
    return json.loads(cmd.stdout)


def _main_pid(host):
    return int(host.check_output(f"systemctl show -p MainPID --value {UNIT}.service"))


def _current(host):
    return host.file(f"{ROOT}/current").linked_to.rsplit("/", 1)[-1]


def test_socket_and_service_are_active_and_enabled(host):
    for unit in (f"{UNIT}.socket", f"{UNIT}.service"):
        svc = host.service(unit)
        assert svc.is_running, unit
        assert svc.is_enabled, unit


def test_health_answers_200_over_the_unix_socket(host):
    r = _get(host, "/health")
    assert r["status"] == 200
    assert json.loads(r["body"])["status"] == "ok"


def test_socket_is_open_only_to_root_and_nginx(host):
    sock = host.file(SOCKET)
    assert sock.is_socket
    assert (sock.user, sock.group, sock.mode) == ("root", "www-data", 0o660)
    # The app's own user (or anyone else) cannot connect.
    assert host.run(f"runuser -u nobody -- python3 -c %s {SOCKET} /health '{{}}'", HTTP).rc != 0


def test_app_serves_the_live_release_with_its_environment(host):
    body = json.loads(_get(host, "/")["body"])
    assert body["release"] == _current(host)
    assert body["instance"] == "blue"
    assert body["greeting"] == "bonjour"


def test_forwarded_headers_from_the_front_end_are_trusted(host):
    body = json.loads(_get(host, "/", {"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.7"})["body"])
    assert body["scheme"] == "https"
    assert body["client"] == "203.0.113.7"


def test_websocket_echoes_over_the_socket(host):
    release = f"{ROOT}/current"
    code = (
        "from websockets.sync.client import unix_connect\n"
        f"with unix_connect({SOCKET!r}, 'ws://app.internal/ws') as ws:\n"
        "    ws.send('ping'); print(ws.recv(timeout=10))\n"
    )
    assert host.check_output(f"{release}/venv/bin/python -c %s", code) == "echo: ping"


def test_number_of_workers_equals_the_setting(host):
    workers = host.ansible.get_variables()["gunicorn_workers"]
    children = host.check_output(f"ps -o pid= --ppid {_main_pid(host)}").split()
    assert len(children) == workers == 2


def test_workers_run_as_the_app_user(host):
    users = set(host.check_output(f"ps -o user= --ppid {_main_pid(host)}").split())
    assert users == {APP}


def test_unit_exposure_is_at_most_2(host):
    out = host.check_output(f"systemd-analyze security --no-pager {UNIT}.service")
    score = float(re.search(r"Overall exposure level for \S+: (\d+\.\d+)", out).group(1))
    assert score <= 2.0, out


def test_changed_source_restarted_the_instance_on_a_new_release(host):
    releases = host.file(f"{ROOT}/releases").listdir()
    assert len(releases) == 2
    current = _current(host)
    assert json.loads(_get(host, "/health")["body"])["release"] == current
    # The slot the instance runs in points at the live release.
    assert host.file(f"{ROOT}/slots/blue").linked_to == f"{ROOT}/releases/{current}"


def test_service_restarts_after_a_crash(host):
    before = _main_pid(host)
    host.run(f"kill -9 {before}")
    for _ in range(30):
        time.sleep(1)
        after = _main_pid(host)
        if after not in (0, before) and host.service(f"{UNIT}.service").is_running:
            break
    assert after not in (0, before)
    for _ in range(30):
        if _get(host, "/health")["status"] == 200:
            return
        time.sleep(1)
    raise AssertionError("the instance did not answer after its restart")

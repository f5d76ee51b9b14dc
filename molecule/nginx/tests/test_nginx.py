"""nginx in front of Gunicorn: behaviour seen from outside, through 127.0.0.1:18080/18443."""

import json
import re
import ssl
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "shared"))
import kithttp  # noqa: E402

NAME = "app.kit.test"
HTTP_PORT = 18080
HTTPS_PORT = 18443
CERT = "/etc/nginx/tls/hello_api/fullchain.pem"


def test_nginx_is_running_and_enabled(host):
    svc = host.service("nginx")
    assert svc.is_running and svc.is_enabled


def test_root_and_health_reach_the_app_over_https(host):
    status, _, body = kithttp.request(NAME, HTTPS_PORT, "/")
    assert status == 200, body
    data = json.loads(body)
    assert data["app"] == "hello_api"
    assert data["scheme"] == "https"
    # The client as nginx saw it, not what a client claims.
    status, _, body = kithttp.request(NAME, HTTPS_PORT, "/", headers={"X-Forwarded-For": "203.0.113.9"})
    assert json.loads(body)["client"] != "203.0.113.9"
    status, _, body = kithttp.request(NAME, HTTPS_PORT, "/health")
    assert status == 200 and json.loads(body)["status"] == "ok"


def test_every_server_name_is_served(host):
    status, _, _ = kithttp.request("www.app.kit.test", HTTPS_PORT, "/health")
    assert status == 200


def test_http_redirects_to_https(host):
    status, headers, _ = kithttp.request(NAME, HTTP_PORT, "/health?x=1", tls=False)
    assert status == 301
    assert headers["location"] == f"https://{NAME}/health?x=1"


def test_acme_challenge_path_is_served_over_http(host):
    token = "kit-test-token"
    host.run("mkdir -p /var/www/letsencrypt/.well-known/acme-challenge")
    host.run(f"printf ok-{token} > /var/www/letsencrypt/.well-known/acme-challenge/{token}")
    status, _, body = kithttp.request(NAME, HTTP_PORT, f"/.well-known/acme-challenge/{token}", tls=False)
    assert (status, body) == (200, f"ok-{token}")


def test_websocket_echoes_through_nginx(host):
    assert kithttp.websocket_echo(NAME, HTTPS_PORT, "/ws", "hi nginx") == "echo: hi nginx"


def test_static_file_is_served_by_nginx(host):
    status, headers, body = kithttp.request(NAME, HTTPS_PORT, "/static/kit.txt")
    assert status == 200 and body == "static from nginx\n"
    assert "expires" in headers and "cache-control" in headers


def test_gzip_compresses_text(host):
    host.run("head -c 4096 /dev/zero | tr '\\0' a > /var/www/hello_api/static/big.txt")
    status, headers, _ = kithttp.request(NAME, HTTPS_PORT, "/static/big.txt", headers={"Accept-Encoding": "gzip"})
    assert status == 200 and headers.get("content-encoding") == "gzip"


def test_unknown_host_names_get_no_answer(host):
    with pytest.raises((ConnectionError, OSError)):
        kithttp.request("unknown.example", HTTP_PORT, "/", tls=False)
    with pytest.raises(ssl.SSLError):
        kithttp.request("unknown.example", HTTPS_PORT, "/")


def test_security_headers_and_no_version(host):
    _, headers, _ = kithttp.request(NAME, HTTPS_PORT, "/")
    assert headers["strict-transport-security"] == "max-age=63072000"
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["x-frame-options"] == "DENY"
    assert headers["content-security-policy"] == "frame-ancestors 'none'"
    assert headers["referrer-policy"] == "strict-origin-when-cross-origin"
    assert headers["server"] == "nginx"
    _, headers, _ = kithttp.request(NAME, HTTP_PORT, "/", tls=False)
    assert headers["server"] == "nginx"
    assert "strict-transport-security" not in headers


def test_http2_is_offered(host):
    ctx = kithttp.tls_context()
    ctx.set_alpn_protocols(["h2", "http/1.1"])
    import socket

    with socket.create_connection(("127.0.0.1", HTTPS_PORT), timeout=10) as sock:
        with ctx.wrap_socket(sock, server_hostname=NAME) as tls:
            assert tls.selected_alpn_protocol() == "h2"


def test_tls_1_3_and_1_2_are_offered_and_nothing_older(host):
    """Mozilla intermediate: TLS 1.2 and 1.3. The versions come from the default
    server of the address, which the role configures as well."""
    import socket
    import ssl

    def version(lowest, highest):
        ctx = kithttp.tls_context()
        ctx.minimum_version, ctx.maximum_version = lowest, highest
        # Let this client offer the old versions, so that a refusal is the server's.
        ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
        try:
            with socket.create_connection(("127.0.0.1", HTTPS_PORT), timeout=10) as sock:
                with ctx.wrap_socket(sock, server_hostname=NAME) as tls:
                    return tls.version()
        except ssl.SSLError:
            return None

    assert version(ssl.TLSVersion.TLSv1_3, ssl.TLSVersion.TLSv1_3) == "TLSv1.3"
    assert version(ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_2) == "TLSv1.2"
    assert version(ssl.TLSVersion.TLSv1, ssl.TLSVersion.TLSv1_1) is None


def test_key_exchange_prefers_the_hybrid_post_quantum_group_where_openssl_has_it(host):
    """Mozilla guideline 6.0: X25519MLKEM768 first, where the host's OpenSSL offers it
    (3.5, Debian 13); X25519 first elsewhere (Debian 12's 3.0). A client offering both
    gets the hybrid group on Debian 13. The client runs on the host: the controller's
    OpenSSL may not know the group. The default server lists the same groups, since
    a handshake takes its groups from there."""
    hybrid = "X25519MLKEM768" in host.run("openssl list -tls-groups").stdout
    assert hybrid == (host.system_info.codename == "trixie")
    offer = "X25519MLKEM768:X25519" if hybrid else "X25519:prime256v1"
    out = host.run("echo | openssl s_client -connect 127.0.0.1:443 -servername %s -groups %s 2>&1", NAME, offer).stdout
    group = re.search(r"^(?:Negotiated TLS1.3 group|(?:Peer|Server) Temp Key): (\w+)", out, re.M)
    assert group and group.group(1) == ("X25519MLKEM768" if hybrid else "X25519"), out
    curves = host.run("grep -ho 'ssl_ecdh_curve [^;]*' /etc/nginx/sites-available/hello_api.conf"
                      " /etc/nginx/conf.d/00-fastapi-kit-http.conf").stdout.split()
    assert curves[1::2] == [("X25519MLKEM768:" if hybrid else "") + "X25519:prime256v1:secp384r1"] * 2


def test_upstream_is_its_own_file_pointing_at_the_blue_socket(host):
    conf = host.file("/etc/nginx/conf.d/hello_api-upstream.conf")
    assert conf.contains("server unix:/run/hello_api/blue.sock;")
    assert conf.contains("keepalive 16;")
    assert conf.contains(r"limit_req_zone \$binary_remote_addr zone=hello_api_app_rate:10m rate=50r/s;")


def test_broken_setting_failed_with_nginx_message_and_old_config_serves(host):
    record = json.loads(host.file("/root/kit-broken-nginx.json").content_string)
    assert record["task"] == "Render the site"
    result = json.dumps(record["result"])
    assert "[emerg]" in result and 'unknown directive \\"kit_no_such_directive\\"' in result, result
    assert not host.file("/etc/nginx/sites-available/hello_api.conf").contains("kit_no_such_directive")
    status, _, _ = kithttp.request(NAME, HTTPS_PORT, "/health")
    assert status == 200


def test_rate_limit_rejects_a_flood(host):
    from concurrent.futures import ThreadPoolExecutor

    def status(path):
        try:
            return kithttp.request(NAME, HTTPS_PORT, path)[0]
        except OSError:
            return 0

    with ThreadPoolExecutor(20) as pool:
        app = list(pool.map(status, ["/health"] * 400))
        static = list(pool.map(status, ["/static/kit.txt"] * 200))
    # The app is limited per client (50 r/s, burst 100); static files are not.
    assert 429 in app and 200 in app, sorted(set(app))
    assert set(static) == {200}, sorted(set(static))


def test_unit_has_the_hardening_drop_in_and_its_exposure(host):
    out = host.check_output("systemd-analyze security --no-pager nginx.service")
    score = float(re.search(r"Overall exposure level for \S+: (\d+\.\d+)", out).group(1))
    print(f"nginx.service exposure: {score}")
    assert score <= 3.0, out


def test_tls_scan_passes_mozilla_intermediate(host, tmp_path):
    """sslyze from the controller, with the placeholder as the trusted CA."""
    ca = tmp_path / "placeholder.pem"
    ca.write_text(host.file(CERT).content_string)
    kithttp.sslyze_intermediate(NAME, HTTPS_PORT, ca)


# --- Issue 11, item 12: forwarded headers and the socket's group ---------------------

# What an echo upstream sees of a request, as JSON of its header lines.
ECHO_UPSTREAM = r"""
import json, os, socket, sys
path = sys.argv[1]
srv = socket.socket(socket.AF_UNIX)
srv.bind(path)
os.chmod(path, 0o666)
srv.listen(16)
while True:
    conn, _ = srv.accept()
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = conn.recv(4096)
        if not chunk:
            break
        head += chunk
    lines = head.decode("latin-1").split("\r\n")[1:]
    body = json.dumps([l for l in lines if l]).encode()
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n"
                 b"Content-Length: %d\r\n\r\n" % len(body) + body)
    conn.close()
"""

SPOOFED = {
    "Forwarded": "for=203.0.113.66;proto=http;host=evil.example",
    "X-Real-IP": "203.0.113.66",
    "X-Forwarded-Port": "6666",
    "X-Forwarded-Prefix": "/evil",
    "X-Forwarded-For": "203.0.113.66",
    "X-Forwarded-Proto": "http",
    "X-Forwarded-Host": "evil.example",
    "X-Forwarded-Ssl": "off",
    "X-Forwarded-Protocol": "evil",
}


def test_client_cannot_spoof_forwarded_headers_to_the_app(host):
    """The headers nginx sends upstream, seen by an echo server that stands in for
    Gunicorn for the length of the test (the upstream file points at it, then back)."""
    upstream = "/etc/nginx/conf.d/hello_api-upstream.conf"
    host.check_output("cp -p %s /root/kit-upstream.conf.saved", upstream)
    host.run("cat > /root/kit-echo-upstream.py <<'EOF'\n%sEOF" % ECHO_UPSTREAM)
    host.run("rm -f /run/kit-echo.sock; systemctl stop kit-echo 2>/dev/null; systemctl reset-failed kit-echo 2>/dev/null")
    host.check_output("systemd-run --unit kit-echo -p RuntimeMaxSec=120 python3 /root/kit-echo-upstream.py /run/kit-echo.sock")
    try:
        host.check_output("for _ in $(seq 50); do [ -S /run/kit-echo.sock ] && break; sleep 0.1; done; "
                          "sed -i 's#server unix:[^;]*;#server unix:/run/kit-echo.sock;#' %s && nginx -t -q && systemctl reload nginx", upstream)
        for _ in range(50):
            status, _, body = kithttp.request(NAME, HTTPS_PORT, "/spoof", headers=SPOOFED)
            if status == 200 and body.startswith("["):
                break
            time.sleep(0.1)
        assert status == 200, body
        seen = {}
        for line in json.loads(body):
            key, _, value = line.partition(":")
            seen.setdefault(key.strip().lower(), []).append(value.strip())
        print(json.dumps(seen, indent=1))
        for key in ("forwarded", "x-forwarded-prefix", "x-forwarded-ssl", "x-forwarded-protocol"):
            assert key not in seen, (key, seen[key])
        assert seen["x-real-ip"] == seen["x-forwarded-for"] and "203.0.113.66" not in seen["x-real-ip"][0]
        assert seen["x-forwarded-port"] == ["443"]
        assert seen["x-forwarded-proto"] == ["https"]
        assert seen["x-forwarded-host"] == [NAME]
    finally:
        host.run("mv /root/kit-upstream.conf.saved %s && nginx -t -q && systemctl reload nginx", upstream)
        host.run("systemctl stop kit-echo; rm -f /run/kit-echo.sock /root/kit-echo-upstream.py")
    # A reload only signals nginx: the workers of the echo configuration may answer a moment longer.
    for _ in range(50):
        status, _, _ = kithttp.request(NAME, HTTPS_PORT, "/health")
        if status == 200:
            break
        time.sleep(0.1)
    assert status == 200


def _live(host, app="hello_api"):
    """The live Gunicorn instance of app, blue or green."""
    return host.check_output(f"readlink /srv/{app}/slots/.live")


def _live_socket(host, app="hello_api"):
    return f"/run/{app}/{_live(host, app)}.sock"


# Both sites of the host: the guarantees hold for every app.
@pytest.mark.parametrize("app", ["hello_api", "hello_two"])
def test_other_www_data_processes_cannot_reach_gunicorn(host, app):
    """php-fpm or another site runs as www-data too: it must not reach the socket of an
    app that trusts every forwarded header. nginx's workers reach it through a group of
    their own, which www-data itself is not a member of."""
    sock = _live_socket(host, app)
    connect = "import socket,sys; s=socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); print('connected')"
    r = host.run("runuser -u www-data -- python3 -c %s %s", connect, sock)
    assert r.rc != 0 and "PermissionError" in r.stderr, (r.rc, r.stdout, r.stderr)
    f = host.file(sock)
    assert (f.user, f.group, f.mode) == ("root", "nginx-upstream", 0o660)
    assert "nginx-upstream" not in host.check_output("id -nG www-data").split()
    workers = host.check_output("pgrep -d ' ' -f '^nginx: worker process$'").split()
    assert workers
    for pid in workers:
        status = host.file(f"/proc/{pid}/status").content_string
        gid = re.search(r"^Gid:\s+(\d+)", status, re.M).group(1)
        assert host.check_output("getent group %s", gid).split(":")[0] == "nginx-upstream"
    status, _, body = kithttp.request(NAME, HTTPS_PORT, "/health")
    assert status == 200, body


# --- Issue 11, item 13: a Host that is not the SNI's site -----------------------------


def _curl(*args):
    import subprocess

    r = subprocess.run(
        ["curl", "-sk", "-o", "/dev/null", "-w", "%{http_version} %{http_code}",
         "--connect-to", f"{NAME}:443:127.0.0.1:{HTTPS_PORT}", *args],
        capture_output=True, text=True, timeout=30,
    )
    return r.stdout


@pytest.mark.parametrize("version", ["--http1.1", "--http2"])
def test_host_other_than_the_sni_site_is_misdirected(host, version):
    """SNI app.kit.test, Host another name: 421, not nginx's default root."""
    assert _curl(version, f"https://{NAME}/health") == ("2 200" if version == "--http2" else "1.1 200")
    assert _curl(version, "-H", "Host: www.app.kit.test", f"https://{NAME}/health").endswith(" 200")
    assert _curl(version, "-H", "Host: other.example", f"https://{NAME}/") == ("2 421" if version == "--http2" else "1.1 421")
    assert _curl(version, "-H", "Host: other.example", f"https://{NAME}/index.html").endswith(" 421")


# --- Issue 11, item 14: long-lived connections -----------------------------------------


def test_stream_and_websocket_stay_open_while_idle_for_60_s(host):
    """A stream silent for 60 s (and a WebSocket idle for as long, at the same time)
    outlives nginx_proxy_read_timeout (35 s) in the locations of nginx_websocket_paths."""
    import socket
    import threading

    ws_result = {}

    def idle_websocket():
        try:
            ws_result["value"] = _websocket_idle(NAME, HTTPS_PORT, "/ws", 60)
        except Exception as exc:  # noqa: BLE001
            ws_result["value"] = repr(exc)

    t = threading.Thread(target=idle_websocket)
    t.start()
    started = time.monotonic()
    sock = socket.create_connection(("127.0.0.1", HTTPS_PORT), timeout=90)
    with kithttp.tls_context().wrap_socket(sock, server_hostname=NAME) as tls:
        tls.sendall(f"GET /stream?gap=60 HTTP/1.1\r\nHost: {NAME}\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while True:
            try:
                chunk = tls.recv(65536)
            except (ssl.SSLError, OSError):
                break
            if not chunk:
                break
            data += chunk
    elapsed = time.monotonic() - started
    t.join(90)
    text = data.decode(errors="replace")
    print(f"stream closed after {elapsed:.0f} s: {text!r}; websocket: {ws_result}")
    assert text.startswith("HTTP/1.1 200"), text
    assert "first\n" in text and "second\n" in text, f"closed after {elapsed:.0f} s: {text!r}"
    assert ws_result.get("value") == "echo: after the silence", ws_result


def _websocket_idle(name, port, path, seconds):
    """Open a WebSocket, stay silent for `seconds` (answering pings, as browsers do),
    then send a message and return the answer."""
    import base64
    import os
    import select
    import socket

    sock = socket.create_connection(("127.0.0.1", port), timeout=15)
    tls = kithttp.tls_context().wrap_socket(sock, server_hostname=name)
    try:
        key = base64.b64encode(os.urandom(16)).decode()
        tls.sendall(
            (f"GET {path} HTTP/1.1\r\nHost: {name}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
             f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode()
        )
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = tls.recv(1)
            if not chunk:
                return f"closed during the handshake: {head!r}"
            head += chunk
        if b" 101 " not in head.split(b"\r\n", 1)[0]:
            return f"no upgrade: {head!r}"

        def send(opcode, payload):
            mask = os.urandom(4)
            tls.sendall(bytes([0x80 | opcode, 0x80 | len(payload)]) + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))

        def frame():
            first, second = kithttp._read(tls, 2)
            return first & 0x0F, kithttp._read(tls, second & 0x7F)

        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if tls.pending() or select.select([tls], [], [], max(0, deadline - time.monotonic()))[0]:
                opcode, payload = frame()
                if opcode == 0x9:
                    send(0xA, payload)
                else:
                    return f"unexpected frame {opcode:#x} {payload!r} after {seconds - (deadline - time.monotonic()):.0f} s"
        send(0x1, b"after the silence")
        while True:
            opcode, payload = frame()
            if opcode == 0x1:
                return payload.decode()
            if opcode == 0x9:
                send(0xA, payload)
            else:
                return f"unexpected frame {opcode:#x} {payload!r}"
    finally:
        tls.close()


# --- Issue 11, item 17: logs rotate and errors reach the journal ----------------------


def test_nginx_logs_rotate(host):
    """logrotate is installed, its timer runs, and a forced rotation makes nginx write
    to a fresh access.log."""
    assert host.package("logrotate").is_installed
    timer = host.service("logrotate.timer")
    assert timer.is_enabled and timer.is_running
    assert host.run("logrotate -d /etc/logrotate.d/nginx").rc == 0
    host.check_output("logrotate -f /etc/logrotate.d/nginx")
    assert host.file("/var/log/nginx/access.log.1").exists
    kithttp.request(NAME, HTTPS_PORT, "/health?rotated=1")
    for _ in range(20):
        if host.file("/var/log/nginx/access.log").contains("rotated=1"):
            break
        time.sleep(0.25)
    assert host.file("/var/log/nginx/access.log").contains("rotated=1")


# Requests straight to the app's socket, bounded in count and time.
SOCKET_LOAD = r"""
import http.client, socket, sys, threading, time
path, total, seconds = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
class C(http.client.HTTPConnection):
    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.connect(path)
sent, failed = [0], []
lock = threading.Lock()
deadline = time.monotonic() + seconds
def run():
    c = C("app")
    while time.monotonic() < deadline:
        with lock:
            if sent[0] >= total:
                return
            sent[0] += 1
        try:
            c.request("GET", "/health")
            c.getresponse().read()
        except Exception as exc:
            failed.append(repr(exc))
            c.close()
            c = C("app")
threads = [threading.Thread(target=run) for _ in range(4)]
[t.start() for t in threads]
[t.join() for t in threads]
print(sent[0], len(failed), failed[:3])
"""


def test_app_errors_reach_the_journal_after_a_burst_of_requests(host):
    """journald's rate limit counts per service: a burst of requests must not make it
    drop the error line that follows. The test host's journald gets a low limit
    (200 lines per 60 s, which journald multiplies by a factor for free disk space,
    about 4 here) so that 3000 requests cross it as a busy production host crosses
    the default (10000 per 30 s, times the same factor). Since issue 15 the app writes
    an access line per request, so the burst does cross it: the instance's own limit
    (gunicorn_log_rate_limit_burst, far above it by default) is what keeps the error line."""
    unit = f"hello_api@{_live(host)}.service"
    conf = "/etc/systemd/journald.conf.d/kit-test-ratelimit.conf"
    host.check_output(f"mkdir -p /etc/systemd/journald.conf.d && printf '[Journal]\\nRateLimitIntervalSec=60s\\nRateLimitBurst=200\\n' > {conf}"
                      " && systemctl restart systemd-journald")
    try:
        since = host.check_output("date '+%Y-%m-%d %H:%M:%S'")
        host.run("sleep 1")
        sent, failed = host.check_output("python3 -c %s %s 3000 10", SOCKET_LOAD, _live_socket(host)).split(" ", 1)
        # A malformed request: Uvicorn logs a warning to Gunicorn's error log.
        host.run("printf 'KIT-BAD\\r\\n\\r\\n' | python3 -c %s %s",
                 "import socket,sys; s=socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); "
                 "s.sendall(sys.stdin.buffer.read()); s.recv(4096)", _live_socket(host))
        host.run("sleep 2; journalctl --sync")
        access = host.run("journalctl -q -u %s --since %s -o cat -g 'GET /health'", unit, since).stdout.count("\n")
        error = host.run("journalctl -q -u %s --since %s -o cat -g 'Invalid HTTP request'", unit, since).stdout
        print(f"sent {sent} requests, failed {failed}; {access} access lines in the journal")
        assert int(sent) > 1000 and failed.startswith("0 "), failed
        assert "Invalid HTTP request" in error, f"the error line is lost, {access} access lines were kept"
        # The burst really was a burst of journal lines: every access line was kept.
        assert access >= int(sent), f"{access} access lines for {sent} requests"
    finally:
        host.run(f"rm -f {conf}; systemctl restart systemd-journald")


# --- Issue 12, item 2: a second site on the same host ---------------------------------

TWO = "two.kit.test"


def test_configuration_with_two_sites_passes_nginx_t(host):
    r = host.run("nginx -t")
    assert r.rc == 0, r.stderr


def test_each_site_is_served_by_its_own_app_over_https(host):
    status, _, body = kithttp.request(NAME, HTTPS_PORT, "/")
    assert status == 200, body
    assert json.loads(body)["greeting"] == "hello"
    status, _, body = kithttp.request(TWO, HTTPS_PORT, "/")
    assert status == 200, body
    assert json.loads(body)["greeting"] == "hello from two"
    status, _, body = kithttp.request(TWO, HTTPS_PORT, "/health")
    assert status == 200 and json.loads(body)["status"] == "ok"
    # Each site its own upstream, socket and certificate.
    assert host.file("/etc/nginx/conf.d/hello_two-upstream.conf").contains("server unix:/run/hello_two/")
    assert kithttp.peer_certificate(TWO, HTTPS_PORT) != kithttp.peer_certificate(NAME, HTTPS_PORT)
    status, headers, _ = kithttp.request(TWO, HTTP_PORT, "/health", tls=False)
    assert status == 301 and headers["location"] == f"https://{TWO}/health"


def test_http_wide_settings_are_written_once(host):
    """gzip, the upgrade map, limit_req_status and the default servers live in one file
    of the kit's own name; each site adds only its upstream (with its own rate-limit
    zone), its server blocks and its link."""
    conf_d = host.check_output("ls /etc/nginx/conf.d").split()
    assert sorted(conf_d) == ["00-fastapi-kit-http.conf", "hello_api-upstream.conf", "hello_two-upstream.conf"], conf_d
    dump = host.check_output("nginx -T 2>/dev/null")
    assert len(re.findall(r"^\s*gzip on;", dump, re.M)) == 1
    assert len(re.findall(r"^\s*map \$http_upgrade \$kit_connection_upgrade", dump, re.M)) == 1
    assert len(re.findall(r"^\s*limit_req_status ", dump, re.M)) == 1
    assert len(re.findall(r"default_server", dump, re.M)) == (4 if "listen [::]" in dump else 2)
    zones = re.findall(r"^\s*limit_req_zone \S+ zone=(\w+):", dump, re.M)
    assert sorted(zones) == ["hello_api_app_rate", "hello_two_app_rate"], zones


def test_unknown_names_are_still_refused_next_to_two_sites(host):
    with pytest.raises(ssl.SSLError):
        kithttp.request("unknown.example", HTTPS_PORT, "/")
    with pytest.raises((ConnectionError, OSError)):
        kithttp.request("unknown.example", HTTP_PORT, "/", tls=False)
    for sni in (NAME, TWO):
        status, _, _ = kithttp.request(sni, HTTPS_PORT, "/", headers={"Host": "other.example"})
        assert status == 421, sni


def test_previous_layout_moved_to_the_host_wide_file(host):
    """side_effect.yml laid the host out as the previous version did (gzip and the zone
    in conf.d/hello_api-http.conf, the default servers in the site), loaded it, and ran
    the role: the old file is gone in the same run, without a restart."""
    record = json.loads(host.file("/root/kit-nginx-migration.json").content_string)
    assert record["old_gzip"] == "1", record
    assert record["after"] == ["00-fastapi-kit-http.conf", "hello_api-upstream.conf", "hello_two-upstream.conf",
                               "nginx-t-passed", "gzip 1"], record
    assert record["pid_before"] == record["pid_after"], record
    assert not host.file("/etc/nginx/conf.d/hello_api-http.conf").exists
    assert not host.file("/etc/nginx/sites-available/hello_api.conf").contains("default_server")


ASK_ON_THE_HOST = (
    "import http.client, socket, ssl, sys; ctx = ssl._create_unverified_context(); "
    "s = ctx.wrap_socket(socket.create_connection(('127.0.0.1', 443)), server_hostname=sys.argv[1]); "
    "c = http.client.HTTPConnection('127.0.0.1'); c.sock = s; c.request('GET', '/health', headers={'Host': sys.argv[1]}); "
    "r = c.getresponse(); print(r.status, r.getheader('X-Kit-Upstream', '-'))"
)


@pytest.mark.parametrize("site,app", [(NAME, "hello_api"), (TWO, "hello_two")])
def test_the_socket_that_answered_is_told_to_the_host_only(host, site, app):
    """A blue/green switch asks the site through nginx, from the host, which socket
    answered (X-Kit-Upstream), before the old instance stops. A client anywhere else
    (here: through the published port) must not learn the host's socket paths."""
    status, headers, _ = kithttp.request(site, HTTPS_PORT, "/health")
    assert status == 200 and "x-kit-upstream" not in headers, headers
    answer = host.check_output("python3 -c %s %s", ASK_ON_THE_HOST, site)
    assert answer.split() == ["200", f"unix:{_live_socket(host, app)}"], answer

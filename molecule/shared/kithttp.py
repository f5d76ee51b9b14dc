"""Talk to the test host's nginx from the controller, through ports published on 127.0.0.1.

The TLS connection goes to 127.0.0.1 and carries the site's name as SNI and Host, so
that nginx picks the site as it would for a real client.
"""

import base64
import http.client
import os
import socket
import ssl
import struct
import subprocess
import sys
from pathlib import Path


def tls_context(cafile=None):
    ctx = ssl.create_default_context(cafile=cafile) if cafile else ssl._create_unverified_context()
    return ctx


class _HTTPS(http.client.HTTPSConnection):
    def __init__(self, name, port, ctx):
        super().__init__(name, port, context=ctx, timeout=15)
        self._port = port

    def connect(self):
        sock = socket.create_connection(("127.0.0.1", self._port), timeout=15)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)


class _HTTP(http.client.HTTPConnection):
    def __init__(self, name, port):
        super().__init__(name, port, timeout=15)
        self._port = port

    def connect(self):
        self.sock = socket.create_connection(("127.0.0.1", self._port), timeout=15)


def request(name, port, path, tls=True, ctx=None, headers=None):
    """GET path from the site `name`; returns (status, headers as dict, body text)."""
    conn = _HTTPS(name, port, ctx or tls_context()) if tls else _HTTP(name, port)
    try:
        conn.request("GET", path, headers={"Host": name, **(headers or {})})
        r = conn.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read().decode(errors="replace")
    finally:
        conn.close()


def peer_certificate(name, port):
    """The DER certificate nginx serves for SNI `name`."""
    with socket.create_connection(("127.0.0.1", port), timeout=15) as sock:
        with tls_context().wrap_socket(sock, server_hostname=name) as tls:
            return tls.getpeercert(binary_form=True)


def websocket_echo(name, port, path, message):
    """Send one text message over wss:// and return the text the server sends back."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=15)
    tls = tls_context().wrap_socket(sock, server_hostname=name)
    try:
        key = base64.b64encode(os.urandom(16)).decode()
        tls.sendall(
            (
                f"GET {path} HTTP/1.1\r\nHost: {name}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
            ).encode()
        )
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = tls.recv(1)
            if not chunk:
                raise AssertionError(f"connection closed during the handshake: {head!r}")
            head += chunk
        status = head.split(b"\r\n", 1)[0]
        assert b" 101 " in status, head
        payload = message.encode()
        mask = os.urandom(4)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        assert len(payload) < 126
        tls.sendall(bytes([0x81, 0x80 | len(payload)]) + mask + masked)
        first, second = _read(tls, 2)
        length = second & 0x7F
        if length == 126:
            length = struct.unpack("!H", _read(tls, 2))[0]
        assert first & 0x0F == 1, f"not a text frame: {first:#x}"
        return _read(tls, length).decode()
    finally:
        tls.close()


def _read(sock, n):
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise AssertionError("connection closed")
        data += chunk
    return data


def sslyze_intermediate(name, port, ca_file):
    """Scan name on 127.0.0.1:port with sslyze against Mozilla's intermediate profile,
    trusting ca_file, and check that it is compliant. Returns sslyze's output."""
    sslyze = Path(sys.executable).parent / "sslyze"
    r = subprocess.run(
        [str(sslyze), "--mozilla_config=intermediate", f"--certinfo_ca_file={ca_file}", f"{name}:{port}{{127.0.0.1}}"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    print(r.stdout[-3000:])
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"{name}:{port}: OK - Compliant." in r.stdout, r.stdout
    return r.stdout

"""A steady HTTPS load against the web hosts, through the ports published on 127.0.0.1.

Threads keep connections alive as browsers and load balancers do and open a new
one after an error. Every request counts: an exception or a status other than 200
is a failure. Like every HTTP client (RFC 9112, section 9.3.1; urllib3, browsers),
a GET sent on a reused keep-alive connection that the server closed before
answering is sent once more on a new connection; such retries are counted apart
and reported. The load is bounded in time and in count, and stops by itself.
"""

import http.client
import socket
import ssl
import threading
import time
from dataclasses import dataclass, field


class _HTTPS(http.client.HTTPSConnection):
    """HTTPS to 127.0.0.1:port with the host name as SNI and Host, like a browser to that name."""

    def __init__(self, name, port, timeout):
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        super().__init__(name, port, timeout=timeout, context=ctx)
        self._port_on_loopback = port

    def connect(self):
        sock = socket.create_connection(("127.0.0.1", self._port_on_loopback), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)


@dataclass
class Load:
    targets: list  # [(server name, port on 127.0.0.1)]
    path: str = "/health"
    threads: int = 6
    # Requests per second for all threads together: steady, not a saturation test,
    # so that the deploy under test keeps its share of the two cores. 100 (each thread
    # every 60 ms on its kept-alive connection) for the site and data scenarios, which
    # share the machine with other jobs in `make test`; the zero-downtime bench sets 300.
    rate: float = 100
    max_seconds: float = 900
    max_requests: int = 2_000_000
    sent: int = 0
    failed: int = 0
    retried: int = 0
    errors: dict = field(default_factory=dict)
    releases: dict = field(default_factory=dict)

    def __post_init__(self):
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._workers = []
        self.started = self.stopped = 0.0

    def _run(self, index):
        name, port = self.targets[index % len(self.targets)]
        conn = None
        deadline = self.started + self.max_seconds
        interval = self.threads / self.rate
        next_at = time.monotonic()
        while not self._stop.is_set() and time.monotonic() < deadline:
            next_at += interval
            pause = next_at - time.monotonic()
            if pause > 0:
                time.sleep(pause)
            else:
                next_at = time.monotonic()
            with self._lock:
                if self.sent >= self.max_requests:
                    return
                self.sent += 1
            try:
                reused = conn is not None
                if conn is None:
                    conn = _HTTPS(name, port, timeout=30)
                try:
                    conn.request("GET", self.path, headers={"Host": name})
                    resp = conn.getresponse()
                except (http.client.RemoteDisconnected, ConnectionError, ssl.SSLEOFError, ssl.SSLZeroReturnError):
                    if not reused:
                        raise
                    # The server closed the idle connection as the request went out.
                    with self._lock:
                        self.retried += 1
                    conn.close()
                    conn = _HTTPS(name, port, timeout=30)
                    conn.request("GET", self.path, headers={"Host": name})
                    resp = conn.getresponse()
                body = resp.read()
                if resp.status != 200:
                    raise RuntimeError(f"HTTP {resp.status}")
                if b'"release"' in body:
                    with self._lock:
                        self.releases[name] = body
            except Exception as exc:  # every failure counts, whatever its kind
                with self._lock:
                    self.failed += 1
                    key = f"{name}: {type(exc).__name__}: {exc}"[:200]
                    self.errors[key] = self.errors.get(key, 0) + 1
                if conn is not None:
                    conn.close()
                conn = None

    def __enter__(self):
        self.started = time.monotonic()
        for i in range(self.threads):
            t = threading.Thread(target=self._run, args=(i,), daemon=True)
            t.start()
            self._workers.append(t)
        return self

    def __exit__(self, *exc):
        self._stop.set()
        for t in self._workers:
            t.join(timeout=60)
        self.stopped = time.monotonic()
        return False

    def report(self, label):
        return (
            f"{label}: requests sent {self.sent}, failed {self.failed}, "
            f"resent on a closed keep-alive connection {self.retried}, "
            f"load for {self.stopped - self.started:.1f} s"
            + (f"; errors {self.errors}" if self.errors else "")
        )

"""Which socket does nginx serve a site from? Asked through nginx itself.

Sends GET PATH to the site on this host (127.0.0.1, with the site's name as Host and
as the TLS server name; the certificate is not checked: the question is about the
upstream) and reads X-Kit-Upstream, which the site sends to clients on the host
only: the socket that answered, as nginx's $upstream_addr.

Usage: serving_socket.py NAME PATH TLS SOCKET SECONDS [OLD_WORKER_PID ...]
  TLS      1 for HTTPS on 443, 0 for HTTP on 80
  SECONDS  0 asks once; else asks until SOCKET answers 200 or the time is up
  OLD_WORKER_PID  the nginx workers from before a reload: once SOCKET answers, wait
           (within SECONDS) for them to finish their requests and exit, and require
           a worker that is not one of them (the reload took)
Prints one line of JSON; exits 0 when SOCKET answered 200, 1 otherwise.
"""

import http.client
import json
import os
import socket
import ssl
import sys
import time

name, path, tls, sock, seconds = sys.argv[1], sys.argv[2], sys.argv[3] == "1", sys.argv[4], float(sys.argv[5])
old = {int(pid) for pid in sys.argv[6:]}
want = "unix:" + sock


def workers():
    found = set()
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    if f.read().startswith(b"nginx: worker process"):
                        found.add(int(pid))
            except OSError:
                pass
    return found


def ask():
    port = 443 if tls else 80
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        raw = socket.create_connection(("127.0.0.1", port), timeout=5)
        if tls:
            context = ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
            raw = context.wrap_socket(raw, server_hostname=name)
        conn.sock = raw  # http.client connects only when it has no socket
        conn.request("GET", path, headers={"Host": name, "Connection": "close", "User-Agent": "fastapi-kit-switch"})
        resp = conn.getresponse()
        resp.read()
        return resp.status, resp.getheader("X-Kit-Upstream", "")
    except (OSError, http.client.HTTPException) as e:
        return 0, f"no answer: {e}"
    finally:
        conn.close()


deadline = time.monotonic() + seconds
while True:
    status, upstream = ask()
    if (status == 200 and upstream == want) or time.monotonic() >= deadline:
        break
    time.sleep(0.2)
result = {"socket": sock, "status": status, "upstream": upstream, "ok": status == 200 and upstream == want}
if result["ok"] and old:
    while (workers() & old) and time.monotonic() < deadline:
        time.sleep(0.2)
    now = workers()
    result["old_workers_left"] = sorted(now & old)
    result["new_workers"] = sorted(now - old)
    # The answer came from a worker of the new configuration only if there is one.
    result["ok"] = bool(now - old)
print(json.dumps(result))
sys.exit(0 if result["ok"] else 1)

#!/usr/bin/python3
"""Test doubles of the monitoring and site scenarios, one mode per unit (the site
scenario runs only the webhook):
  health PORT CERT KEY   an HTTPS /health (the probe target)
  metrics PORT           app and nginx metrics of the names the kit's exporters use
                         (a test double: the app and nginx exporters come with their roles)
  webhook PORT FILE      Alertmanager's webhook: appends every POST body as one line to FILE
"""
import http.server
import json
import ssl
import sys
import time

START = time.time()


def metrics():
    t = int(time.time() - START) + 1
    lines = []
    for route, status, share in (("/", "200", 20), ("/items", "200", 10), ("/items", "500", 1)):
        labels = f'method="GET",route="{route}",status="{status}"'
        lines.append(f"http_requests_total{{{labels}}} {t * share}")
    for route in ("/", "/items"):
        base = f'method="GET",route="{route}"'
        for le, share in (("0.05", 15), ("0.1", 19), ("0.5", 20), ("1.0", 20), ("+Inf", 20)):
            lines.append(f'http_request_duration_seconds_bucket{{{base},le="{le}"}} {t * share}')
        lines.append(f"http_request_duration_seconds_count{{{base}}} {t * 20}")
        lines.append(f"http_request_duration_seconds_sum{{{base}}} {t * 0.9}")
        lines.append(f"http_requests_in_progress{{{base}}} 1")
    lines += [
        "nginx_up 1",
        "nginx_connections_active 3",
        "nginx_connections_reading 0",
        "nginx_connections_writing 1",
        "nginx_connections_waiting 2",
        f"nginx_connections_accepted {t * 5}",
        f"nginx_connections_handled {t * 5}",
        f"nginx_http_requests_total {t * 40}",
    ]
    return ("\n".join(lines) + "\n").encode()


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if MODE == "health" and self.path == "/health":
            body, kind = b'{"status":"ok"}', "application/json"
        elif MODE == "metrics" and self.path == "/metrics":
            body, kind = metrics(), "text/plain; version=0.0.4"
        else:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        if MODE != "webhook":
            self.send_error(405)
            return
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        with open(sys.argv[3], "a") as f:
            f.write(json.dumps(json.loads(body)) + "\n")
        self.send_response(200)
        self.end_headers()


MODE, PORT = sys.argv[1], int(sys.argv[2])
server = http.server.ThreadingHTTPServer(("127.0.0.1", PORT), Handler)
if MODE == "health":
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(sys.argv[3], sys.argv[4])
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
server.serve_forever()

"""Serving overhead: requests per second and p99 latency of GET / through nginx
with TLS and straight to Gunicorn, with the role's default worker count and with
one worker, in one run on one host; then the app servers side by side, each
through the same nginx with TLS and with the same number of worker processes.

wrk (from Debian) runs inside the host, so that Docker's port proxy does not
count: https://web1.kit.test/ goes through nginx (TLS, HTTP/1.1 keep-alive, the
kit's proxy settings) to the live instance's unix socket; the direct figure goes
to the same Gunicorn through a TCP socket the bench adds to that instance's
socket unit (wrk cannot speak to a unix socket). Each figure follows a short
warm-up run that does not count.

The app servers (issue 16): a release of the example with Hypercorn and Granian
added to its requirements goes live through site.yml, then each server takes the
live instance's place in turn, on the same unix socket that nginx proxies to:
- Gunicorn with uvicorn_worker.UvicornWorker: the kit's unit, as it is;
- Gunicorn's native asgi worker and Hypercorn: the kit's unit and its systemd
  hardening with only ExecStart (and Type) replaced by a drop-in; each takes the
  socket systemd passes as file descriptor 3;
- Granian, a reference outside the kit: it cannot take a passed socket, so it
  runs as a transient unit of the app's user (without the kit's hardening) on a
  unix socket of its own, which the live socket's path links to;
- `uvicorn --workers`, the kit's other server: a release with
  gunicorn_server=uvicorn, through the kit.
Every server logs through the kit's logging.json, as the kit's own do.
"""

import re
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import kitbench  # noqa: E402
from kitbench import APP, Cluster, app_copy, live_instance, log, table  # noqa: E402

DURATION = 20
CONNECTIONS = 32
DIRECT_PORT = 8001
# The servers the release adds beside Gunicorn and Uvicorn, pinned.
OTHER_SERVERS = "hypercorn==0.18.0\ngranian==2.8.9"


def wrk(c, web, url, host_header=None):
    header = f"-H 'Host: {host_header}'" if host_header else ""
    c.exec(web, f"wrk -t2 -c{CONNECTIONS} -d5s {header} {url} >/dev/null")  # warm-up
    out = c.exec(web, f"wrk -t2 -c{CONNECTIONS} -d{DURATION}s --latency {header} {url}").stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    value, unit = re.search(r"^\s+99%\s+([\d.]+)(us|ms|s)\s*$", out, flags=re.M).groups()
    p99 = float(value) * {"us": 0.001, "ms": 1, "s": 1000}[unit]
    total = int(re.search(r"(\d+) requests in", out).group(1))
    bad = sum(int(n) for n in re.findall(r"Non-2xx or 3xx responses: (\d+)", out))
    bad += sum(int(n) for n in re.findall(r"(?:connect|read|write|timeout) (\d+)", out))
    return rps, p99, total, bad


def open_direct_socket(c, web):
    """Add a TCP listener on 127.0.0.1 to the live instance's socket unit."""
    live = live_instance(c, web)
    c.exec(
        web,
        f"""
        for d in /etc/systemd/system/{APP}@*.socket.d; do rm -f "$d/bench-tcp.conf"; done
        mkdir -p /etc/systemd/system/{APP}@{live}.socket.d
        printf '[Socket]\\nListenStream=127.0.0.1:{DIRECT_PORT}\\n' > /etc/systemd/system/{APP}@{live}.socket.d/bench-tcp.conf
        systemctl daemon-reload
        systemctl stop {APP}@{live}.service {APP}@{live}.socket
        systemctl start {APP}@{live}.socket {APP}@{live}.service
        for i in $(seq 1 60); do curl -sf http://127.0.0.1:{DIRECT_PORT}/health >/dev/null && exit 0; sleep 0.5; done
        echo "Gunicorn did not answer on 127.0.0.1:{DIRECT_PORT}" >&2; exit 1
        """,
    )
    return live


def server_variants(venv, module, workers):
    """(label, drop-in or None, transient command or None, what its command line has)
    of each server that takes the live instance's place in turn. Each logs through the
    kit's logging.json (JSON lines, the app's access line for each request), as the
    kit's servers do: a server that dropped them would do less work per request."""
    log_config = f"/etc/fastapi-kit/{APP}/logging.json"
    return [
        ("Gunicorn + uvicorn_worker.UvicornWorker (the kit's default)", None, None, "gunicorn --config"),
        (
            "Gunicorn, native asgi worker",
            ["[Service]", "ExecStart=", f"ExecStart={venv}/gunicorn --config /etc/fastapi-kit/{APP}/gunicorn.conf.py --worker-class asgi"],
            None,
            "worker-class asgi",
        ),
        (
            "Hypercorn",
            ["[Service]", "Type=exec", "ExecStart=",
             f"ExecStart={venv}/hypercorn --bind fd://3 --workers {workers} --worker-class uvloop --keep-alive 75 "
             f"--log-config json:{log_config} {module}"],
            None,
            "hypercorn",
        ),  # fmt: skip
        (
            "Granian (outside the kit, no hardening)",
            None,
            f"{venv}/granian --interface asgi --uds /run/bench-granian/app.sock --uds-permissions 666 "
            f"--workers {workers} --loop uvloop --no-ws --log-config {log_config} {module}",
            "granian",
        ),
    ]


def run_server(c, web, live, variant):
    """Put one app server in the live instance's place; returns a function that undoes it."""
    label, dropin, transient, cmdline = variant
    unit, socket = f"{APP}@{live}.service", f"{APP}@{live}.socket"
    dropin_dir = f"/etc/systemd/system/{unit}.d"
    slot = f"/srv/{APP}/slots/{live}"
    if dropin:
        c.exec(web, f"mkdir -p {dropin_dir} && printf '%s\\n' \"$@\" > {dropin_dir}/bench-server.conf "
                    f"&& systemctl daemon-reload && systemctl restart {unit}", *dropin)
    elif transient:
        c.exec(
            web,
            f"""
            systemctl stop {unit} {socket}
            systemd-run --unit bench-granian -p User={APP} -p Group={APP} -p WorkingDirectory={slot} \\
              -p EnvironmentFile={slot}.env \\
              -p Environment="APP_INSTANCE={live} PYTHONPATH=/etc/fastapi-kit/{APP}/python PROMETHEUS_MULTIPROC_DIR=/run/bench-granian/prometheus" \\
              -p RuntimeDirectory="bench-granian bench-granian/prometheus" -p RuntimeDirectoryMode=0755 {transient}
            for i in $(seq 1 60); do [ -S /run/bench-granian/app.sock ] && break; sleep 0.5; done
            ln -sfn /run/bench-granian/app.sock /run/{APP}/{live}.sock
            """,
        )
    check_server(c, web, cmdline)

    def undo():
        if dropin:
            c.exec(web, f"rm -f {dropin_dir}/bench-server.conf && systemctl daemon-reload && systemctl restart {unit}")
        elif transient:
            c.exec(web, f"systemctl stop bench-granian; rm -f /run/{APP}/{live}.sock; systemctl start {socket} {unit}")

    return undo


def check_server(c, web, cmdline):
    """The site answers through nginx, and the server named is the one running."""
    c.exec(
        web,
        f"""
        for i in $(seq 1 60); do curl -sfk https://{c.server_name(web)}/health >/dev/null && break; sleep 0.5; done
        curl -sfk https://{c.server_name(web)}/health >/dev/null
        pgrep -f -- '{cmdline}' >/dev/null || {{ echo 'nothing runs with {cmdline}' >&2; exit 1; }}
        """,
    )


def worker_count(c, web, live):
    """The worker processes of the app's live instance (Gunicorn's children)."""
    main_pid = c.exec(web, f"systemctl show -p MainPID --value {APP}@{live}.service").stdout.strip()
    return int(c.exec(web, f"pgrep -c -P {main_pid}").stdout.strip())


def compare_servers(c, web, tmp):
    """Each app server through nginx with TLS; returns the table's rows and the worker count."""
    source = ["-e", f"fastapi_app_local_path={app_copy(tmp, 'servers', requirements_extra=OTHER_SERVERS)}"]
    log("site.yml --tags app: a release of the example with Hypercorn and Granian in its venv")
    c.playbook("site.yml", "--tags", "app", *source, label="servers-release")
    live = live_instance(c, web)
    workers = worker_count(c, web, live)
    venv = f"/srv/{APP}/slots/{live}/venv/bin"
    rows = []

    def measure(label):
        log(f"{label}: wrk https://{c.server_name(web)}/, {workers} worker(s), {DURATION} s")
        rps, p99, total, bad = wrk(c, web, f"https://{c.server_name(web)}/")
        rows.append([label, f"{rps:.0f}", f"{p99:.1f} ms", total, bad])

    for variant in server_variants(venv, f"{APP}.main:app", workers):
        undo = run_server(c, web, live, variant)
        try:
            measure(variant[0])
        finally:
            undo()
    # The kit's other server, through the kit: the same release, rolled out to the idle instance.
    log("site.yml --tags app -e gunicorn_server=uvicorn")
    c.playbook("site.yml", "--tags", "app", *source, "-e", "gunicorn_server=uvicorn", label="uvicorn-release")
    check_server(c, web, "uvicorn hello_api.main:app --fd 3")
    measure("uvicorn --workers (the kit's gunicorn_server: uvicorn)")
    return rows, workers


def main():
    with kitbench.report("serving", "Serving overhead: nginx with TLS against the Gunicorn socket") as out:
        with Cluster("serving", webs=1) as c:
            web = c.webs[0]
            name = c.server_name(web)
            c.prepare()
            log("First converge of site.yml (the role's default worker count)")
            c.playbook("site.yml", label="converge")
            c.exec(web, f"apt-get install -y -q wrk >/dev/null && echo '127.0.0.1 {name}' >> /etc/hosts")
            rows, ratios = [], []
            for label, args in (("default", []), ("gunicorn_workers=1", ["-e", "gunicorn_workers=1"])):
                if args:
                    # Before the one-worker run, which goes back to Gunicorn and the example as it is.
                    with tempfile.TemporaryDirectory() as tmp:
                        server_rows, server_workers = compare_servers(c, web, tmp)
                    log("site.yml with one Gunicorn worker")
                    c.playbook("site.yml", *args, label="one-worker")
                procs = worker_count(c, web, open_direct_socket(c, web))
                figures = {}
                for path, url, host in (
                    ("nginx, TLS", f"https://{name}/", None),
                    ("Gunicorn socket, direct", f"http://127.0.0.1:{DIRECT_PORT}/", name),
                ):
                    log(f"wrk {url}, {procs} worker(s), {DURATION} s")
                    rps, p99, total, bad = wrk(c, web, url, host)
                    figures[path] = rps
                    rows.append([f"{procs} ({label})", path, f"{rps:.0f}", f"{p99:.1f} ms", total, bad])
                ratios.append([f"{procs} ({label})", f"{100 * figures['nginx, TLS'] / figures['Gunicorn socket, direct']:.0f} %"])
            out.append(table(["workers", "path", "requests/s", "p99 latency", "requests", "errors"], rows))
            out.append("")
            out.append(table(["workers", "nginx's requests/s as a share of the direct socket's"], ratios))
            out.append("")
            out.append(f"App servers, each through nginx with TLS, {server_workers} worker processes:")
            out.append("")
            out.append(table(["app server", "requests/s", "p99 latency", "requests", "errors"], server_rows))
            base = float(server_rows[0][1])
            out.append("")
            out.append(
                "Against the default: "
                + "; ".join(f"{r[0].split(' (')[0]} {100 * float(r[1]) / base - 100:+.0f} % requests/s" for r in server_rows[1:])
                + "."
            )
            out.append("")
            out.append(
                f"wrk -t2 -c{CONNECTIONS} -d{DURATION}s --latency inside the host (keep-alive connections), "
                "after a 5 s warm-up; load generator, nginx and Gunicorn share the machine's cores."
            )


if __name__ == "__main__":
    main()

"""Serving overhead: requests per second and p99 latency of GET / through nginx
with TLS and straight to Gunicorn, with the role's default worker count and with
one worker, in one run on one host.

wrk (from Debian) runs inside the host, so that Docker's port proxy does not
count: https://web1.kit.test/ goes through nginx (TLS, HTTP/1.1 keep-alive, the
kit's proxy settings) to the live instance's unix socket; the direct figure goes
to the same Gunicorn through a TCP socket the bench adds to that instance's
socket unit (wrk cannot speak to a unix socket). Each figure follows a short
warm-up run that does not count.
"""

import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import kitbench  # noqa: E402
from kitbench import APP, Cluster, live_instance, log, table  # noqa: E402

DURATION = 20
CONNECTIONS = 32
DIRECT_PORT = 8001


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
                    log("site.yml with one Gunicorn worker")
                    c.playbook("site.yml", *args, label="one-worker")
                live = open_direct_socket(c, web)
                main_pid = c.exec(web, f"systemctl show -p MainPID --value {APP}@{live}.service").stdout.strip()
                procs = int(c.exec(web, f"pgrep -c -P {main_pid}").stdout.strip())
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
            out.append(
                f"wrk -t2 -c{CONNECTIONS} -d{DURATION}s --latency inside the host (keep-alive connections), "
                "after a 5 s warm-up; load generator, nginx and Gunicorn share the machine's cores."
            )


if __name__ == "__main__":
    main()

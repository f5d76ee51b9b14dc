"""Fleet: a rollout over many web hosts (issue 16, item 3).

N hosts (default 10) start bare, root only, as new VPSes. Then:

(a) one `site.yml` run converges them all, every host at once (-e deploy_serial=100%:
    nothing serves yet, so there is nothing for batches to protect);
(b) a release of new code only rolls out in batches (`site.yml --tags app
    -e deploy_serial=30%`) under a steady HTTPS load spread over every host;
(c) a broken release (its import fails, so its health check does) goes out the same
    way, under the same load: the first batch fails and the run stops there. Each
    host says what it serves and what its audit log recorded.

The same three steps run first on one host, on the same machine in the same
conditions, for the yardstick of each step's wall time (deploy_time's one-host
figures come from another day and have no broken release). For each run the
bench records the controller's CPU and memory.

The memory comes first: the hosts that do not fit in what `free -m` calls available
are not started, and the output says so.

Usage: fleet.py [HOSTS [SERIAL]] (default: 10 30%).
"""

import math
import os
import re
import resource
import sys
import tempfile
import threading
from contextlib import nullcontext
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import kitbench  # noqa: E402
from kitbench import APP, Cluster, app_copy, log, sh, table, top_errors  # noqa: E402
from kithttp import request  # noqa: E402
from loadgen import Load  # noqa: E402

# A web host with the example app and 2 Gunicorn workers held 155 MiB after (a) in a
# 2-host run; a release runs a second instance beside the live one and fills the page
# cache with its build. The controller (ansible-playbook with its forks, the load
# generator) peaked at 250 MiB for 2 hosts; forks grow with the hosts up to 10.
HOST_MIB = 500
CONTROLLER_MIB = 1500
# Requests per second per host: the fleet's load grows with the fleet, as traffic would.
RATE_PER_HOST = 20
GROUP_VARS = {"gunicorn_workers": 2}


def load_threads(hosts):
    """At least 6 keep-alive connections, as the zero-downtime bench, and as many to each
    host: the load generator's threads take the hosts in turn."""
    return hosts * math.ceil(6 / hosts)


def available_mib():
    """What `free -m` calls available: free memory plus what the kernel can take back."""
    mem = next(line for line in sh("free", "-m").stdout.splitlines() if line.startswith("Mem:"))
    return int(mem.split()[6])


# The controller -------------------------------------------------------------


def _processes():
    """pid -> parent pid, for every process on the machine."""
    parents = {}
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                with open(f"/proc/{pid}/stat") as f:
                    # The command name, in parentheses, may hold spaces.
                    parents[int(pid)] = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                pass
    return parents


def _memory_kib(pid):
    """(PSS, RSS) of a process in KiB: PSS shares each page among the processes that map it."""
    pss = rss = 0
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    pss = int(line.split()[1])
                elif line.startswith("Rss:"):
                    rss = int(line.split()[1])
    except OSError:
        pass
    return pss, rss


def _cpu_ticks():
    """(busy, total) clock ticks of all cores since boot, from /proc/stat."""
    with open("/proc/stat") as f:
        ticks = [int(t) for t in f.readline().split()[1:]]
    idle = ticks[3] + ticks[4]  # idle and iowait
    return sum(ticks) - idle, sum(ticks)


class Controller:
    """What the controller spends on one playbook run: CPU seconds of ansible-playbook
    and of every process it waited for (getrusage; the load generator runs in this
    process and does not count), the peak memory of its process tree (PSS and RSS
    summed over the processes below this one, read from /proc once a second: psutil
    is not in the venv), and how busy the machine's cores were (/proc/stat: every
    process, the hosts and the load too)."""

    def __init__(self):
        self.peak_pss = self.peak_rss = 0
        self._stop = threading.Event()

    def __enter__(self):
        self._rusage = resource.getrusage(resource.RUSAGE_CHILDREN)
        self._ticks = _cpu_ticks()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        r = resource.getrusage(resource.RUSAGE_CHILDREN)
        self.cpu = r.ru_utime - self._rusage.ru_utime + r.ru_stime - self._rusage.ru_stime
        busy, total = _cpu_ticks()
        self.busy = (busy - self._ticks[0]) / max(total - self._ticks[1], 1)
        return False

    def _sample(self):
        me = os.getpid()
        while not self._stop.wait(1):
            parents = _processes()
            pss = rss = 0
            todo = [me]
            while todo:
                parent = todo.pop()
                for pid in [pid for pid, ppid in parents.items() if ppid == parent]:
                    p, r = _memory_kib(pid)
                    pss, rss = pss + p, rss + r
                    todo.append(pid)
            self.peak_pss, self.peak_rss = max(self.peak_pss, pss), max(self.peak_rss, rss)


# The hosts ------------------------------------------------------------------


def host_memory(cluster):
    """Per web host: what `docker stats` says, and the summed PSS (MiB) of the
    processes in its PID namespace. The second is the one to read: systemd in the
    container puts its services in cgroups of their own (cgroup v1, the host's
    cgroup namespace), where docker stats does not look."""
    stats = sh("docker", "stats", "--no-stream", "--format", "{{.Name}}\t{{.MemUsage}}", *cluster.webs).stdout
    docker = dict(line.split("\t") for line in stats.splitlines())
    namespaces = {}
    for web in cluster.webs:
        pid = sh("docker", "inspect", "-f", "{{.State.Pid}}", web).stdout.strip()
        namespaces[os.readlink(f"/proc/{pid}/ns/pid")] = web
    pss = dict.fromkeys(cluster.webs, 0)
    for pid in _processes():
        try:
            web = namespaces.get(os.readlink(f"/proc/{pid}/ns/pid"))
        except OSError:
            continue
        if web:
            pss[web] += _memory_kib(pid)[0]
    return {web: (docker.get(web, "?").split(" / ")[0], pss[web] / 1024) for web in cluster.webs}


def served(cluster):
    """The release each host's nginx serves, read over HTTPS from each."""
    releases = {}
    for web in cluster.webs:
        status, _, body = request(cluster.server_name(web), cluster.https_port(web), "/health")
        found = re.search(r'"release":\s*"([^"]*)"', body)
        releases[web] = found.group(1) if status == 200 and found else f"HTTP {status}"
    return releases


def last_deploy(cluster, web):
    """The audit log's last line on a host: (release, result)."""
    line = cluster.exec(web, f"tail -n 1 /var/log/fastapi-kit/{APP}/deploys.log").stdout
    found = re.search(r"release=(\S+) result=(\S+)", line)
    return found.groups() if found else ("?", "?")


# The steps ------------------------------------------------------------------


def run_steps(cluster, serial, tmp):
    """(a), (b) and (c) on a cluster; returns a row per step, a row per host (what it
    served after each step, what its audit log says last) and the hosts' memory after (a)."""
    rows = []
    hosts = len(cluster.webs)

    def step(key, label, args, source=None, under_load=False):
        log(f"{hosts} host(s): ({key}) {label}")
        command = " ".join(["site.yml", *args])
        args = [*args, "-e", f"fastapi_app_local_path={source}"] if source else args
        load = Load(cluster.targets(), path="/", rate=RATE_PER_HOST * hosts, threads=load_threads(hosts), max_seconds=900)
        with load if under_load else nullcontext(), Controller() as use:
            # A failed run is a figure of (c), not an error: the rows say which failed.
            r, seconds = cluster.playbook("site.yml", *args, label=f"{key}-{hosts}", check=False)
        requests = [load.sent, load.failed, load.retried, top_errors(load)] if under_load else ["-"] * 4
        result = "ok" if r.returncode == 0 else f"failed (rc {r.returncode})"
        rows.append({"key": key, "label": label, "command": f"`{command}`", "seconds": seconds, "result": result,
                     "requests": requests, "use": use})  # fmt: skip
        return r

    batches = ["--tags", "app", "-e", f"deploy_serial={serial}"]
    r = step("a", "converge from bare", ["-e", "deploy_serial=100%"])
    if r.returncode != 0:
        raise RuntimeError(f"the first converge failed; log in {cluster.logs}:\n{r.output[-4000:]}")
    memory = host_memory(cluster)
    after_a = served(cluster)
    good = app_copy(tmp, f"good{hosts}", "# a release of new code only")
    step("b", "release, code only, under load", batches, source=good, under_load=True)
    after_b = served(cluster)
    broken = app_copy(tmp, f"broken{hosts}", "import kit_missing_dependency  # breaks the import")
    step("c", "broken release (its import fails), under load", batches, source=broken, under_load=True)
    after_c = served(cluster)
    per_host = [[web, after_a[web], after_b[web], *last_deploy(cluster, web), after_c[web]] for web in cluster.webs]
    return rows, per_host, memory


def main():
    wanted = int(sys.argv[1]) if len(sys.argv) > 1 else 10
    serial = sys.argv[2] if len(sys.argv) > 2 else "30%"
    if wanted < 1 or not re.fullmatch(r"[1-9][0-9]*%?", serial):
        raise SystemExit("usage: fleet.py [HOSTS [SERIAL]], e.g. fleet.py 10 30%")
    available = available_mib()
    fit = (available - CONTROLLER_MIB) // HOST_MIB
    hosts = max(1, min(wanted, fit))
    memory_note = (
        f"Memory before the bench: {available} MiB available (`free -m`); at {HOST_MIB} MiB a host and "
        f"{CONTROLLER_MIB} MiB for the controller, {fit} hosts fit: "
    )
    if hosts < wanted:
        memory_note += f"**{hosts} hosts instead of the {wanted} asked**, the machine cannot hold more."
    else:
        memory_note += f"{hosts} hosts as asked."
    log(memory_note)

    title = f"Fleet: {hosts} hosts, releases in batches of {serial}"
    with kitbench.report("fleet", title) as out, tempfile.TemporaryDirectory() as tmp:
        runs = {}
        # One host first: the yardstick, and a quick sign that the steps work.
        for count, name in sorted({1: "fleet-one", hosts: "fleet"}.items()):
            with Cluster(name, webs=count, group_vars=GROUP_VARS) as c:
                c.prepare()
                runs[count], per_host, memory = run_steps(c, serial, tmp)
            free_after = available_mib()

        out.append(table(
            ["step", "command", "1 host", f"{hosts} hosts", "ratio", "result, 1 host", f"result, {hosts} hosts"],
            [[f"({o['key']}) {o['label']}", f["command"], f"{o['seconds']:.1f} s", f"{f['seconds']:.1f} s",
              f"{f['seconds'] / o['seconds']:.2f}", o["result"], f["result"]] for o, f in zip(runs[1], runs[hosts])],
        ))  # fmt: skip
        out.append("")
        out.append(table(
            ["hosts", "step", "requests sent", "failed", "resent on a closed keep-alive connection", "errors (most frequent)",
             "controller CPU", "controller cores (average)", "controller memory, peak PSS (RSS)", "machine's cores busy"],
            [[count, f"({r['key']})", *r["requests"], f"{r['use'].cpu:.1f} s", f"{r['use'].cpu / r['seconds']:.2f}",
              f"{r['use'].peak_pss / 1024:.0f} MiB ({r['use'].peak_rss / 1024:.0f} MiB)", f"{100 * r['use'].busy:.0f} %"]
             for count in runs for r in runs[count]],
        ))  # fmt: skip
        out.append("")
        got = [row[0] for row in per_host if row[4] == "failed"]
        kept = [row[0] for row in per_host if row[2] == row[5]]
        switched = [row[0] for row in per_host if row[2] != row[1]]
        out.append(
            f"Read from each of the {hosts} hosts: (b) switched {len(switched)} of them to its release; the broken "
            f"release (c) reached {len(got)} ({', '.join(got) or 'none'}), whose audit log records it as failed, "
            f"and {len(kept)} of {hosts} still serve the release of (b)."
        )
        out.append("")
        out.append(table(["host", "served after (a)", "served after (b)", "last deploy in its audit log", "result",
                          "served after (c)"], per_host))  # fmt: skip
        out.append("")
        out.append(table(
            ["host, after (a)", "`docker stats` memory", "PSS of its processes"],
            [[web, d, f"{p:.0f} MiB"] for web, (d, p) in memory.items()],
        ))  # fmt: skip
        out.append("")
        pss = [p for _, p in memory.values()]
        out.append(
            f"{memory_note} Each host after (a): {sum(pss) / len(pss):.0f} MiB on average, {max(pss):.0f} MiB at most "
            f"(the summed PSS of the processes in its PID namespace; `docker stats` reads the container's own "
            f"cgroup, and systemd in the container runs its services in cgroups of their own); "
            f"{free_after} MiB available after the bench removed the hosts."
        )
        out.append("")
        out.append(
            f"Over SSH as a sudo user with the project's ansible.cfg (Mitogen's strategy, forks = 10: a task "
            f"reaches 10 hosts at a time), 2 Gunicorn workers per host, the bluegreen strategy; the one-host "
            f"figures come from the same bench run, just before the fleet's. (a) runs every host at once: none serves yet. "
            f"Load: GET / over HTTPS, {RATE_PER_HOST} requests/s per host from "
            f"{load_threads(hosts)} keep-alive connections spread evenly over the hosts, for as long as (b) "
            f"or (c) took. Controller CPU: ansible-playbook and the processes it waited for, in CPU seconds "
            f"and in cores over the run's wall time; memory: the peak of its process tree's summed PSS "
            f"(RSS counts the pages the forks share once per fork). The machine's cores busy: every process, "
            f"the hosts' and the load's too, and any other job on the machine."
        )


if __name__ == "__main__":
    main()

"""What the benchmarks share: local systemd containers that stand in for VPSes,
reached over SSH as a sudo user exactly like `make local`, the project's own
ansible.cfg and site.yml, and tables printed as Markdown.

Every container and the Docker network are named kit-bench-<bench>-*, removed at
the start (leftovers of an interrupted run) and at the end, also on Ctrl-C or
SIGTERM. Traffic goes only to ports published on 127.0.0.1 and to the bench's
own containers.
"""

import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
CACHE = Path(os.environ.get("KIT_CACHE_DIR", Path.home() / ".cache" / "fastapi-kit"))
BIN = Path(sys.executable).parent
# ansible.cfg runs Mitogen's strategy; this one variable runs the plain SSH connection.
# The bench's own plays (prepare, pebble, cleanup) use it: they reach the pebble
# container through `docker exec`, which Mitogen does not carry.
PLAIN_SSH = {"ANSIBLE_STRATEGY": "linear"}
RESULTS = ROOT / "bench" / "results"
APP = "hello_api"

# The Debian releases the kit supports, newest first, as scripts/lib.sh names them:
# release -> (suite, what the tables call it).
RELEASES = {"debian13": ("trixie", "Debian 13"), "debian12": ("bookworm", "Debian 12")}


def image(release):
    """The systemd test image of a release, as scripts/lib.sh's kit_image:
    KIT_IMAGE_DEBIAN13 and KIT_IMAGE_DEBIAN12 name other images."""
    if release not in RELEASES:
        raise SystemExit(f"unknown Debian release '{release}': one of {' '.join(RELEASES)}")
    return os.environ.get(f"KIT_IMAGE_{release.upper()}", f"fastapi-kit/debian-{RELEASES[release][0]}:systemd")


def release_name(release):
    return RELEASES[release][1]


# The release of a bench that runs on one: KIT_DISTRO's (Debian 13 unless told), or KIT_IMAGE.
RELEASE = os.environ.get("KIT_DISTRO", "debian13")
IMAGE = os.environ.get("KIT_IMAGE") or image(RELEASE)


def bench_releases():
    """The releases a bench that compares them (hardening, tls) runs on, in its
    columns' order: KIT_BENCH_DISTROS, default every release; checked before any starts."""
    releases = os.environ.get("KIT_BENCH_DISTROS", " ".join(RELEASES)).split()
    for release in releases:
        image(release)
    return releases


sys.path.insert(0, str(ROOT / "molecule" / "shared"))

# The site scenario's settings for hosts named webN.kit.test with certificates from pebble.
# webN is what follows the container name's last dash, as in Cluster.server_name: a bench's
# name may hold a digit or a dash (deploy2, fleet-one).
PEBBLE_VARS = {
    "nginx_server_names": ["{{ inventory_hostname | regex_replace('^kit-bench-.+-', '') }}.kit.test"],
    "certbot_domains": "{{ nginx_server_names }}",
    "certbot_email": "ops@kit.test",
    "certbot_environment": "custom",
    "certbot_acme_server": "https://acme.kit.test:14000/dir",
}
# Without pebble: nginx's self-signed placeholder certificate for webN.kit.test.
PLACEHOLDER_VARS = {
    "nginx_server_names": ["{{ inventory_hostname | regex_replace('^kit-bench-.+-', '') }}.kit.test"],
    "certbot_domains": [],
}
# Trust the controller's extra CA certificates, as the test hosts and the local VPS do.
CA_VARS = yaml.safe_load((ROOT / "molecule" / "shared" / "vars" / "controller_ca.yml").read_text())


def log(msg):
    print(f"\033[1m==> {msg}\033[0m", file=sys.stderr, flush=True)


def sh(*cmd, check=True, **kw):
    return subprocess.run(cmd, check=check, text=True, capture_output=True, **kw)


def _stop_on_sigterm():
    """SIGTERM ends the run like Ctrl-C, so the clean-up below runs."""
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))


# Each bench has its own ports, so that two can run side by side (not while measuring).
# A block holds 10 hosts; the fleet's comes last, so that it can hold more.
PORT_BLOCKS = {"zero": 0, "deploy1": 1, "deploy2": 2, "serving": 3, "hardening": 4, "tls": 5, "fleet-one": 6, "fleet": 10}


class Cluster:
    """N web hosts (kit-bench-<name>-webN, SSH on 127.0.0.1:2240+10b+N, HTTPS on
    127.0.0.1:38450+10b+N for the bench's port block b) and optionally pebble, on
    the network kit-bench-<name>-net, all from the image of one Debian release
    (default RELEASE). Clusters of the same name run one after the other."""

    def __init__(self, name, webs=1, pebble=False, group_vars=None, others=(), release=None):
        self.name = name
        self.release = release or RELEASE
        self.image = image(release) if release else IMAGE
        block = PORT_BLOCKS[name]
        self.ssh_base, self.https_base = 2240 + 10 * block, 38450 + 10 * block
        self.prefix = f"kit-bench-{name}"
        self.net = f"{self.prefix}-net"
        self.webs = [f"{self.prefix}-web{i}" for i in range(1, webs + 1)]
        self.pebble = f"{self.prefix}-pebble" if pebble else None
        # Plain hosts outside the inventory, for comparisons (no SSH, no ports).
        self.others = [f"{self.prefix}-{o}" for o in others]
        self.dir = ROOT / ".cache" / "bench" / name
        self.logs = RESULTS / "logs" / (f"{name}-{release}" if release else name)
        self.group_vars = {**CA_VARS, **(PEBBLE_VARS if pebble else PLACEHOLDER_VARS), **(group_vars or {})}
        self.runs = 0

    # Hosts ---------------------------------------------------------------

    def containers(self):
        return self.webs + ([self.pebble] if self.pebble else []) + self.others

    def https_port(self, web):
        return self.https_base + self.webs.index(web) + 1

    def server_name(self, web):
        return web.rsplit("-", 1)[-1] + ".kit.test"

    def targets(self, name=None):
        """(server name, port on 127.0.0.1) of each web host, for the load generator."""
        return [(name or self.server_name(w), self.https_port(w)) for w in self.webs]

    def exec(self, container, script, *args, check=True):
        r = subprocess.run(
            ["docker", "exec", "-i", container, "sh", "-ec", script, "sh", *args], text=True, capture_output=True
        )
        if check and r.returncode != 0:
            raise RuntimeError(f"{container}: {script[:200]!r} failed ({r.returncode}): {r.stdout}{r.stderr}")
        return r

    def __enter__(self):
        _stop_on_sigterm()
        self.destroy(quiet=True)
        shutil.rmtree(self.dir, ignore_errors=True)
        shutil.rmtree(self.logs, ignore_errors=True)
        self.dir.mkdir(parents=True)
        self.logs.mkdir(parents=True)
        (CACHE / "apt" / "partial").mkdir(parents=True, exist_ok=True)
        (CACHE / "pip").mkdir(parents=True, exist_ok=True)
        try:
            self._start()
        except BaseException:
            self.destroy()
            raise
        return self

    def __exit__(self, *exc):
        # Hand new packages back to the shared apt cache, then remove everything.
        if self.runs:
            self.playbook(ROOT / "molecule" / "shared" / "cleanup.yml", label="cleanup", check=False, env=PLAIN_SSH)
        self.destroy()
        return False

    def destroy(self, quiet=False):
        names = self.containers()
        if not quiet:
            log(f"Removing {' '.join(names)} and {self.net}")
        subprocess.run(["docker", "rm", "-f", "-v", *names], capture_output=True)
        subprocess.run(["docker", "network", "rm", self.net], capture_output=True)

    def _start(self):
        log(f"Starting {', '.join(self.containers())} from {self.image}")
        sh("docker", "network", "create", self.net)
        key = self.dir / "id_ed25519"
        sh("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "fastapi-kit bench", "-f", str(key))
        for c in self.containers():
            ports = []
            if c in self.webs:
                i = self.webs.index(c) + 1
                ports = ["-p", f"127.0.0.1:{self.ssh_base + i}:22", "-p", f"127.0.0.1:{self.https_base + i}:443"]
            alias = "acme.kit.test" if c == self.pebble else c.rsplit("-", 1)[-1] + ".kit.test"
            sh(
                "docker", "run", "-d", "--name", c, "--hostname", c,
                "--cap-add", "SYS_ADMIN", "--cap-add", "NET_ADMIN",
                "--security-opt", "seccomp=unconfined", "--cgroupns", "host",
                "-v", "/sys/fs/cgroup:/sys/fs/cgroup:rw", "--tmpfs", "/run", "--tmpfs", "/run/lock",
                "-v", f"{CACHE}/apt:/var/cache/kit-apt-shared:rw",
                "-v", f"{CACHE}/pip:/root/.cache/pip:rw",
                "--stop-signal", "SIGRTMIN+3",
                "--network", self.net, "--network-alias", alias, *ports,
                self.image, "/lib/systemd/systemd",
            )  # fmt: skip
        pub = (self.dir / "id_ed25519.pub").read_text().strip()
        for c in self.webs:
            # What a VPS provider's first boot does: root with your SSH key, nothing else.
            self.exec(c, (ROOT / "scripts" / "provider-root.sh").read_text(), pub)
        for c in ([self.pebble] if self.pebble else []) + self.others:
            self.exec(c, "systemctl is-system-running --wait >/dev/null || true")
        self._write_inventory()
        for c in self.webs:
            for _ in range(60):
                if self.ssh(c, "true", check=False, user="root").returncode == 0:
                    break
                time.sleep(1)
            else:
                raise RuntimeError(f"{c}: no SSH on 127.0.0.1:{self.ssh_base + self.webs.index(c) + 1}")

    def ssh(self, web, command, check=True, user="deploy"):
        """Run a command over SSH as the deploy user (root before site.yml's first run)."""
        i = self.webs.index(web) + 1
        return subprocess.run(
            ["ssh", "-q", "-p", str(self.ssh_base + i), "-i", str(self.dir / "id_ed25519"), *self._ssh_opts(),
             "-o", "BatchMode=yes", "-o", "ConnectTimeout=2", f"{user}@127.0.0.1", command],
            text=True, capture_output=True, check=check,
        )  # fmt: skip

    @staticmethod
    def _ssh_opts():
        return ["-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR"]

    def _write_inventory(self):
        web_hosts = {
            w: {"ansible_host": "127.0.0.1", "ansible_port": self.ssh_base + i} for i, w in enumerate(self.webs, start=1)
        }
        inventory = {
            "all": {
                "children": {
                    "web": {
                        "hosts": web_hosts,
                        "vars": {
                            "ansible_user": "deploy",
                            "ansible_become": True,
                            "ansible_ssh_private_key_file": str(self.dir / "id_ed25519"),
                            "ansible_ssh_common_args": " ".join(self._ssh_opts()),
                        },
                    },
                    **(
                        {"acme": {"hosts": {self.pebble: {"ansible_connection": "community.docker.docker"}}}}
                        if self.pebble
                        else {}
                    ),
                }
            }
        }
        # JSON is YAML; the inventory's yaml plugin reads it. The group's settings go
        # in the inventory's group_vars/ so that they win over the project's
        # group_vars/all, as an environment's inventory does.
        (self.dir / "hosts.yml").write_text(json.dumps(inventory, indent=2) + "\n")
        (self.dir / "group_vars").mkdir(exist_ok=True)
        web_vars = {
            "kit_environment": "bench",
            "base_deploy_authorized_keys": [(self.dir / "id_ed25519.pub").read_text().strip()],
            # The controller reaches the hosts through Docker's published ports, from the bridge's gateway.
            "base_fail2ban_ignore_ips": ["{{ ansible_facts.default_ipv4.gateway }}"],
            **self.group_vars,
        }
        (self.dir / "group_vars" / "web.yml").write_text(json.dumps(web_vars, indent=2) + "\n")

    # Ansible -------------------------------------------------------------

    def env(self):
        return dict(
            os.environ,
            PATH=f"{BIN}:{os.environ['PATH']}",
            ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"),
            # A fact cache of its own, empty at the start: a bare host has no cached facts.
            ANSIBLE_CACHE_PLUGIN_CONNECTION=str(self.dir / "facts"),
            ANSIBLE_FORCE_COLOR="0",
            # The bench's hosts are new containers with new host keys on every run. The SSH
            # arguments skip the check for the plain connection; Mitogen's follows Ansible's
            # own setting (with it on, it refused the first host: "unrecognized host key").
            ANSIBLE_HOST_KEY_CHECKING="False",
            # Every task's time in the log, in the order they ran.
            PROFILE_TASKS_TASK_OUTPUT_LIMIT="all",
            PROFILE_TASKS_SORT_ORDER="descending",
            ANSIBLE_NOCOLOR="1",
        )

    def playbook(self, playbook, *args, label=None, check=True, env=None):
        """Run a playbook of the project against the bench's hosts, with env over
        ansible.cfg's settings (ANSIBLE_STRATEGY=linear: plain SSH); returns
        (CompletedProcess, wall seconds). Its output goes to bench/results/logs/."""
        self.runs += 1
        label = label or Path(playbook).stem
        out = self.logs / f"{self.runs:02d}-{label}.log"
        t0 = time.monotonic()
        with open(out, "w") as f:
            r = subprocess.run(
                [str(BIN / "ansible-playbook"), "-i", str(self.dir / "hosts.yml"), str(ROOT / playbook), *args],
                cwd=ROOT, env={**self.env(), **(env or {})}, stdout=f, stderr=subprocess.STDOUT, text=True, timeout=1800,
            )  # fmt: skip
        seconds = time.monotonic() - t0
        r.output = out.read_text()
        if check and r.returncode != 0:
            raise RuntimeError(f"{playbook} {' '.join(args)} failed after {seconds:.0f} s; log {out}:\n{r.output[-4000:]}")
        return r, seconds

    def prepare(self):
        """Seed each host's apt archive from the shared cache (no download, which
        would measure the mirror), and start pebble when the bench has one."""
        log("Preparing the hosts (apt cache seed" + (", pebble)" if self.pebble else ")"))
        self.playbook(ROOT / "bench" / "prepare.yml", label="prepare", env=PLAIN_SSH)
        if self.pebble:
            self.playbook(ROOT / "molecule" / "shared" / "pebble.yml", label="pebble", env=PLAIN_SSH)


def live_instance(cluster, web):
    """The Gunicorn instance (blue or green) nginx sends traffic to."""
    return cluster.exec(web, f"basename $(readlink /srv/{APP}/slots/.live)").stdout.strip()


# Sources of releases ------------------------------------------------------


def app_copy(dest, label, extra_line="", requirements_extra=""):
    """A copy of the example app with one line added: a new release."""
    src = Path(dest) / f"hello-{label}"
    shutil.rmtree(src, ignore_errors=True)
    shutil.copytree(ROOT / "examples" / APP, src, ignore=shutil.ignore_patterns("__pycache__"))
    with open(src / APP / "main.py", "a") as f:
        f.write(f"# bench release: {label}\n{extra_line}\n")
    if requirements_extra:
        with open(src / "requirements.txt", "a") as f:
            f.write(requirements_extra + "\n")
    return src


# Output -------------------------------------------------------------------


def machine():
    cores = os.cpu_count()
    with open("/proc/meminfo") as f:
        mem_kb = int(next(line for line in f if line.startswith("MemTotal")).split()[1])
    model = ""
    try:
        with open("/proc/cpuinfo") as f:
            model = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), "")
    except OSError:
        pass
    return f"{cores} cores{f' ({model})' if model else ''}, {mem_kb / 1024 / 1024:.0f} GiB memory, {platform.system()} {platform.release()}"


def top_errors(load, n=3):
    """A load's most frequent errors, with their counts."""
    return "; ".join(f"{count}× {e}" for e, count in sorted(load.errors.items(), key=lambda x: -x[1])[:n]) or "-"


def table(headers, rows):
    cells = [[str(c) for c in headers]] + [[str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    line = lambda r: "| " + " | ".join(c.ljust(w) for c, w in zip(r, widths)) + " |"  # noqa: E731
    out = [line(cells[0]), "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    return "\n".join(out + [line(r) for r in cells[1:]])


@contextmanager
def report(name, title):
    """Collect a bench's tables and notes; print them with the date, machine and
    command at the end, and keep a copy in bench/results/<name>.md."""
    parts = []
    t0 = time.monotonic()
    yield parts
    took = time.monotonic() - t0
    head = [
        f"### {title}",
        "",
        f"`make bench-{name.replace('_', '-')}` on {datetime.now(timezone.utc):%Y-%m-%d}, "
        f"{machine()}; the bench took {took / 60:.1f} min.",
        "",
    ]
    text = "\n".join(head + parts) + "\n"
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{name}.md").write_text(text)
    print("\n" + text, flush=True)

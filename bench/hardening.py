"""Hardening: `systemd-analyze security` exposure (0 = most locked down, 10 = no
sandbox at all) of each service unit the kit runs, beside the same service as
Debian's package or the deployment guides ship it.

On each Debian release in turn (kitbench.bench_releases()), one host gets site.yml
(with a certificate from pebble, so that certbot's units are in place); a second,
plain host gets Debian's nginx, certbot and prometheus-node-exporter packages and
the guides' Gunicorn unit (bench/guide/gunicorn.service), as an operator following
a guide would have them. The bench fails when the app's, the exporter's or
certbot's unit scores above 2.0 on any release.

sshd: `ssh-audit` (PyPI) against the kit's hardened sshd and against the plain
host's sshd as Debian ships it. The bench fails when the kit's has any failure.
"""

import json
import re
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import kitbench  # noqa: E402
from kitbench import APP, Cluster, live_instance, log, release_name, table  # noqa: E402


def ssh_audit(address, port):
    """ssh-audit's failures (algorithms and CVEs) and warnings against one sshd."""
    out = subprocess.run(
        [str(kitbench.BIN / "ssh-audit"), "-j", "-p", str(port), address], capture_output=True, text=True, timeout=120
    )
    report = json.loads(out.stdout)
    algs = [a for kind in ("kex", "key", "enc", "mac") for a in report.get(kind, [])]
    fails = [a["algorithm"] for a in algs if a.get("notes", {}).get("fail")]
    fails += [c.get("name", str(c)) for c in report.get("cves", [])]
    warns = [a["algorithm"] for a in algs if a.get("notes", {}).get("warn")]
    return fails, warns


def exposure(c, host, unit):
    out = c.exec(host, f"systemd-analyze security --no-pager {unit}").stdout
    m = re.search(r"Overall exposure level for \S+: ([\d.]+) (\w+)", out)
    if not m:
        raise RuntimeError(f"{host}: no exposure for {unit}:\n{out[-2000:]}")
    return float(m.group(1)), m.group(2)


# (service, the kit's unit, the stock unit and who ships it). The kit's units of the
# HELD services score at most TARGET on every release; nginx states its own.
SERVICES = [
    ("Gunicorn + Uvicorn workers", f"{APP}@{{live}}.service", f"{APP}.service (the guides' unit)"),
    ("nginx", "nginx.service", "nginx.service (Debian)"),
    ("node_exporter", "node_exporter.service", "prometheus-node-exporter.service (Debian)"),
    ("certbot renewal", "certbot.service", "certbot.service (Debian)"),
]
TARGET, HELD = 2.0, {"Gunicorn + Uvicorn workers", "node_exporter", "certbot renewal"}


def measure(release):
    """{service: (kit's unit, kit's exposure, stock exposure)} and the hosts' systemd
    version, on one release's hosts."""
    with Cluster("hardening", webs=1, pebble=True, others=["stock"], release=release) as c:
        web, stock = c.webs[0], c.others[0]
        c.prepare()
        log(f"site.yml on the kit's host ({release_name(release)})")
        c.playbook("site.yml", label="converge")
        log("Debian's packages and the guide's unit on the plain host")
        unit = (kitbench.ROOT / "bench" / "guide" / "gunicorn.service").read_text()
        c.exec(
            stock,
            f"""
            find /var/cache/kit-apt-shared -maxdepth 1 -name '*.deb' -exec cp -t /var/cache/apt/archives/ {{}} +
            apt-get update -q >/dev/null
            DEBIAN_FRONTEND=noninteractive apt-get install -y -q nginx certbot prometheus-node-exporter >/dev/null
            cat > /etc/systemd/system/{APP}.service <<'UNIT'
{unit}UNIT
            systemctl daemon-reload
            """,
        )
        live = live_instance(c, web)
        systemd = c.exec(web, "systemctl --version").stdout.split()[1]
        scores = {}
        for what, kit_unit, stock_label in SERVICES:
            kit_unit = kit_unit.format(live=live)
            scores[what] = (kit_unit, exposure(c, web, kit_unit), exposure(c, stock, stock_label.split()[0]))
        # The kit's sshd through its published port; the plain host's on the bench's network.
        stock_ip = kitbench.sh("docker", "inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", stock).stdout.strip()
        c.exec(stock, "systemctl start ssh.service")
        sshd = {"kit": ssh_audit("127.0.0.1", c.ssh_base + 1), "stock": ssh_audit(stock_ip, 22)}
        sshd["version"] = c.exec(web, "ssh -V 2>&1").stdout.strip()
        return scores, systemd, sshd


def main():
    releases = kitbench.bench_releases()
    over = []
    with kitbench.report("hardening", "Hardening: systemd-analyze security exposure") as out:
        measured = {r: measure(r) for r in releases}
        rows = []
        for what, _, stock_label in SERVICES:
            kit_units = sorted({measured[r][0][what][0] for r in releases})
            kit = [measured[r][0][what][1] for r in releases]
            stock = [measured[r][0][what][2] for r in releases]
            rows.append([what, " / ".join(kit_units), *(f"{s:.1f} {w}" for s, w in kit), stock_label, *(f"{s:.1f} {w}" for s, w in stock)])
            over += [f"{what} ({release_name(r)}): {s:.1f}" for r, (s, _) in zip(releases, kit) if what in HELD and s > TARGET]
        names = [release_name(r) for r in releases]
        out.append(table(["service", "the kit's unit", *(f"kit, {n}" for n in names), "as shipped", *(f"as shipped, {n}" for n in names)], rows))
        out.append("")
        versions = " and ".join(f"{measured[r][1]} ({release_name(r)})" for r in releases)
        out.append(
            f"`systemd-analyze security <unit>` on the running hosts (systemd {versions}, as `systemctl --version` "
            "reads on each), inside the test containers: lower is better, above 9 systemd calls it UNSAFE."
        )
        rows = []
        for r in releases:
            sshd = measured[r][2]
            kit_fails, kit_warns = sshd["kit"]
            stock_fails, stock_warns = sshd["stock"]
            rows.append([release_name(r), sshd["version"], len(kit_fails), ", ".join(kit_warns) or "none",
                         len(stock_fails), ", ".join(stock_fails) or "none", len(stock_warns)])
            over += [f"sshd ({release_name(r)}): ssh-audit fails {', '.join(kit_fails)}"] if kit_fails else []
        out.append("")
        out.append(table(["release", "OpenSSH", "kit: failures", "kit: warnings", "as shipped: failures",
                          "as shipped: what fails", "as shipped: warnings"], rows))
        out.append("")
        out.append("`ssh-audit -j` from the controller against each host's sshd: the kit's hardened drop-in, "
                   "and Debian's sshd as installed. A warning of the kit's is a classical key exchange kept "
                   "for clients without a post-quantum one (OpenSSH before 8.5).")
    if over:
        raise SystemExit(f"above the target of {TARGET}: " + "; ".join(over))


if __name__ == "__main__":
    main()

"""Hardening: `systemd-analyze security` exposure (0 = most locked down, 10 = no
sandbox at all) of each service unit the kit runs, beside the same service as
Debian's package or the deployment guides ship it.

One host gets site.yml (with a certificate from pebble, so that certbot's units
are in place); a second, plain host gets Debian's nginx, certbot and
prometheus-node-exporter packages and the guides' Gunicorn unit
(bench/guide/gunicorn.service), as an operator following a guide would have them.
"""

import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import kitbench  # noqa: E402
from kitbench import APP, Cluster, live_instance, log, table  # noqa: E402


def exposure(c, host, unit):
    out = c.exec(host, f"systemd-analyze security --no-pager {unit}").stdout
    m = re.search(r"Overall exposure level for \S+: ([\d.]+) (\w+)", out)
    if not m:
        raise RuntimeError(f"{host}: no exposure for {unit}:\n{out[-2000:]}")
    return float(m.group(1)), m.group(2)


def main():
    with kitbench.report("hardening", "Hardening: systemd-analyze security exposure") as out:
        with Cluster("hardening", webs=1, pebble=True, others=["stock"]) as c:
            web, stock = c.webs[0], c.others[0]
            c.prepare()
            log("site.yml on the kit's host")
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
            pairs = [
                ("Gunicorn + Uvicorn workers", f"{APP}@{live}.service", f"{APP}.service (the guides' unit)"),
                ("nginx", "nginx.service", "nginx.service (Debian)"),
                ("node_exporter", "node_exporter.service", "prometheus-node-exporter.service (Debian)"),
                ("certbot renewal", "certbot.service", "certbot.service (Debian)"),
            ]
            rows = []
            for what, kit_unit, stock_label in pairs:
                kit_score, kit_word = exposure(c, web, kit_unit)
                stock_unit = stock_label.split()[0]
                stock_score, stock_word = exposure(c, stock, stock_unit)
                rows.append([what, kit_unit, f"{kit_score:.1f} {kit_word}", stock_label, f"{stock_score:.1f} {stock_word}"])
            out.append(table(["service", "the kit's unit", "exposure", "as shipped", "exposure"], rows))
            out.append("")
            out.append(
                "`systemd-analyze security <unit>` on the running hosts (systemd 252, Debian 12), "
                "inside the test containers: lower is better, above 9 systemd calls it UNSAFE."
            )


if __name__ == "__main__":
    main()

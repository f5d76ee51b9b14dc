"""Zero downtime: requests sent and failed while two hosts change release under a
steady HTTPS load, side by side in one run:

- a rolling release (`site.yml --tags app`) with the kit's `bluegreen` strategy (the default),
- the same with the kit's `restart` strategy,
- the baseline: a Gunicorn unit as the deployment guides write it, restarted with
  `systemctl restart` on one host after the other, behind nginx on the same hosts,
- a rollback with playbooks/rollback.yml,
- a certificate renewal (certbot renew --force-renewal against pebble), whose
  deploy hook reloads nginx.

The load (molecule/shared/loadgen.py) is a steady 300 requests per second of
GET / from 6 keep-alive connections, bounded in time and count.
"""

import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import kitbench  # noqa: E402
from kitbench import APP, Cluster, app_copy, log, table, top_errors  # noqa: E402
from loadgen import Load  # noqa: E402

RATE = 300
GUIDE = "guide.kit.test"


def under_load(cluster, label, action, name=None):
    log(f"{label}, under a load of {RATE} requests/s")
    with Load(cluster.targets(name), path="/", rate=RATE, threads=6, max_seconds=600) as load:
        t0 = time.monotonic()
        action()
        took = time.monotonic() - t0
    return [label, load.sent, load.failed, f"{100 * load.failed / max(load.sent, 1):.2f} %", load.retried, f"{took:.0f} s", top_errors(load)]


def install_guide_setup(cluster):
    """On each host, what the guides do by hand: a Gunicorn unit with Uvicorn
    workers on a unix socket, and an nginx server for it (here the name
    guide.kit.test on the kit's nginx, with the same certificate)."""
    unit = (kitbench.ROOT / "bench" / "guide" / "gunicorn.service").read_text()
    for web in cluster.webs:
        site = f"""server {{
    listen 443 ssl;
    server_name {GUIDE};
    ssl_certificate /etc/nginx/tls/{APP}/fullchain.pem;
    ssl_certificate_key /etc/nginx/tls/{APP}/privkey.pem;
    location / {{
        include proxy_params;
        proxy_pass http://unix:/run/guide/gunicorn.sock;
    }}
}}
"""
        cluster.exec(
            web,
            f"""
            cat > /etc/systemd/system/guide.service <<'UNIT'
{unit}UNIT
            live="$(readlink /srv/{APP}/slots/.live)"
            env_file="$(systemctl show -p EnvironmentFiles --value "{APP}@$live.service" | cut -d' ' -f1)"
            install -m 0640 -o root -g {APP} "$env_file" /srv/{APP}/guide.env
            cat > /etc/nginx/sites-enabled/guide.conf <<'SITE'
{site}SITE
            systemctl daemon-reload
            systemctl enable --now guide.service
            nginx -t -q
            systemctl reload nginx
            for i in $(seq 1 60); do
              [ -S /run/guide/gunicorn.sock ] && curl -sfk --resolve {GUIDE}:443:127.0.0.1 https://{GUIDE}/health >/dev/null && exit 0
              sleep 0.5
            done
            echo "the guide's unit did not answer" >&2
            systemctl status --no-pager guide.service >&2 || true
            nginx -t >&2 || true
            exit 1
            """,
        )


def main():
    with kitbench.report("zero_downtime", "Zero downtime: failed requests during releases") as out:
        with Cluster("zero", webs=2, pebble=True, group_vars={"gunicorn_workers": 2}) as c, tempfile.TemporaryDirectory() as tmp:
            c.prepare()
            log("First converge of site.yml on both hosts")
            c.playbook("site.yml", label="converge")

            rows = []
            src = app_copy(tmp, "bluegreen")
            rows.append(under_load(c, "kit, bluegreen: rolling release of 2 hosts",
                                   lambda: c.playbook("site.yml", "--tags", "app", "-e", f"fastapi_app_local_path={src}", label="bluegreen")))  # fmt: skip
            rows.append(under_load(c, "kit: rollback of 2 hosts (playbooks/rollback.yml)",
                                   lambda: c.playbook("playbooks/rollback.yml", label="rollback")))  # fmt: skip
            src = app_copy(tmp, "restart")
            rows.append(under_load(c, "kit, restart: rolling release of 2 hosts",
                                   lambda: c.playbook("site.yml", "--tags", "app", "-e", f"fastapi_app_local_path={src}",
                                                      "-e", "gunicorn_strategy=restart", label="restart")))  # fmt: skip

            install_guide_setup(c)

            def guide_restart():
                for web in c.webs:
                    c.exec(web, "systemctl restart guide.service")
                    # As a careful operator would: wait until it answers before the next host.
                    c.exec(web, "for i in $(seq 1 60); do curl -sfk --resolve %s:443:127.0.0.1 https://%s/health >/dev/null && exit 0; sleep 0.5; done; exit 1" % (GUIDE, GUIDE))

            rows.append(under_load(c, "guide's unit: systemctl restart, one host after the other", guide_restart, name=GUIDE))

            def renew():
                for web in c.webs:
                    c.exec(web, "certbot renew --force-renewal --no-random-sleep-on-renew -q")

            rows.append(under_load(c, "certificate renewal with nginx reload on 2 hosts", renew))

            out.append(table(["what changes", "requests sent", "failed", "failed share", "resent on a closed keep-alive connection", "took", "errors (most frequent)"], rows))
            out.append("")
            out.append(
                f"Load: a steady {RATE} requests/s of GET / over HTTPS from 6 keep-alive connections, through "
                "nginx on both hosts (2 Gunicorn workers each), for as long as each change took. "
                "'Resent' counts GETs a client sends again because nginx closed an idle keep-alive "
                "connection as the request went out (RFC 9112 9.3.1); they are not failures."
            )


if __name__ == "__main__":
    main()

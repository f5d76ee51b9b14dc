"""What site.yml hands the monitoring role comes from the inventory
(playbooks/vars/monitoring.yml): every web/db/backup host's node exporter at its address
and exporter port, every web host's nginx exporter likewise, each present app's metrics
where the host's nginx has the metrics listener, one HTTPS probe per present app name
with its health path."""

import json
import os
import subprocess

ROOT = __import__("pathlib").Path(__file__).resolve().parent.parent

INVENTORY = {
    "web": {"hosts": {
        "web1": {"ansible_host": "203.0.113.10", "node_exporter_listen_address": "203.0.113.10:9100",
                 "nginx_exporter_listen_address": "203.0.113.10:9113", "nginx_app_metrics_listen_address": "203.0.113.10:9180",
                 "apps": [{"name": "hello_api", "nginx_server_names": ["hello.example.com", "www.hello.example.com"]},
                          {"name": "notes_api", "nginx_server_names": ["notes.example.com"], "gunicorn_health_path": "/healthz"},
                          {"name": "old_api", "state": "absent", "nginx_server_names": ["old.example.com"]}]},
        "web2": {"ansible_host": "203.0.113.11",
                 "apps": [{"name": "hello_api", "nginx_server_names": ["hello.example.com"]}]},
        "web3": {"ansible_host": "203.0.113.12", "nginx_exporter_enabled": False},
    }},
    "db": {"hosts": {"db1": {"ansible_host": "203.0.113.20", "node_exporter_listen_address": ":9200"}}},
    "backup": {"hosts": {"db1": {}, "store1": {}}},
    "monitoring": {"hosts": {"mon1": {"ansible_host": "203.0.113.30"}}},
}

PLAY = """
- hosts: mon1
  connection: local
  gather_facts: false
  vars_files: [{root}/playbooks/vars/apps.yml, {root}/playbooks/vars/monitoring.yml]
  tasks:
    - ansible.builtin.copy:
        dest: {out}
        content: "{{{{ {{'node': _kit_monitoring_node_targets, 'probe': _kit_monitoring_probe_targets,
                       'nginx': _kit_monitoring_nginx_targets, 'app': _kit_monitoring_app_targets,
                       'sources': _kit_monitoring_sources}} | to_json }}}}"
        mode: "0644"
"""


def test_targets_come_from_the_inventory(tmp_path):
    (tmp_path / "hosts.yml").write_text(json.dumps(INVENTORY))
    out = tmp_path / "targets.json"
    (tmp_path / "play.yml").write_text(PLAY.format(root=ROOT, out=out))
    r = subprocess.run(["ansible-playbook", "-i", str(tmp_path / "hosts.yml"), str(tmp_path / "play.yml")],
                       capture_output=True, text=True, timeout=300, env=dict(os.environ, ANSIBLE_NOCOLOR="1"))
    assert r.returncode == 0, r.stdout + r.stderr
    got = json.loads(out.read_text())
    assert got["node"] == ["203.0.113.10:9100", "203.0.113.11:9100", "203.0.113.12:9100", "203.0.113.20:9200", "store1:9100"], got
    # web2 at the role's default port (its exporter then listens on loopback: README, Monitoring); web3 has none.
    assert got["nginx"] == ["203.0.113.10:9113", "203.0.113.11:9113"], got
    # Only web1 has the metrics listener; old_api is being removed.
    assert got["app"] == [{"app": "hello_api", "target": "203.0.113.10:9180", "path": "/metrics/hello_api"},
                          {"app": "notes_api", "target": "203.0.113.10:9180", "path": "/metrics/notes_api"}], got
    assert got["probe"] == [{"app": "hello_api", "url": "https://hello.example.com/health"},
                            {"app": "notes_api", "url": "https://notes.example.com/healthz"}], got
    assert got["sources"] == ["203.0.113.30"], got

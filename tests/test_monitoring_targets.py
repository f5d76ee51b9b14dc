"""What site.yml hands the monitoring role comes from the inventory
(playbooks/vars/monitoring.yml): every web/db/backup host's node exporter at its address
and exporter port, one HTTPS probe per app name with its health path."""

import json
import os
import subprocess

ROOT = __import__("pathlib").Path(__file__).resolve().parent.parent

INVENTORY = {
    "web": {"hosts": {
        "web1": {"ansible_host": "203.0.113.10", "node_exporter_listen_address": "203.0.113.10:9100",
                 "apps": [{"name": "hello_api", "nginx_server_names": ["hello.example.com", "www.hello.example.com"]},
                          {"name": "notes_api", "nginx_server_names": ["notes.example.com"], "gunicorn_health_path": "/healthz"}]},
        "web2": {"ansible_host": "203.0.113.11",
                 "apps": [{"name": "hello_api", "nginx_server_names": ["hello.example.com"]}]},
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
    assert got["node"] == ["203.0.113.10:9100", "203.0.113.11:9100", "203.0.113.20:9200", "store1:9100"], got
    assert got["probe"] == [{"app": "hello_api", "url": "https://hello.example.com/health"},
                            {"app": "notes_api", "url": "https://notes.example.com/healthz"}], got
    assert got["sources"] == ["203.0.113.30"], got

"""What site.yml hands the monitoring role comes from the inventory
(playbooks/vars/monitoring.yml): every host's node exporter at its address and
exporter port, every web host's nginx exporter likewise, each present app's metrics
(unless `metrics: false`), one HTTPS probe per present app name with its health path.
And what the watched hosts receive: with a monitoring host, their exporters on their
own address and their firewall open to the monitoring hosts only; without one,
nothing moves."""

import json
import os
import subprocess

ROOT = __import__("pathlib").Path(__file__).resolve().parent.parent

# test_ipv4 stands for the default IPv4 address that site.yml's first play gathers.
INVENTORY = {
    "web": {"hosts": {
        "web1": {"test_ipv4": "10.0.0.10", "nginx_exporter_listen_address": "127.0.0.1:9213",
                 "nginx_app_metrics_allow": ["192.0.2.7"],
                 "apps": [{"name": "hello_api", "nginx_server_names": ["hello.example.com", "www.hello.example.com"]},
                          {"name": "notes_api", "nginx_server_names": ["notes.example.com"], "gunicorn_health_path": "/healthz",
                           "metrics": False},
                          {"name": "old_api", "state": "absent", "nginx_server_names": ["old.example.com"]}]},
        "web2": {"test_ipv4": "10.0.0.11",
                 "apps": [{"name": "hello_api", "nginx_server_names": ["hello.example.com"]}]},
        "web3": {"test_ipv4": "10.0.0.12", "nginx_exporter_enabled": False, "nginx_server_names": ["web3.example.com"]},
    }},
    # The gathered address wins over ansible_host; store1 was not reached (no facts): its
    # ansible_host, an IPv4 address, stands in.
    "db": {"hosts": {"db1": {"ansible_host": "db1.example.com", "test_ipv4": "10.0.0.20",
                             "node_exporter_listen_address": "127.0.0.1:9200"}}},
    "backup": {"hosts": {"db1": {}, "store1": {"ansible_host": "10.0.0.30"}}},
    "monitoring": {"hosts": {"mon1": {"test_ipv4": "10.0.0.40", "node_exporter_collectors_enabled": ["processes"]}}},
}

PLAY = """
- hosts: all
  connection: local
  gather_facts: false
  tasks:
    - ansible.builtin.set_fact:
        ansible_default_ipv4: {{address: "{{{{ test_ipv4 }}}}"}}
        cacheable: true
      when: test_ipv4 is defined

- hosts: all
  connection: local
  gather_facts: false
  vars_files: [{root}/playbooks/vars/apps.yml, {root}/playbooks/vars/data.yml, {root}/playbooks/vars/monitoring.yml]
  tasks:
    - ansible.builtin.copy:
        dest: "{out}/{{{{ inventory_hostname }}}}.json"
        content: "{{{{ {{'firewall': _kit_monitoring_firewall,
                       'node_listen': _kit_node_exporter_listen_address, 'nginx_listen': _kit_nginx_exporter_listen_address,
                       'metrics_listen': _kit_nginx_app_metrics_listen_address, 'metrics_allow': _kit_nginx_app_metrics_allow,
                       'collectors': _kit_node_exporter_collectors_enabled}} | to_json }}}}"
        mode: "0644"

- hosts: monitoring
  connection: local
  gather_facts: false
  vars_files: [{root}/playbooks/vars/apps.yml, {root}/playbooks/vars/monitoring.yml]
  tasks:
    - ansible.builtin.copy:
        dest: {out}/targets.json
        content: "{{{{ {{'node': _kit_monitoring_node_targets, 'probe': _kit_monitoring_probe_targets,
                       'nginx': _kit_monitoring_nginx_targets, 'app': _kit_monitoring_app_targets,
                       'sources': _kit_monitoring_sources}} | to_json }}}}"
        mode: "0644"
"""


def run(tmp_path, inventory):
    (tmp_path / "hosts.yml").write_text(json.dumps(inventory))
    out = tmp_path / "out"
    out.mkdir()
    (tmp_path / "play.yml").write_text(PLAY.format(root=ROOT, out=out))
    r = subprocess.run(["ansible-playbook", "-i", str(tmp_path / "hosts.yml"), str(tmp_path / "play.yml")],
                       capture_output=True, text=True, timeout=300,
                       env=dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_CACHE_PLUGIN="memory"))
    assert r.returncode == 0, r.stdout + r.stderr
    return {p.stem: json.loads(p.read_text()) for p in out.glob("*.json")}


def test_targets_come_from_the_inventory(tmp_path):
    got = run(tmp_path, INVENTORY)["targets"]
    # Each host at its address and the port the inventory gives (db1's 9200), the monitoring host too.
    assert got["node"] == ["10.0.0.10:9100", "10.0.0.11:9100", "10.0.0.12:9100", "10.0.0.20:9200", "10.0.0.30:9100",
                           "10.0.0.40:9100"], got
    # web3 has no nginx exporter.
    assert got["nginx"] == ["10.0.0.10:9213", "10.0.0.11:9113"], got
    # notes_api serves no metrics; old_api is being removed.
    assert got["app"] == [{"app": "hello_api", "target": "10.0.0.10:9180", "path": "/metrics/hello_api"},
                          {"app": "hello_api", "target": "10.0.0.11:9180", "path": "/metrics/hello_api"},
                          {"app": "hello_api", "target": "10.0.0.12:9180", "path": "/metrics/hello_api"}], got
    assert got["probe"] == [{"app": "hello_api", "url": "https://hello.example.com/health"},
                            {"app": "notes_api", "url": "https://notes.example.com/healthz"},
                            {"app": "hello_api", "url": "https://web3.example.com/health"}], got
    assert got["sources"] == ["10.0.0.40"], got


def test_watched_hosts_open_their_exporters_to_the_monitoring_hosts_only(tmp_path):
    got = run(tmp_path, INVENTORY)
    only_mon = ["10.0.0.40"]
    assert got["web1"]["firewall"] == [{"name": "node-exporter", "port": 9100, "sources": only_mon},
                                       {"name": "nginx-exporter", "port": 9213, "sources": only_mon},
                                       {"name": "app-metrics", "port": 9180, "sources": only_mon}], got["web1"]
    assert (got["web1"]["node_listen"], got["web1"]["nginx_listen"], got["web1"]["metrics_listen"]) == \
        ("10.0.0.10:9100", "10.0.0.10:9213", "10.0.0.10:9180")
    assert got["web1"]["metrics_allow"] == ["192.0.2.7", "10.0.0.40"]
    assert got["web1"]["collectors"] == ["systemd"]
    assert [r["name"] for r in got["web3"]["firewall"]] == ["node-exporter", "app-metrics"]
    assert got["db1"]["firewall"] == [{"name": "node-exporter", "port": 9200, "sources": only_mon}]
    assert got["db1"]["node_listen"] == "10.0.0.20:9200"
    assert got["mon1"]["collectors"] == ["processes", "systemd"]


def test_without_a_monitoring_host_nothing_moves_or_opens(tmp_path):
    inventory = {k: v for k, v in INVENTORY.items() if k != "monitoring"}
    got = run(tmp_path, inventory)
    assert "targets" not in got
    for host in ("web1", "web2", "db1", "store1"):
        assert got[host]["firewall"] == [], (host, got[host])
        assert got[host]["collectors"] == []
    assert (got["web1"]["node_listen"], got["web1"]["nginx_listen"], got["web1"]["metrics_listen"]) == \
        ("127.0.0.1:9100", "127.0.0.1:9213", "")
    assert got["db1"]["node_listen"] == "127.0.0.1:9200"
    assert got["web1"]["metrics_allow"] == ["192.0.2.7"]

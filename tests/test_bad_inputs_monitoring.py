"""Bad input to the monitoring role fails in the first play of site.yml, names the
variable, and changes nothing (the pattern of test_bad_inputs*.py), on a host of group
`monitoring` whose targets site.yml derives from the inventory."""

import json

import pytest
from conftest import TEST_KEY, Host

GOOD = {"monitoring_alert_webhook_url": "http://127.0.0.1:9999/alerts"}

CASES = [
    # (id, extra vars, the variable the error must name)
    ("retention-not-a-duration", {**GOOD, "monitoring_retention_time": "two weeks"}, "monitoring_retention_time"),
    ("retention-size-not-a-size", {**GOOD, "monitoring_retention_size": "10 gigs"}, "monitoring_retention_size"),
    ("scrape-interval-not-a-duration", {**GOOD, "monitoring_scrape_interval": "15"}, "monitoring_scrape_interval"),
    ("5xx-share-above-one", {**GOOD, "monitoring_alert_5xx_ratio": 5}, "monitoring_alert_5xx_ratio"),
    ("5xx-share-zero", {**GOOD, "monitoring_alert_5xx_ratio": 0}, "monitoring_alert_5xx_ratio"),
    ("p95-zero", {**GOOD, "monitoring_alert_p95_seconds": 0}, "monitoring_alert_p95_seconds"),
    ("cert-days-above-90", {**GOOD, "monitoring_alert_cert_days": 120}, "monitoring_alert_cert_days"),
    ("cert-days-zero", {**GOOD, "monitoring_alert_cert_days": 0}, "monitoring_alert_cert_days"),
    ("disk-share-a-percent", {**GOOD, "monitoring_alert_disk_ratio": 90}, "monitoring_alert_disk_ratio"),
    ("webhook-not-http", {"monitoring_alert_webhook_url": "ftp://alerts.example/hook"}, "monitoring_alert_webhook_url"),
    ("webhook-a-command", {"monitoring_alert_webhook_url": "http://x/\nrm -rf /"}, "monitoring_alert_webhook_url"),
    ("no-receiver", {}, "monitoring_alert_webhook_url"),
    ("email-without-smarthost", {"monitoring_alert_email_to": "ops@example.com", "monitoring_alert_email_from": "prom@example.com"},
     "monitoring_alert_email_smarthost"),
    ("probe-not-https", {**GOOD, "monitoring_probe_targets": [{"app": "demo", "url": "http://demo.example/health"}]},
     "monitoring_probe_targets"),
    ("app-target-without-port", {**GOOD, "monitoring_app_targets": [{"app": "demo", "target": "web1", "path": "/metrics"}]},
     "monitoring_app_targets"),
    ("listen-without-port", {**GOOD, "monitoring_prometheus_listen_address": "127.0.0.1"}, "monitoring_prometheus_listen_address"),
    ("node-auth-user-without-password", {**GOOD, "monitoring_node_basic_auth_user": "prometheus"}, "monitoring_node_basic_auth_user"),
]


@pytest.fixture(scope="module")
def monitoring_host(bare_host, tmp_path_factory):
    """The bare host, this time as the only host of group `monitoring`."""
    inventory = tmp_path_factory.mktemp("inv-monitoring") / "hosts.yml"
    inventory.write_text(json.dumps({"monitoring": {"hosts": {bare_host.name: {
        "ansible_connection": "community.docker.docker",
        "ansible_python_interpreter": "/usr/bin/python3",
        "base_deploy_authorized_keys": [TEST_KEY],
    }}}}))
    return Host(bare_host.name, inventory)


@pytest.mark.parametrize("extra_vars,variable", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_fails_before_any_change(monitoring_host, extra_vars, variable):
    monitoring_host.assert_fails_before_any_change(
        extra_vars, variable, ["/etc/prometheus", "/etc/systemd/system/prometheus.service.d", "/usr/bin/prometheus"]
    )


def test_secrets_are_not_echoed(monitoring_host):
    """A bad bound next to the node exporters' password fails without printing the password."""
    result = monitoring_host.playbook("site.yml", {**GOOD, "monitoring_alert_cert_days": 365,
                                                   "monitoring_node_basic_auth_user": "prometheus",
                                                   "monitoring_node_basic_auth_password": "kit-secret-pw-42"})
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert "monitoring_alert_cert_days" in output, output
    assert "kit-secret-pw-42" not in output, output

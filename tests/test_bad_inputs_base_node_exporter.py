"""Bad input to base and node_exporter fails in the first play of site.yml, names the
variable, and changes nothing (the same checks as test_bad_inputs.py)."""

import pytest

GOOD_HASH = "$2b$10$Teywf5JnEWC8ocgCzILDqOhntVKkHRheX8JsPF/2SraxnQ2TPJRyi"

CASES = [
    # (id, extra vars, the variable the error must name)
    ("deploy-keys-empty", {"base_deploy_authorized_keys": []}, "base_deploy_authorized_keys"),
    ("deploy-key-not-public", {"base_deploy_authorized_keys": ["-----BEGIN OPENSSH PRIVATE KEY-----"]}, "base_deploy_authorized_keys"),
    ("deploy-user-root", {"base_deploy_user": "root"}, "base_deploy_user"),
    ("allow-users-without-deploy", {"base_sshd_allow_users": ["alice"]}, "base_sshd_allow_users"),
    ("ssh-port-out-of-range", {"base_ssh_port": 70000}, "base_ssh_port"),
    ("deploy-sudo-password-without-hash", {"base_deploy_sudo": "password"}, "base_deploy_sudo"),
    ("fail2ban-ignore-not-an-address", {"base_fail2ban_ignore_ips": ["office"]}, "base_fail2ban_ignore_ips"),
    ("listen-without-port", {"node_exporter_listen_address": "127.0.0.1"}, "node_exporter_listen_address"),
    ("listen-port-out-of-range", {"node_exporter_listen_address": "127.0.0.1:70000"}, "node_exporter_listen_address"),
    ("password-not-bcrypt", {"node_exporter_basic_auth_users": {"prometheus": "hunter2"}}, "node_exporter_basic_auth_users"),
    ("auth-users-not-a-dict", {"node_exporter_basic_auth_users": ["prometheus:" + GOOD_HASH]}, "node_exporter_basic_auth_users"),
    ("collectors-a-string", {"node_exporter_collectors_enabled": "systemd"}, "node_exporter_collectors_enabled"),
    ("collector-name-bad", {"node_exporter_collectors_disabled": ["wifi; rm -rf /"]}, "node_exporter_collectors_disabled"),
    ("collector-enabled-and-disabled", {"node_exporter_collectors_enabled": ["ntp"], "node_exporter_collectors_disabled": ["ntp"]},
     "node_exporter_collectors_disabled"),
    ("install-unknown", {"node_exporter_install": "snap"}, "node_exporter_install"),
    ("binary-without-checksum", {"node_exporter_install": "binary",
                                 "node_exporter_binary_url": "https://example.invalid/node_exporter-1.8.2.linux-amd64.tar.gz"},
     "node_exporter_binary_sha256"),
    ("tls-cert-without-key", {"node_exporter_tls_cert_file": "/etc/kit/ne.crt"}, "node_exporter_tls_key_file"),
    ("firewall-port-out-of-range", {"base_firewall_allow": [{"name": "web", "port": 70000}]}, "base_firewall_allow"),
    ("firewall-source-not-an-address", {"base_firewall_allow": [{"name": "metrics", "port": 9100, "sources": ["prometheus.example"]}]},
     "base_firewall_allow"),
    ("firewall-proto-unknown", {"base_firewall_allow": [{"name": "x", "port": 53, "proto": "sctp"}]}, "base_firewall_allow"),
    ("timezone-bad", {"base_timezone": "Europe/Paris; reboot"}, "base_timezone"),
    ("journald-size-bad", {"base_journald_system_max_use": "lots"}, "base_journald_system_max_use"),
    ("reboot-time-bad", {"base_unattended_upgrades_reboot_time": "25:00"}, "base_unattended_upgrades_reboot_time"),
    ("reboot-time-not-a-time", {"base_unattended_upgrades_reboot_time": "now"}, "base_unattended_upgrades_reboot_time"),
    ("switch-not-bool", {"base_firewall_enabled": "maybe"}, "base_firewall_enabled"),
    # A swap file is checked only where it will be made: the bound above any machine makes this host small.
    ("swap-larger-than-free-space", {"base_swap_when_memory_below_mb": 16777216, "base_swap_size_mb": 100000000}, "base_swap_size_mb"),
    ("swap-on-overlay", {"base_swap_when_memory_below_mb": 16777216, "base_swap_size_mb": 64}, "base_swap_path"),
    ("swap-path-relative", {"base_swap_path": "swapfile"}, "base_swap_path"),
    ("swappiness-out-of-range", {"base_swap_swappiness": 300}, "base_swap_swappiness"),
    ("swap-switch-not-bool", {"base_swap_enabled": "perhaps"}, "base_swap_enabled"),
    ("sysctl-switch-not-bool", {"base_sysctl_enabled": "yes please"}, "base_sysctl_enabled"),
    ("sysctl-value-not-a-number", {"base_sysctl_settings": {"net.ipv4.tcp_syncookies": "on\nkernel.x = 1"}}, "base_sysctl_settings"),
    ("sysctl-key-bad", {"base_sysctl_settings": {"../../etc/passwd": 1}}, "base_sysctl_settings"),
    ("timesync-server-bad", {"base_timesync_servers": ["ntp.example; reboot"]}, "base_timesync_servers"),
    ("logrotate-frequency-bad", {"base_logrotate_frequency": "hourly"}, "base_logrotate_frequency"),
    ("sudo-logfile-relative", {"base_sudo_logfile": "sudo.log"}, "base_sudo_logfile"),
    ("needrestart-mode-bad", {"base_needrestart_restart": "i"}, "base_needrestart_restart"),
    ("hidepid-service-bad", {"base_hidepid_services": ["logind"]}, "base_hidepid_services"),
]


@pytest.mark.parametrize("extra_vars,variable", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_fails_before_any_change(bare_host, extra_vars, variable):
    bare_host.assert_fails_before_any_change(
        extra_vars, variable, ["/etc/nftables.conf.dpkg-dist", "/etc/systemd/system/node_exporter.service",
                               "/etc/sudoers.d/fastapi-kit-deploy", "/etc/ssh/sshd_config.d/00-fastapi-kit.conf"]
    )
    assert bare_host.run("getent", "passwd", "node-exporter").returncode != 0


def test_hash_is_not_echoed_on_failure(bare_host):
    """A wrong entry is named by its user, and a good hash next to it is not printed."""
    users = {"prometheus": GOOD_HASH, "grafana": "plain-password"}
    result = bare_host.playbook("site.yml", {"node_exporter_basic_auth_users": users})
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert '["grafana"]' in output, output
    assert "plain-password" not in output and GOOD_HASH not in output, output

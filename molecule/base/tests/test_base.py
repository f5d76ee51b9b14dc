"""The base role: packages, timezone, journald limits, unattended security upgrades and
an nftables firewall that opens exactly what base_firewall_allow lists."""

import re

import testinfra

testinfra_hosts = ["kit-base"]

HOST_IP = "10.213.244.10"

# Connect to HOST_IP:port from another container; prints open or closed.
CONNECT = r"""
import socket, sys
s = socket.socket()
s.settimeout(3)
try:
    s.connect((sys.argv[1], int(sys.argv[2])))
    print("open")
except OSError:
    print("closed")
"""


def _input_chain(host):
    out = host.check_output("nft list chain inet base_filter input")
    return [line.strip() for line in out.splitlines() if "dport" in line]


def test_base_packages_are_installed(host):
    for name in ["ca-certificates", "curl", "tzdata", "jq", "nftables", "unattended-upgrades"]:
        assert host.package(name).is_installed, name


def test_timezone_is_set(host):
    assert host.file("/etc/localtime").linked_to == "/usr/share/zoneinfo/Europe/Paris"
    assert host.file("/etc/timezone").content_string == "Europe/Paris\n"
    assert host.check_output("date +%Z") in ("CET", "CEST")


def test_journald_is_limited(host):
    conf = host.file("/etc/systemd/journald.conf.d/50-base.conf").content_string
    assert "SystemMaxUse=200M" in conf
    assert "MaxRetentionSec=1month" in conf
    assert host.service("systemd-journald").is_running


def test_unattended_upgrades_take_security_updates_only(host):
    dump = host.check_output("apt-config dump")
    assert 'APT::Periodic::Unattended-Upgrade "1";' in dump
    assert 'APT::Periodic::Update-Package-Lists "1";' in dump
    origins = re.findall(r'^Unattended-Upgrade::Origins-Pattern:: "(.*)";$', dump, re.M)
    assert origins == [
        "origin=Debian,codename=${distro_codename}-security,label=Debian-Security",
        "origin=Debian,codename=${distro_codename},label=Debian-Security",
    ]
    assert 'Unattended-Upgrade::Automatic-Reboot "false";' in dump
    for timer in ["apt-daily.timer", "apt-daily-upgrade.timer"]:
        assert host.service(timer).is_enabled, timer
    run = host.run("unattended-upgrade --dry-run --debug")
    assert run.rc == 0, run.stderr
    # The release's own security suite: bookworm-security on Debian 12, trixie-security on 13.
    codename = host.system_info.codename
    assert codename in ("bookworm", "trixie"), codename
    assert f"Allowed origins are: origin=Debian,codename={codename}-security,label=Debian-Security" in run.stdout + run.stderr


def test_firewall_opens_exactly_the_listed_ports(host):
    assert host.service("nftables").is_enabled
    rules = _input_chain(host)
    assert rules == [
        'tcp dport 2222 accept comment "ssh: the port Ansible connects on"',
        'ip saddr 10.213.244.0/24 tcp dport 22 accept comment "ssh-admin"',
        'tcp dport 80 accept comment "http"',
        'tcp dport 443 accept comment "https"',
        'ip saddr 10.213.244.20 tcp dport 9100 accept comment "node_exporter"',
        'ip6 saddr 2001:db8::10 tcp dport 9100 accept comment "node_exporter"',
    ]
    chain = host.check_output("nft list chain inet base_filter input")
    assert "policy drop;" in chain
    # A rule with no sources opens nothing.
    assert "dport 514" not in chain


def test_firewall_leaves_other_tables_alone(host):
    # Docker's embedded DNS rules live in their own table and must survive a reload.
    assert "table ip nat" in host.check_output("nft list tables")


def test_firewall_is_in_force_for_another_host(host):
    """From the listed client: the metrics port and HTTP answer, an unlisted port does not."""
    client = testinfra.get_host("docker://kit-base-client")
    with host.sudo():
        for port in (9100, 80, 8080):
            host.run(
                "systemd-run --unit kit-listen-%s /usr/bin/python3 -m http.server --bind 0.0.0.0 %s", str(port), str(port)
            )
    try:
        host.run_test("sleep 1")
        result = {
            port: client.check_output("python3 -c %s %s %s", CONNECT, HOST_IP, str(port)) for port in (9100, 80, 8080)
        }
        assert result == {9100: "open", 80: "open", 8080: "closed"}
        # The host itself still reaches every listener over loopback.
        assert host.check_output("python3 -c %s 127.0.0.1 8080", CONNECT) == "open"
    finally:
        for port in (9100, 80, 8080):
            host.run("systemctl stop kit-listen-%s", str(port))

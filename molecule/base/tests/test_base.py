"""The base role: packages, timezone, journald limits, unattended security upgrades and
an nftables firewall that opens exactly what base_firewall_allow lists."""

import json
import re

import testinfra

testinfra_hosts = ["kit-base"]

HOST_IP = "10.213.244.10"
# The client's own address, and its second one, the only source the SSH rule lists.
CLIENT_IP = "10.213.244.20"
ADMIN_IP = "10.213.244.30"

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
    # Port 22, the port the play connects on, is listed with one source: keep-open adds nothing.
    assert rules == [
        'ip saddr 10.213.244.30 tcp dport 22 accept comment "ssh-admin"',
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


# Connect from a given source address to HOST_IP:22 and read the server's greeting.
SSH_GREETING = r"""
import socket, sys
s = socket.socket()
s.settimeout(3)
try:
    s.bind((sys.argv[1], 0))
    s.connect((sys.argv[2], 22))
    print(s.recv(64).decode(errors="replace").split("-")[0:2])
except OSError as e:
    print(type(e).__name__)
"""


def test_ssh_listed_with_sources_is_not_widened_by_keep_open(host):
    """Issue 11, item 11. The SSH rule lists one source (ADMIN_IP) and the play connects on
    port 22 with base_firewall_keep_ssh_open on: sshd answers the listed address, and
    another host on the same network gets no connection. Ansible's own connection (the
    docker connection here) still works: this test runs through it."""
    assert host.service("ssh").is_running
    client = testinfra.get_host("docker://kit-base-client")
    assert ADMIN_IP in client.check_output("ip -4 -brief address show dev eth0")
    seen = {src: client.check_output("python3 -c %s %s %s", SSH_GREETING, src, HOST_IP) for src in (ADMIN_IP, CLIENT_IP)}
    assert seen == {ADMIN_IP: "['SSH', '2.0']", CLIENT_IP: "TimeoutError"}


def test_keep_ssh_open_adds_a_connection_port_no_rule_lists(host):
    """side_effect.yml ran the firewall with base_ssh_port 2222 (where sshd would move),
    which no rule lists: keep-open opened it from anywhere, and the client's unlisted
    address got in."""
    record = json.loads(host.file("/root/kit-keep-open.json").content_string)
    rules = [line.strip() for line in record["chain"].splitlines() if "dport" in line]
    assert rules[:2] == [
        'tcp dport 2222 accept comment "ssh: sshd moves here"',
        'ip saddr 10.213.244.30 tcp dport 22 accept comment "ssh-admin"',
    ]
    assert record["client"] == "open"


def test_no_swap_file_where_memory_suffices(host):
    """The test host sees the machine's memory, above base_swap_when_memory_below_mb:
    the swap phase makes nothing (the gunicorn scenario's 1 GB host gets one)."""
    memtotal_mb = int(host.check_output("awk '/^MemTotal/ {print int($2 / 1024)}' /proc/meminfo"))
    assert memtotal_mb >= 2048
    assert not host.file("/swapfile").exists
    assert "/swapfile" not in host.file("/etc/fstab").content_string


def test_timesyncd_is_active_with_the_servers(host):
    assert host.package("systemd-timesyncd").is_installed
    conf = host.file("/etc/systemd/timesyncd.conf.d/50-fastapi-kit.conf").content_string
    assert "NTP=ntp1.kit.test ntp2.kit.test" in conf
    svc = host.service("systemd-timesyncd")
    assert svc.is_enabled and svc.is_running
    # timesyncd read the role's servers (timedatectl asks the running daemon).
    assert "ntp1.kit.test" in host.check_output("timedatectl show-timesync -p SystemNTPServers --value")


def test_forced_logrotate_rotates_a_kit_log(host):
    log = "/var/log/fastapi-kit/kit-rotate-test/deploys.log"
    host.run_test("install -d -o root -g adm -m 0750 /var/log/fastapi-kit/kit-rotate-test")
    host.run_test(f"printf 'one line\\n' >> {log} && chmod 0640 {log}")
    try:
        run = host.run("logrotate -f /etc/logrotate.d/fastapi-kit")
        assert run.rc == 0, run.stderr
        assert host.file(f"{log}.1").content_string == "one line\n"
        new = host.file(log)
        assert new.exists and new.size == 0
        assert (new.user, new.group, new.mode) == ("root", "root", 0o640)
        conf = host.file("/etc/logrotate.d/fastapi-kit").content_string
        assert "rotate 3" in conf and "daily" in conf and "/var/log/sudo.log {" in conf
    finally:
        host.run("rm -rf /var/log/fastapi-kit/kit-rotate-test")


# The role's settings this container can hold: the net.* keys of its own network namespace.
NET_SETTINGS = {
    "net.ipv4.tcp_syncookies": "1",
    "net.ipv4.conf.all.rp_filter": "1",
    "net.ipv4.conf.default.rp_filter": "1",
    "net.ipv4.conf.all.accept_redirects": "0",
    "net.ipv6.conf.all.accept_redirects": "0",
    "net.ipv6.conf.default.accept_redirects": "0",
    "net.ipv4.conf.all.send_redirects": "0",
    "net.ipv4.conf.all.accept_source_route": "0",
    "net.ipv6.conf.all.accept_source_route": "0",
    "net.ipv4.conf.all.log_martians": "1",
    # base_sysctl_settings over-rides the role's 1.
    "net.ipv4.conf.default.log_martians": "0",
    "net.ipv4.icmp_echo_ignore_broadcasts": "1",
}


def test_sysctl_values_are_in_force(host):
    conf = host.file("/etc/sysctl.d/60-fastapi-kit.conf").content_string
    for key in ["kernel.kptr_restrict = 2", "kernel.dmesg_restrict = 1", "fs.suid_dumpable = 0", "kernel.yama.ptrace_scope = 1"]:
        assert key in conf
    for key, value in NET_SETTINGS.items():
        assert f"{key} = {value}\n" in conf, key
        assert host.file("/proc/sys/" + key.replace(".", "/")).content_string.strip() == value, key


def test_sysctl_fails_naming_what_it_cannot_set(host):
    """side_effect.yml ran the phase with base_sysctl_skip_unavailable off: the container's
    kernel.* keys are the host's and read-only, and the run stopped naming them."""
    msg = host.file("/root/kit-sysctl-failure.txt").content_string
    assert msg.startswith("base_sysctl_settings: this host cannot put")
    assert "kernel.kptr_restrict" in msg and "base_sysctl_skip_unavailable" in msg
    assert "net.ipv4" not in msg


def test_hidepid_hides_other_users_processes(host):
    """hidepid is on (converge): an unprivileged user sees only its own processes,
    the group proc-viewers and root see them all."""
    assert "hidepid=invisible" in host.check_output("findmnt -no FS-OPTIONS /proc")
    gid = host.group("proc-viewers").gid
    assert f"gid={gid}" in host.check_output("findmnt -no FS-OPTIONS /proc")
    assert f"proc /proc proc defaults,nosuid,nodev,noexec,hidepid=invisible,gid={gid} 0 0" in host.file("/etc/fstab").content_string
    # In a session of its own, so that it outlives this command.
    host.run_test("setsid -f runuser -u daemon -- sleep 120 </dev/null >/dev/null 2>&1")
    pid = host.check_output("pgrep -n -u daemon -x sleep")
    try:
        assert host.run(f"runuser -u nobody -- test -e /proc/{pid}").rc != 0
        assert host.run("runuser -u nobody -- test -e /proc/1").rc != 0
        users = set(host.check_output("runuser -u nobody -- ps -eo user=").split())
        assert users == {"nobody"}
        assert host.run(f"runuser -u nobody -g proc-viewers -- test -e /proc/{pid}").rc == 0
        assert host.run(f"test -e /proc/{pid}").rc == 0
    finally:
        host.run(f"kill {pid}")
    # journald and logind restarted with the group, and still run; so does timesyncd,
    # restarted under hidepid (its servers changed) with User= and RuntimeDirectory=.
    for unit in ["systemd-journald", "systemd-logind"]:
        assert host.service(unit).is_running, unit
        assert "SupplementaryGroups=proc-viewers" in host.check_output("systemctl cat %s.service", unit)
        assert host.check_output("systemctl show -P SupplementaryGroups %s.service", unit) == "proc-viewers"
    assert host.service("systemd-timesyncd").is_running


def test_sudo_logs_to_its_file_with_use_pty(host):
    assert host.file("/etc/sudoers.d/fastapi-kit").mode == 0o440
    host.run_test("sudo -n /usr/bin/true kit-sudo-log-test")
    # sudo wraps its log lines.
    log = " ".join(host.file("/var/log/sudo.log").content_string.split())
    assert "USER=root ; COMMAND=/usr/bin/true kit-sudo-log-test" in log
    defaults = host.check_output("sudo -n -l")
    assert "use_pty" in defaults and "logfile=/var/log/sudo.log" in defaults


def test_needrestart_restarts_by_itself(host):
    assert host.package("needrestart").is_installed
    # The configuration needrestart itself evaluates: its conf.d file wins.
    read = "our %nrconf; do '/etc/needrestart/needrestart.conf'; print $nrconf{restart}"
    assert host.check_output("perl -e %s", read) == "a"

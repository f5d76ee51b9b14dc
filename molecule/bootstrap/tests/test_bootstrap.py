"""A root-only VPS taken to a hardened host (issue 13): what the hardened sshd lets in
and keeps out, tried from the controller; ssh-audit's verdict; the play that tries to
lock itself out; a banned client beside a controller that keeps its access; sshd and
the firewall moving to another port together (last: it leaves the host there)."""

import json
import os
import re
import subprocess
import time
from pathlib import Path

import testinfra.utils.ansible_runner

INVENTORY = os.environ["MOLECULE_INVENTORY_FILE"]
PROJECT = Path(os.environ["MOLECULE_PROJECT_DIRECTORY"])
SCENARIO = Path(os.environ["MOLECULE_SCENARIO_DIRECTORY"])
KEY = Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]) / "id_ed25519"
testinfra_hosts = testinfra.utils.ansible_runner.AnsibleRunner(INVENTORY).get_hosts("web")

HOST, CLIENT = "kit-bootstrap", "kit-bootstrap-client"
SSH_PORT, MOVED_PORT = 2261, 2263
DROPIN = "/etc/ssh/sshd_config.d/00-fastapi-kit.conf"
SSH_OPTS = ["-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR",
            "-o", "ConnectTimeout=10", "-o", "ControlPath=none"]


def docker_exec(container, *cmd):
    return subprocess.run(["docker", "exec", container, *cmd], capture_output=True, text=True, timeout=120)


def ssh(user, *opts, port=SSH_PORT, key=True):
    """Log in from the controller and run `true`."""
    cmd = ["ssh", "-p", str(port), *SSH_OPTS, "-o", "BatchMode=yes", *opts]
    if key:
        cmd += ["-i", str(KEY), "-o", "IdentitiesOnly=yes"]
    return subprocess.run([*cmd, f"{user}@127.0.0.1", "true"], capture_output=True, text=True, timeout=60)


def converge(*args):
    """The scenario's converge (playbooks/bootstrap.yml, then the base role) with extra arguments."""
    env = dict(os.environ, ANSIBLE_FORCE_COLOR="0", ANSIBLE_NOCOLOR="1", ANSIBLE_ROLES_PATH=str(PROJECT / "roles"))
    return subprocess.run(
        ["ansible-playbook", "-i", INVENTORY, str(SCENARIO / "converge.yml"), "--diff", *args],
        cwd=PROJECT, capture_output=True, text=True, env=env, timeout=900,
    )


def sshd_state():
    """The kit's drop-in and sshd's listener PID with the times it was (re)loaded."""
    dropin = docker_exec(HOST, "cat", DROPIN).stdout
    reloads = docker_exec(HOST, "journalctl", "-u", "ssh.service", "--no-pager", "-o", "cat").stdout.count("Received SIGHUP")
    return dropin, reloads


def test_deploy_logs_in_with_its_key_and_root_and_passwords_are_refused():
    assert ssh("deploy").returncode == 0
    # Root still has the key the provider put there: the server refuses it all the same.
    root = ssh("root")
    assert root.returncode == 255 and "Permission denied" in root.stderr, root.stderr
    # A password is never asked for: the server offers public keys only.
    for user in ("deploy", "root"):
        pw = ssh(user, "-o", "PreferredAuthentications=password,keyboard-interactive", "-o", "PubkeyAuthentication=no",
                 key=False)
        assert pw.returncode == 255 and "Permission denied (publickey)" in pw.stderr, pw.stderr


def test_sshd_runs_the_hardened_settings(host):
    config = host.run("sshd -T").stdout.lower()
    for line in ("permitrootlogin no", "passwordauthentication no", "kbdinteractiveauthentication no",
                 "allowusers deploy", "maxauthtries 3", "logingracetime 30", "clientaliveinterval 300",
                 "x11forwarding no", "allowtcpforwarding no", "allowagentforwarding no"):
        assert line in config.splitlines(), line
    kex = re.search(r"^kexalgorithms (\S+)", config, re.M).group(1).split(",")
    # A post-quantum hybrid first, from the release's own OpenSSH.
    assert kex[0] in ("mlkem768x25519-sha256", "sntrup761x25519-sha512", "sntrup761x25519-sha512@openssh.com"), kex
    assert host.file("/etc/sudoers.d/fastapi-kit-deploy").mode == 0o440
    assert host.run("visudo -cf /etc/sudoers.d/fastapi-kit-deploy").rc == 0


def test_ssh_audit_reports_no_failure():
    out = subprocess.run(["ssh-audit", "-j", "-p", str(SSH_PORT), "127.0.0.1"], capture_output=True, text=True, timeout=120)
    report = json.loads(out.stdout)
    fails = [
        f"{kind}: {alg['algorithm']}: {alg['notes']['fail']}"
        for kind in ("kex", "key", "enc", "mac")
        for alg in report.get(kind, [])
        if alg.get("notes", {}).get("fail")
    ]
    fails += [f"cve: {c}" for c in report.get("cves", [])]
    warns = [
        f"{kind}: {alg['algorithm']}: {alg['notes']['warn']}"
        for kind in ("kex", "key", "enc", "mac")
        for alg in report.get(kind, [])
        if alg.get("notes", {}).get("warn")
    ]
    print("\nssh-audit warnings:\n" + "\n".join(warns or ["none"]))
    assert not fails, "\n".join(fails)


def test_allow_users_without_the_deploy_user_is_refused_before_sshd_reloads():
    before = sshd_state()
    run = converge("-e", json.dumps({"base_sshd_allow_users": ["alice"]}))
    out = run.stdout + run.stderr
    assert run.returncode != 0
    assert "base_sshd_allow_users" in out and "deploy" in out, out[-3000:]
    assert re.search(r"changed=0\s", out), out[-3000:]
    assert sshd_state() == before
    assert ssh("deploy").returncode == 0


def test_settings_that_lock_the_deploy_user_out_are_put_back():
    """A group the deploy user is not in passes every input check; sshd reloads with it,
    the controller's new login fails, and the previous settings come back."""
    before_dropin, before_reloads = sshd_state()
    run = converge("-e", json.dumps({"base_sshd_allow_groups": ["sshusers"]}), "--tags", "base_sshd")
    out = run.stdout + run.stderr
    assert run.returncode != 0
    assert "The new sshd settings were not applied" in out and "The previous settings are back" in out, out[-4000:]
    dropin, reloads = sshd_state()
    assert dropin == before_dropin
    # Reloaded twice: with the bad settings, then with the previous ones.
    assert reloads == before_reloads + 2, (before_reloads, reloads)
    assert "AllowGroups" not in docker_exec(HOST, "sshd", "-T").stdout
    assert docker_exec(HOST, "systemctl", "is-active", "fastapi-kit-sshd-restore.timer").stdout.strip() != "active"
    assert ssh("deploy").returncode == 0


def test_repeated_failed_logins_get_the_client_banned_but_not_the_controller():
    docker_exec(HOST, "fail2ban-client", "unban", "--all")
    probe = ["timeout", "5", "bash", "-c", "exec 3<>/dev/tcp/10.213.245.10/22 && head -c 7 <&3"]
    assert docker_exec(CLIENT, *probe).stdout == "SSH-2.0"
    docker_exec(CLIENT, "sh", "-c", "test -f /root/.ssh/attacker || ssh-keygen -q -t ed25519 -N '' -f /root/.ssh/attacker")
    # Bounded: the ban can fall in the middle of an attempt, whose packets are then dropped.
    for attempt in range(6):
        docker_exec(CLIENT, "timeout", "15", "ssh", *SSH_OPTS, "-o", "BatchMode=yes", "-o", "ServerAliveInterval=2",
                    "-o", "ServerAliveCountMax=2", "-i", "/root/.ssh/attacker", f"admin{attempt}@10.213.245.10", "true")
    deadline = time.monotonic() + 30
    while "10.213.245.20" not in docker_exec(HOST, "fail2ban-client", "status", "sshd").stdout:
        assert time.monotonic() < deadline, docker_exec(HOST, "fail2ban-client", "status", "sshd").stdout
        time.sleep(1)
    try:
        assert docker_exec(CLIENT, *probe).stdout == "", "the banned client still reaches sshd"
        # The controller, through the ignored gateway, keeps its access.
        assert ssh("deploy").returncode == 0
    finally:
        docker_exec(HOST, "fail2ban-client", "unban", "--all")


def test_a_port_change_moves_sshd_and_the_firewall_together():
    """Last: it leaves sshd on the new port. The inventory still says 2261; the run
    comes in there, moves sshd and the firewall to 2263, and goes on there."""
    run = converge("-e", f"base_ssh_port={MOVED_PORT}")
    out = run.stdout + run.stderr
    assert run.returncode == 0, out[-4000:]
    ruleset = docker_exec(HOST, "nft", "list", "table", "inet", "base_filter").stdout
    assert f"tcp dport {MOVED_PORT} accept" in ruleset and "tcp dport 22 accept" not in ruleset, ruleset
    listening = docker_exec(HOST, "ss", "-Htln").stdout
    assert f":{MOVED_PORT} " in listening and ":22 " not in listening, listening
    assert f"port = {MOVED_PORT}" in docker_exec(HOST, "cat", "/etc/fail2ban/jail.d/fastapi-kit.local").stdout
    assert ssh("deploy", port=MOVED_PORT).returncode == 0
    assert ssh("deploy").returncode == 255
    # A rerun with the inventory unchanged finds sshd on base_ssh_port and changes nothing.
    again = converge("-e", f"base_ssh_port={MOVED_PORT}")
    assert again.returncode == 0 and re.search(r"changed=0\s+unreachable=0\s+failed=0", again.stdout), again.stdout[-3000:]

"""site.yml on two web hosts, each serving two apps (the example and notes_api):
HTTPS with pebble's certificates for each app's names, rolling releases of one app
under load on both with no failed request, a broken release of the other that stops
the rollout, a rollback, the deploy lock, the audit log and check mode.

The cluster tests run ansible-playbook against the scenario's inventory while a
load runs through the ports published on 127.0.0.1, and print what they measured.
"""

import concurrent.futures
import http.client
import json
import os
import re
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
import testinfra.utils.ansible_runner
import yaml
from cryptography import x509

sys.path.insert(0, str(Path(__file__).parent.parent.parent / "shared"))
from loadgen import Load  # noqa: E402

INVENTORY = os.environ["MOLECULE_INVENTORY_FILE"]
PROJECT = Path(os.environ["MOLECULE_PROJECT_DIRECTORY"])
testinfra_hosts = testinfra.utils.ansible_runner.AnsibleRunner(INVENTORY).get_hosts("web")

APP = "hello_api"
WEB = {"kit-site-web1": ("web1.kit.test", 38441), "kit-site-web2": ("web2.kit.test", 38442)}
TARGETS = list(WEB.values())
# The second app on each host, examples/notes_api, under its own name.
NOTES = {"kit-site-web1": ("notes-web1.kit.test", 38441), "kit-site-web2": ("notes-web2.kit.test", 38442)}
# The load of the release tests: both apps on both hosts (each answers GET /).
BOTH_APPS = TARGETS + list(NOTES.values())


def docker_exec(container, *cmd):
    return subprocess.run(["docker", "exec", container, *cmd], capture_output=True, text=True)


def playbook(playbook, *args, env=None):
    """Run a playbook of the project against the scenario's hosts, as an operator would."""
    env = dict(os.environ, ANSIBLE_FORCE_COLOR="0", ANSIBLE_NOCOLOR="1", ANSIBLE_HOST_KEY_CHECKING="False", **(env or {}))
    return subprocess.run(
        ["ansible-playbook", "-i", INVENTORY, str(PROJECT / playbook), *args],
        cwd=PROJECT, capture_output=True, text=True, env=env, timeout=1800,
    )


def app_copy(tmp_path, label, extra_line):
    src = tmp_path / f"hello-{label}"
    shutil.copytree(PROJECT / "examples" / "hello_api", src, ignore=shutil.ignore_patterns("__pycache__"))
    with open(src / "hello_api" / "main.py", "a") as f:
        f.write(extra_line + "\n")
    return src


def get_json(name, port, path="/"):
    load = Load(targets=[(name, port)])
    from loadgen import _HTTPS

    conn = _HTTPS(name, port, timeout=10)
    conn.request("GET", path, headers={"Host": name})
    resp = conn.getresponse()
    assert resp.status == 200, resp.status
    del load
    return json.loads(resp.read())


def releases_served(web=WEB):
    return {c: get_json(*web[c])["release"] for c in web}


def audit(container, app=APP):
    r = docker_exec(container, "cat", f"/var/log/fastapi-kit/{app}/deploys.log")
    return r.stdout.splitlines() if r.returncode == 0 else []


def current(container, app=APP):
    return docker_exec(container, "readlink", f"/srv/{app}/current").stdout.strip().rsplit("/", 1)[-1]


def main_pid(container, app):
    """The main PID of the live instance of an app on a host."""
    live = docker_exec(container, "readlink", f"/srv/{app}/slots/.live").stdout.strip()
    return docker_exec(container, "systemctl", "show", "-p", "MainPID", "--value", f"{app}@{live}.service").stdout.strip()


def notes_pids():
    """The main PIDs of the live notes_api instance on each host."""
    return {c: main_pid(c, "notes_api") for c in NOTES}


def words(run):
    """All a run printed, with line wrapping undone: ansible-core prints a task's
    error on stderr and the rest on stdout, and wraps long messages."""
    return " ".join((run.stdout + run.stderr).split())


def recap(output, host):
    m = re.search(rf"{host}\s+:\s+ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", output)
    return tuple(int(x) for x in m.groups()) if m else None


# Per host -------------------------------------------------------------------


@pytest.mark.parametrize("app", [WEB, NOTES], ids=["hello_api", "notes_api"])
def test_nginx_serves_a_certificate_from_pebble(host, app):
    name, port = app[host.backend.get_hostname()]
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        with ctx.wrap_socket(sock, server_hostname=name) as tls:
            der = tls.getpeercert(binary_form=True)
    cert = x509.load_der_x509_certificate(der)
    issuer = cert.issuer.get_attributes_for_oid(x509.NameOID.COMMON_NAME)[0].value
    assert issuer.startswith("Pebble Intermediate CA"), issuer
    assert name in [n.value for n in cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value]


def test_app_answers_over_https_with_the_current_release(host):
    name, port = WEB[host.backend.get_hostname()]
    assert get_json(name, port)["release"] == current(host.backend.get_hostname())


def test_second_app_answers_on_its_own_name_and_keeps_its_data_in_shared(host):
    """notes_api: its own module, health path and SQLite file, beside the example."""
    container = host.backend.get_hostname()
    name, port = NOTES[container]
    assert get_json(name, port)["app"] == "notes_api"
    assert get_json(name, port)["release"] == current(container, "notes_api")
    from loadgen import _HTTPS

    conn = _HTTPS(name, port, timeout=10)
    conn.request("POST", "/notes", body=json.dumps({"text": "kept"}), headers={"Host": name, "Content-Type": "application/json"})
    assert conn.getresponse().status == 201
    assert get_json(name, port, "/healthz")["notes"] >= 1
    with host.sudo():
        db = host.file("/srv/notes_api/shared/notes.db")
        assert db.exists and db.user == "notes_api"


# The cluster ----------------------------------------------------------------


def test_each_host_runs_its_app_server():
    """web2's apps run under gunicorn_server: uvicorn (molecule.yml), web1's under Gunicorn:
    the releases, the rollback and the reboot under load below go through both servers."""
    for container, server in (("kit-site-web1", "gunicorn"), ("kit-site-web2", "uvicorn")):
        for app in (APP, "notes_api"):
            pid = main_pid(container, app)
            cmdline = docker_exec(container, "cat", f"/proc/{pid}/cmdline").stdout.replace("\0", " ")
            assert f"/venv/bin/{server} " in cmdline, (container, app, cmdline)
            # uvicorn's workers are multiprocessing's spawned children (beside its resource tracker).
            only_workers = ["-f", "spawn_main"] if server == "uvicorn" else []
            workers = docker_exec(container, "pgrep", "-c", "-P", pid, *only_workers).stdout.strip()
            assert workers == "2", (container, app, workers)


def test_check_mode_on_a_converged_site_reports_no_change():
    """Right after converge and idempotence, before the tests below deploy other sources.
    One web host (web2, on Debian 12, had the same idempotence check in converge's second
    run): the monitoring host's role has its own scenario's idempotence, and each host's
    check-mode run adds to the slowest scenario's time."""
    run = playbook("site.yml", "--check", "--diff", "--limit", "kit-site-web1")
    assert run.returncode == 0, run.stdout[-5000:]
    ok, changed, unreachable, failed = recap(run.stdout, "kit-site-web1")
    assert ok > 0 and (changed, unreachable, failed) == (0, 0, 0), run.stdout[-5000:]


def ci_deploy(creds_env, *args):
    """The deploy commands of examples/ci (GitHub Actions), as that workflow runs them:
    scripts/ci-credentials.sh, then scripts/ci-deploy.sh, on a runner with no SSH state
    of its own (a fresh ControlPath directory: no master connection to reuse)."""
    control = tempfile.mkdtemp(prefix="kitcp")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KIT_CI_", "GITHUB_", "GITLAB_"))}
    env.update(creds_env, ANSIBLE_FORCE_COLOR="0", ANSIBLE_NOCOLOR="1", ANSIBLE_SSH_CONTROL_PATH_DIR=control,
               GITHUB_ACTIONS="true", GITHUB_REPOSITORY="acme/shop", GITHUB_RUN_ID="4242", GITHUB_RUN_ATTEMPT="1",
               GITHUB_ACTOR="release-bot")
    creds = subprocess.run(["bash", str(PROJECT / "scripts" / "ci-credentials.sh")], capture_output=True, text=True, env=env)
    assert creds.returncode == 0, creds.stderr
    try:
        return subprocess.run(
            ["bash", str(PROJECT / "scripts" / "ci-deploy.sh"), str(Path(INVENTORY).parent), creds.stdout.strip(), *args],
            cwd=PROJECT, capture_output=True, text=True, env=env, timeout=1800,
        )
    finally:
        shutil.rmtree(creds.stdout.strip(), ignore_errors=True)
        shutil.rmtree(control, ignore_errors=True)


def ci_secrets(pins="pinned"):
    """The CI's secrets for these hosts: the deploy user's key, and each host's key pinned
    out of band (read from the container, as from a provider's console); `swapped` pins
    each host's port to the other host's key."""
    ports = {"kit-site-web1": 2231, "kit-site-web2": 2232}
    keys = {c: " ".join(docker_exec(c, "cat", "/etc/ssh/ssh_host_ed25519_key.pub").stdout.split()[:2]) for c in ports}
    shown = keys if pins == "pinned" else dict(zip(ports, reversed(list(keys.values()))))
    return {
        "KIT_CI_SSH_KEY": (Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]) / "id_ed25519").read_text(),
        "KIT_CI_KNOWN_HOSTS": "\n".join(f"[127.0.0.1]:{ports[c]} {shown[c]}" for c in ports),
        "KIT_CI_VAULT_PASSWORD": "not-used-by-this-inventory",
    }


# Who the audit log names for a deploy by ci_deploy: the (made-up) GitHub Actions run.
CI_RUN = "github:acme/shop/actions/runs/4242/attempts/1:release-bot"


def test_the_ci_workflow_refuses_a_host_whose_key_is_not_the_pinned_one(tmp_path):
    """Issue 16: examples/ci's commands with each host's pin swapped for the other's key:
    refused at the first connection, before anything changes. (The rolling release
    below goes through the same commands with the right pins.)"""
    before, audit_before = releases_served(), {c: len(audit(c)) for c in WEB}
    src = app_copy(tmp_path, "ci-refused", "# never released: the host keys do not match the pins")
    refused = ci_deploy(ci_secrets("swapped"), "--tags", "app", "-e", f"app={APP}", "-e", f"fastapi_app_local_path={src}")
    # OpenSSH's words, or Mitogen's for the same refusal of OpenSSH (ansible.cfg's strategy).
    refusal = r"Host key verification failed|SSH reported an unrecognized or mismatching host key"
    assert refused.returncode != 0 and re.search(refusal, words(refused)), words(refused)[-3000:]
    assert releases_served() == before and {c: len(audit(c)) for c in WEB} == audit_before


def test_rolling_release_under_load_has_no_failed_request(tmp_path):
    before = releases_served()
    audit_before = {c: len(audit(c)) for c in WEB}
    notes_before, pids_before = releases_served(NOTES), notes_pids()
    src = app_copy(tmp_path, "rollout", "# rolling release under load")
    with Load(BOTH_APPS, path="/") as load:
        t0 = time.monotonic()
        # The release command: only the app tier (fastapi_app, gunicorn and the switch
        # in nginx), of one app of the two, through examples/ci's commands (issue 16).
        run = ci_deploy(ci_secrets(), "--tags", "app", "-e", f"app={APP}", "-e", f"fastapi_app_local_path={src}")
        duration = time.monotonic() - t0
    print(f"\nbluegreen rollout of 2 hosts (--tags app): {load.report('load')}; deploy took {duration:.1f} s")
    assert run.returncode == 0, run.stdout[-5000:]
    assert load.sent > 0 and load.failed == 0, load.report("bluegreen")
    # The other app was not touched: same release, same processes.
    assert releases_served(NOTES) == notes_before and notes_pids() == pids_before
    # Each host serves a new release, the one its current link names. The ids differ between
    # the hosts: the Python that builds the venv (3.13 on web1, Debian 12's 3.11 on web2)
    # is part of the release id.
    after = releases_served()
    assert all(after[c] != before[c] and after[c] == current(c) for c in WEB), (before, after)
    for c in WEB:
        lines = audit(c)
        assert len(lines) == audit_before[c] + 1
        assert "action=deploy" in lines[-1] and f"release={after[c]}" in lines[-1] and "result=ok" in lines[-1]
        assert f"by={CI_RUN}" in lines[-1], lines[-1]


def test_broken_release_of_the_other_app_stops_the_rollout_on_the_first_host(tmp_path):
    """notes_api's release cannot import: the run stops at web1 with its traceback, and
    both apps keep serving on both hosts."""
    before, notes_before = releases_served(), releases_served(NOTES)
    audit_before = {c: len(audit(c, "notes_api")) for c in WEB}
    releases_web2 = docker_exec("kit-site-web2", "ls", "/srv/notes_api/releases").stdout.split()
    src = tmp_path / "notes-broken"
    shutil.copytree(PROJECT / "examples" / "notes_api", src, ignore=shutil.ignore_patterns("__pycache__"))
    with open(src / "notes" / "service.py", "a") as f:
        f.write("import kit_missing_dependency  # breaks the import\n")
    with Load(BOTH_APPS, path="/") as load:
        # The release command (the app tier only), as operators run it.
        run = playbook("site.yml", "--tags", "app", "-e", "app=notes_api", "-e", f"fastapi_app_local_path={src}",
                       "-e", "gunicorn_health_retries=5")
    print(f"\nbroken release: {load.report('load')}")
    assert run.returncode != 0
    assert "No module named 'kit_missing_dependency'" in words(run)
    assert load.sent > 0 and load.failed == 0, load.report("broken release")
    assert releases_served() == before and releases_served(NOTES) == notes_before
    # The first host recorded the failure in notes_api's log; the second was never touched.
    assert "result=failed" in audit("kit-site-web1", "notes_api")[-1]
    assert len(audit("kit-site-web1", "notes_api")) == audit_before["kit-site-web1"] + 1
    assert len(audit("kit-site-web2", "notes_api")) == audit_before["kit-site-web2"]
    assert docker_exec("kit-site-web2", "ls", "/srv/notes_api/releases").stdout.split() == releases_web2
    assert recap(run.stdout, "kit-site-web2")[1] == 0


def srv_used_kib(container):
    return int(docker_exec(container, "df", "--output=used", "-k", "/srv").stdout.split()[-1])


def test_a_release_on_a_full_disk_fails_clearly_and_the_site_keeps_serving(tmp_path):
    """Issue 11, item 16, end to end: web1's /srv, a tmpfs (prepare.yml), is shrunk to
    what it holds plus 8 MiB, and a release goes out through site.yml under load."""
    web1 = "kit-site-web1"
    before = releases_served()
    audit_before = {c: len(audit(c)) for c in WEB}
    releases_before = docker_exec(web1, "ls", "-A", f"/srv/{APP}/releases").stdout.split()
    used_before = srv_used_kib(web1)
    shrunk = docker_exec(web1, "mount", "-o", f"remount,size={used_before * 1024 + 8 * 1024 * 1024}", "/srv")
    assert shrunk.returncode == 0, shrunk.stderr
    try:
        src = app_copy(tmp_path, "full-disk", "# a release on a full disk")
        # New requirements, so that it builds a venv (code alone would link the live one's).
        with open(src / "requirements.txt", "a") as f:
            f.write("# a release on a full disk\n")
        with Load(TARGETS) as load:
            run = playbook("site.yml", "--tags", "app", "-e", f"app={APP}", "-e", f"fastapi_app_local_path={src}")
        print(f"\nrelease on a full disk: {load.report('load')}")
        output = words(run)
        used_after = srv_used_kib(web1)
    finally:
        docker_exec(web1, "mount", "-o", "remount,size=2g", "/srv")
    assert run.returncode != 0, output[-3000:]
    # Clearly: the kit's own sentence, and the system's reason.
    assert "failed and was removed; the live release is unchanged" in output, output[-3000:]
    assert re.search(r"/srv has \d+ MiB free after the failed build was removed, and the build needed more: the disk is full",
                     output), output[-3000:]
    # The live release kept serving, on both hosts, without one failed request.
    assert load.sent > 0 and load.failed == 0, load.report("full disk")
    assert releases_served() == before
    # The lock is released, the audit log says so, and the space comes back (pip's
    # HTTP cache may keep the index pages it fetched, never a venv's megabytes).
    assert docker_exec(web1, "test", "-e", f"/run/fastapi-kit-locks/{APP}").returncode != 0, "lock left behind"
    assert "result=failed" in audit(web1)[-1] and len(audit(web1)) == audit_before[web1] + 1
    assert docker_exec(web1, "ls", "-A", f"/srv/{APP}/releases").stdout.split() == releases_before
    assert used_after <= used_before + 1024, (used_before, used_after)
    # The rollout stopped at the first host.
    assert len(audit("kit-site-web2")) == audit_before["kit-site-web2"]
    assert recap(run.stdout, "kit-site-web2")[1] == 0


def test_rollback_under_load_returns_the_previous_release():
    # Per host: a release's id holds its host's Python version (test_rolling_release_...).
    history = {c: docker_exec(c, "cat", f"/srv/{APP}/releases/.history").stdout.split() for c in WEB}
    live = {c: h[-1] for c, h in history.items()}
    previous = {c: [r for r in reversed(h) if r != h[-1]][0] for c, h in history.items()}
    assert releases_served() == live
    with Load(TARGETS) as load:
        t0 = time.monotonic()
        run = playbook("playbooks/rollback.yml", "-e", f"app={APP}")
        duration = time.monotonic() - t0
    print(f"\nrollback of 2 hosts: {load.report('load')}; rollback took {duration:.1f} s")
    assert run.returncode == 0, run.stdout[-5000:]
    assert load.sent > 0 and load.failed == 0, load.report("rollback")
    assert releases_served() == previous
    for c in WEB:
        assert "action=rollback" in audit(c)[-1] and f"release={previous[c]}" in audit(c)[-1]


# The release sequence of playbooks/tasks/release_app.yml, cut by killing the playbook
# when the task named here starts (its TASK line), so that the step before it is done:
KILL_POINTS = {
    # 2-3: the new instance started and is at its health gate, not yet recorded live
    "at the health gate": "Wait for the health path to answer 200",
    # 4: right after nginx's upstream file changed, before nginx reloaded
    "after the upstream changed": "Ask the site through nginx which socket answers",
    # 6: nginx serves the new instance and current moved; the old one still runs
    "before the old instance stops": "Stop and disable the instances that are not live",
}


def deploy_killed_at(marker, *args):
    """Run site.yml and kill it (the controller, with its SSH sessions) as soon as it
    starts the task named marker; returns what it printed."""
    env = dict(os.environ, ANSIBLE_FORCE_COLOR="0", ANSIBLE_NOCOLOR="1", ANSIBLE_HOST_KEY_CHECKING="False", PYTHONUNBUFFERED="1")
    proc = subprocess.Popen(
        ["ansible-playbook", "-i", INVENTORY, str(PROJECT / "site.yml"), *args],
        cwd=PROJECT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, start_new_session=True,
    )
    lines = []
    try:
        for line in proc.stdout:
            lines.append(line)
            if line.startswith("TASK [") and marker in line:
                os.killpg(proc.pid, 9)
                break
        else:
            pytest.fail(f"the deploy ended without reaching {marker!r}:\n" + "".join(lines[-60:]))
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, 9)
        proc.wait(timeout=60)
    return "".join(lines)


def live_state(container, app=APP):
    """What the host runs for app: the recorded live instance, the instances that are
    active, the socket in nginx's upstream file and `current`."""
    live = docker_exec(container, "readlink", f"/srv/{app}/slots/.live").stdout.strip()
    active = [i for i in ("blue", "green")
              if docker_exec(container, "systemctl", "is-active", "--quiet", f"{app}@{i}.service").returncode == 0]
    upstream = re.search(r"server unix:(\S+);", docker_exec(container, "cat", f"/etc/nginx/conf.d/{app}-upstream.conf").stdout)
    slot = docker_exec(container, "readlink", f"/srv/{app}/slots/{live}").stdout.strip().rsplit("/", 1)[-1]
    return {"live": live, "active": active, "upstream": upstream and upstream.group(1), "slot": slot, "current": current(container, app)}


def test_a_release_cut_at_any_step_converges_on_the_rerun(tmp_path):
    """Issue 12: kill the playbook at each step of the release, break the lock it left
    (as the operator does after an interrupted deploy), rerun: one live, healthy instance
    per app, nginx on its socket, and no failed request of either app on the host."""
    web1 = "kit-site-web1"
    web1_apps = [WEB[web1], NOTES[web1]]
    notes_before = live_state(web1, "notes_api")
    with Load(web1_apps, path="/") as load:
        for point, marker in KILL_POINTS.items():
            src = app_copy(tmp_path, point.replace(" ", "-"), f"# a release cut {point}")
            args = ("--tags", "app", "-e", f"app={APP}", "-e", f"fastapi_app_local_path={src}", "--limit", web1)
            before = live_state(web1)
            cut = deploy_killed_at(marker, *args)
            print(f"\ncut {point}: {live_state(web1)} (before: {before})")
            unlock = playbook("playbooks/unlock.yml", "--limit", web1, "-e", f"app={APP}")
            assert unlock.returncode == 0, unlock.stdout[-3000:]
            rerun = playbook("site.yml", *args)
            assert rerun.returncode == 0, (cut[-3000:], rerun.stdout[-5000:])
            after = live_state(web1)
            assert after["active"] == [after["live"]], (point, after)
            assert after["upstream"] == f"/run/{APP}/{after['live']}.sock", (point, after)
            assert after["slot"] == after["current"] != before["current"], (point, before, after)
            assert get_json(*WEB[web1])["release"] == after["current"]
    print(f"\nreleases cut at {len(KILL_POINTS)} points and rerun: {load.report('load')}")
    assert load.sent > 0 and load.failed == 0, load.report("cut releases")
    assert live_state(web1, "notes_api") == notes_before


def test_a_reboot_right_after_a_switch_brings_every_app_back_on_its_live_release(tmp_path):
    """Issue 12: web2 reboots (the container restarts: /run is empty again) right after
    a release of one app; both apps answer again on their live releases, no rerun."""
    web2 = "kit-site-web2"
    src = app_copy(tmp_path, "reboot", "# a release, then a reboot")
    run = playbook("site.yml", "--tags", "app", "-e", f"app={APP}", "-e", f"fastapi_app_local_path={src}", "--limit", web2)
    assert run.returncode == 0, run.stdout[-5000:]
    served = {name: get_json(name, port)["release"] for name, port in (WEB[web2], NOTES[web2])}
    states = {app: live_state(web2, app) for app in (APP, "notes_api")}
    restart = subprocess.run(["docker", "restart", "-t", "60", web2], capture_output=True, text=True, timeout=180)
    assert restart.returncode == 0, restart.stderr
    booted = docker_exec(web2, "timeout", "120", "systemctl", "is-system-running", "--wait")
    print(f"\nweb2 after the reboot: {booted.stdout.strip()}")
    deadline, answers = time.monotonic() + 90, {}
    while time.monotonic() < deadline:
        try:
            answers = {name: get_json(name, port)["release"] for name, port in (WEB[web2], NOTES[web2])}
            break
        except (OSError, AssertionError):
            time.sleep(1)
    assert answers == served, (answers, served)
    assert {app: live_state(web2, app) for app in (APP, "notes_api")} == states


# The tags the README documents, and the files whose tasks each may run in the deploy
# play, besides the play's own (lock, package list, audit, the release step) and the
# gunicorn role's reading of the live instance, which every app's release needs.
# Run here: the release's tag, base and the two base concerns that share a file with
# others (sshd's port, sysctl_apply), and the app tier's roles, each of whose includes in
# release_app.yml carries its own tags. The other tags go through a mechanism one of
# these shows, and tests/test_base_tags.py holds each to it statically: every base
# concern imported under [base, base_<concern>] alone, and every host role (python,
# node_exporter, postgresql, redis, backup, monitoring) included under its own name with
# its tasks applied `always`; each run here takes about 50 s.
BASE_SHARED = {
    "sshd": ["roles/base/tasks/sshd_port.yml"],
    "swap": ["roles/base/tasks/sysctl_apply.yml"],
}
TAGS = {
    "app": ["roles/fastapi_app/", "roles/gunicorn/", "roles/nginx/tasks/switch_upstream.yml"],
    "base": ["roles/base/"],
    **{f"base_{c}": [f"roles/base/tasks/{c}.yml", *files] for c, files in BASE_SHARED.items()},
    "fastapi_app": ["roles/fastapi_app/"],
    "gunicorn": ["roles/gunicorn/"],
    "nginx": ["roles/nginx/"],
    "certbot": ["roles/certbot/"],
}
ALWAYS = ["site.yml", "playbooks/", "roles/gunicorn/tasks/live.yml"]


def tag_problems(tag, run, log):
    """What is wrong with one tag's run: a failure, a task of another role or concern
    that ran, or none of the tag's own tasks selected."""
    if run.returncode != 0:
        return [f"{tag}: the run failed: {words(run)[-2000:]}"]
    tasks = [json.loads(line) for line in log.read_text().splitlines()]
    selected = [t for t in tasks if t["play"] == "Deploy the FastAPI app tier"]
    # What ran: no task of another role or concern.
    ran = {os.path.relpath(t["path"], PROJECT) for t in selected if t["status"] != "skipped"}
    outside = sorted(f for f in ran if not any(f.startswith(p) for p in TAGS[tag] + ALWAYS))
    problems = [f"{tag}: ran {outside}"] if outside else []
    # What the tag selected: tasks of its own files (on a converged host they may all
    # be skipped by their conditions: apt's when every package is there).
    files = {os.path.relpath(t["path"], PROJECT) for t in selected}
    if not any(f.startswith(p) for f in files for p in TAGS[tag]):
        problems.append(f"{tag}: selected none of its tasks, only {sorted(files)}")
    return problems


def test_each_documented_tag_selects_what_it_says_through_site_yml(tmp_path):
    """Issue 12, item 5: site.yml --tags <tag> on a converged host runs tasks of the
    tag's role or concern only, and selects at least one of them. The tags take turns
    on web1 and web2, both hosts at once (each host has its own lock)."""
    def run_tags(host, tags):
        results = {}
        for tag in tags:
            log = tmp_path / f"{tag}.jsonl"
            env = {"ANSIBLE_CALLBACK_PLUGINS": str(PROJECT / "molecule" / "shared" / "callback_plugins"),
                   "ANSIBLE_CALLBACKS_ENABLED": "kit_task_log", "KIT_TASK_LOG": str(log)}
            log.touch()
            results[tag] = (playbook("site.yml", "--tags", tag, "-e", f"app={APP}", "--limit", host, env=env), log)
        return results

    tags = list(TAGS)
    t0 = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        halves = [pool.submit(run_tags, "kit-site-web1", tags[0::2]), pool.submit(run_tags, "kit-site-web2", tags[1::2])]
        results = {**halves[0].result(), **halves[1].result()}
    print(f"\n{len(tags)} tags run through site.yml in {time.monotonic() - t0:.1f} s")
    problems = [p for tag, (run, log) in results.items() for p in tag_problems(tag, run, log)]
    assert not problems, "\n".join(problems)


def test_second_deploy_fails_on_the_lock(tmp_path):
    """A release on web1 holds the lock (its pre-switch command waits for the test's word);
    meanwhile a second deploy of the site is refused at web1, naming the holder, and
    changes nothing on either host."""
    audit_before = {c: len(audit(c)) for c in WEB}
    src = app_copy(tmp_path, "locked", "# deploy that holds the lock")
    go = f"/srv/{APP}/shared/kit-test-go"
    docker_exec("kit-site-web1", "rm", "-f", go)
    # Bounded: without the word, it gives up after 15 minutes and the release fails.
    hold = f'sh -c "for i in $(seq 900); do [ -e {go} ] && exit 0; sleep 1; done; exit 1"'
    env = dict(os.environ, ANSIBLE_FORCE_COLOR="0", ANSIBLE_HOST_KEY_CHECKING="False")
    # Its output goes to a file: a pipe nobody reads while the test waits fills up (64 KiB)
    # and stops the run before it takes the lock.
    first_log = tmp_path / "first.log"
    with open(first_log, "w") as log:
        first = subprocess.Popen(
            # web1 only: the second run meets web1 first (serial).
            ["ansible-playbook", "-i", INVENTORY, str(PROJECT / "site.yml"), "--tags", "app", "-e", f"app={APP}", "-e",
             f"fastapi_app_local_path={src}", "-e", json.dumps({"fastapi_app_pre_switch_commands": [hold]}),
             "--limit", "kit-site-web1"],
            cwd=PROJECT, stdout=log, stderr=subprocess.STDOUT, text=True, env=env,
        )
    try:
        for _ in range(600):
            if docker_exec("kit-site-web1", "test", "-d", f"/run/fastapi-kit-locks/{APP}").returncode == 0:
                break
            time.sleep(0.5)
        else:
            pytest.fail("the first deploy never took the lock")
        second = playbook("site.yml")
    finally:
        docker_exec("kit-site-web1", "touch", go)
        first.wait(timeout=1800)
        out = first_log.read_text()
        docker_exec("kit-site-web1", "rm", "-f", go)
    assert second.returncode != 0
    refusal = words(second)
    assert "Another deploy holds the deploy lock" in refusal
    assert "deploy by " in refusal  # the message names who holds it
    assert first.returncode == 0, out[-5000:]
    # One line per deploy: the first one's on web1; the refused one wrote none, on either host.
    assert len(audit("kit-site-web1")) == audit_before["kit-site-web1"] + 1
    assert len(audit("kit-site-web2")) == audit_before["kit-site-web2"]
    assert not docker_exec("kit-site-web1", "test", "-e", f"/run/fastapi-kit-locks/{APP}").returncode == 0


NOTES_LEFTOVERS = [
    "/etc/nginx/sites-enabled/notes_api.conf", "/etc/nginx/sites-available/notes_api.conf",
    "/etc/nginx/conf.d/notes_api-upstream.conf", "/etc/nginx/tls/notes_api",
    "/etc/systemd/system/notes_api@.service", "/etc/systemd/system/notes_api@.socket",
    "/etc/notes_api", "/etc/fastapi-kit/notes_api", "/run/notes_api", "/srv/notes_api/releases", "/srv/notes_api/current",
    "/srv/notes_api/env", "/srv/notes_api/cache", "/srv/notes_api/slots",
    "/var/www/notes_api", "/var/log/notes_api", "/var/log/fastapi-kit/notes_api", "/run/fastapi-kit-locks/notes_api",
]


def notes_in_db(container):
    """The texts of the notes in notes_api's SQLite file, read on the host."""
    r = docker_exec(container, "python3", "-c", "import sqlite3, json; print(json.dumps([t for (t,) in sqlite3.connect("
                    "'/srv/notes_api/shared/notes.db').execute('SELECT text FROM notes')]))")
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


# Last: it takes notes_api off both hosts.
def test_removing_an_app_under_load_keeps_the_other_serving_and_its_data(tmp_path):
    """notes_api marked `state: absent` in the inventory: its units, nginx site, certificate,
    releases, users, lock and log go from both hosts while hello_api serves under load
    (a checked reload of nginx, not a restart); its data in shared/ stays; a second run
    changes nothing. Both through the release command (--tags app), which removes an app
    whole (playbooks/tasks/remove_app.yml)."""
    lineage = {c: NOTES[c][0] for c in NOTES}  # certbot_cert_name: the first of certbot_domains
    hello_files = ["/etc/nginx/sites-available/hello_api.conf", "/etc/nginx/conf.d/hello_api-upstream.conf"]
    before = {}
    for c in WEB:
        name, port = NOTES[c]
        from loadgen import _HTTPS

        conn = _HTTPS(name, port, timeout=10)
        conn.request("POST", "/notes", body=json.dumps({"text": "kept after removal"}),
                     headers={"Host": name, "Content-Type": "application/json"})
        assert conn.getresponse().status == 201
        assert docker_exec(c, "test", "-d", f"/etc/letsencrypt/live/{lineage[c]}").returncode == 0
        live = docker_exec(c, "readlink", f"/srv/{APP}/slots/.live").stdout.strip()
        before[c] = {
            "nginx": docker_exec(c, "systemctl", "show", "-p", "MainPID", "--value", "nginx").stdout.strip(),
            "hello": docker_exec(c, "systemctl", "show", "-p", "MainPID", "--value", f"{APP}@{live}.service").stdout.strip(),
            "files": docker_exec(c, "sha256sum", *hello_files).stdout,
            "audit": len(audit(c)),
        }
    # The operator's edit: the item of notes_api says state: absent (the rest of it may go).
    group_vars = yaml.safe_load((Path(__file__).parent.parent / "molecule.yml").read_text())["provisioner"]["inventory"]["group_vars"]["web"]
    apps = [a if a["name"] != "notes_api" else {"name": "notes_api", "state": "absent"} for a in group_vars["apps"]]
    extra = tmp_path / "apps.yml"
    extra.write_text(json.dumps({"apps": apps}))
    with Load(TARGETS) as load:
        t0 = time.monotonic()
        run = playbook("site.yml", "--tags", "app", "-e", f"@{extra}", "-e", "app=notes_api")
        duration = time.monotonic() - t0
    print(f"\nremoval of notes_api from 2 hosts: {load.report('load')}; it took {duration:.1f} s")
    assert run.returncode == 0, run.stdout[-5000:]
    assert load.sent > 0 and load.failed == 0, load.report("removal")
    for c in WEB:
        # hello_api still answers, from the same processes, behind the same nginx master
        # (reloaded, not restarted), with its own files untouched and no audit line.
        assert get_json(*WEB[c])["app"] == APP
        live = docker_exec(c, "readlink", f"/srv/{APP}/slots/.live").stdout.strip()
        assert docker_exec(c, "systemctl", "show", "-p", "MainPID", "--value", "nginx").stdout.strip() == before[c]["nginx"]
        assert docker_exec(c, "systemctl", "show", "-p", "MainPID", "--value", f"{APP}@{live}.service").stdout.strip() == before[c]["hello"]
        assert docker_exec(c, "sha256sum", *hello_files).stdout == before[c]["files"]
        assert len(audit(c)) == before[c]["audit"]
        # Nothing of notes_api is left but its data.
        assert docker_exec(c, "systemctl", "list-units", "--all", "--plain", "--no-legend", "notes_api@*").stdout.strip() == ""
        assert docker_exec(c, "systemctl", "list-unit-files", "--no-legend", "notes_api@*").stdout.strip() == ""
        assert docker_exec(c, "find", "/etc/systemd/system", "-name", "notes_api@*").stdout.strip() == ""
        for path in NOTES_LEFTOVERS + [f"/etc/letsencrypt/{d}/{lineage[c]}" for d in ("live", "archive")]:
            assert docker_exec(c, "test", "-e", path).returncode != 0, f"{c}: {path} is left"
        assert docker_exec(c, "test", "-e", f"/etc/letsencrypt/renewal/{lineage[c]}.conf").returncode != 0
        for user in ("notes_api", "notes_api-build"):
            assert docker_exec(c, "getent", "passwd", user).returncode == 2, f"{c}: user {user} is left"
            assert docker_exec(c, "getent", "group", user).returncode == 2, f"{c}: group {user} is left"
        assert "kept after removal" in notes_in_db(c)
        # Its name gets no answer of the app any more.
        with pytest.raises((OSError, AssertionError, http.client.HTTPException)):
            get_json(*NOTES[c])
    # Removing an app that is not there changes nothing.
    again = playbook("site.yml", "--tags", "app", "-e", f"@{extra}", "-e", "app=notes_api")
    assert again.returncode == 0, again.stdout[-5000:]
    for c in WEB:
        ok, changed, unreachable, failed = recap(again.stdout, c)
        assert (changed, unreachable, failed) == (0, 0, 0), again.stdout[-5000:]
        assert "kept after removal" in notes_in_db(c)

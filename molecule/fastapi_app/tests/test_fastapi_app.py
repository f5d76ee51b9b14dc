"""The fastapi_app role, one host per source (local, git, pypi).

Each host was deployed by converge, left alone by idempotence, and given a
changed source by side_effect (the local host twice, with two releases kept).
"""

import json
import os
import re
from pathlib import Path

APP = "hello_api"
ROOT = f"/srv/{APP}"
GREETING = 'hi $USER, "quoted" `tick` \\ back'
# The password in the pypi host's index URL (see molecule.yml).
CANARY = "kit-canary-5e1f"


def _source(host):
    return host.ansible.get_variables()["fastapi_app_source"]


def _deploys(host):
    """Lines the pre-switch command wrote: one per deploy, in order."""
    return host.file(f"{ROOT}/shared/pre_switch.log").content_string.splitlines()


def _playbook_log():
    """What the playbook runs (converge, idempotence, side_effect) logged with -v;
    not the inventory dumps of the test harness."""
    text = Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"], "ansible.log").read_text()
    records = re.split(r"\n(?=\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ p=)", text)
    by_pid = {}
    for record in records:
        m = re.match(r"\S+ \S+ p=(\d+) ", record)
        by_pid.setdefault(m.group(1) if m else "", []).append(record)
    return "\n".join("\n".join(rs) for rs in by_pid.values() if any("PLAY [" in r for r in rs))


def _current(host):
    link = host.file(f"{ROOT}/current")
    assert link.is_symlink
    return link.linked_to.rsplit("/", 1)[-1]


def test_app_user_is_a_system_user_without_login(host):
    user = host.user(APP)
    assert user.exists
    assert user.shell == "/usr/sbin/nologin"
    assert user.group == APP
    assert user.uid < 1000


def test_layout_and_ownership(host):
    for path, owner, group, mode in [
        (ROOT, "root", APP, 0o750),
        (f"{ROOT}/releases", "root", APP, 0o750),
        (f"{ROOT}/shared", APP, APP, 0o750),
    ]:
        f = host.file(path)
        assert f.is_directory, path
        assert (f.user, f.group, f.mode) == (owner, group, mode), path


def test_pre_switch_commands_ran_once_per_deploy_as_the_app_with_its_environment(host):
    deploys = _deploys(host)
    # converge, then one (pypi) or two (local) changed sources, or a changed source and
    # changed server packages (git); idempotence adds none.
    assert len(deploys) == (2 if _source(host) == "pypi" else 3), deploys
    for line in deploys:
        release, user, database_url = line.split(" ")
        assert user == APP
        assert database_url == "postgresql://app:s3cr3t@db/app"
    assert len({line.split(" ")[0] for line in deploys}) == len(deploys)


def test_changed_source_gave_a_new_release_and_the_old_one_is_kept(host):
    deploys = [line.split(" ")[0] for line in _deploys(host)]
    releases = sorted(host.file(f"{ROOT}/releases").listdir())
    assert _current(host) == deploys[-1]
    # The local host keeps two releases: the live one and the one before it.
    assert releases == sorted(deploys[-2:] if _source(host) == "local" else deploys)
    for release in releases:
        info = json.loads(host.file(f"{ROOT}/releases/{release}/.kit-release.json").content_string)
        assert info["id"] == release
        assert info["source"] == _source(host)


def test_release_ids_derive_from_the_source(host):
    deploys = [line.split(" ")[0] for line in _deploys(host)]
    source = _source(host)
    if source == "local":
        assert all(re.fullmatch(r"local-[0-9a-f]{12}", r) for r in deploys), deploys
    elif source == "git":
        commits = host.check_output("git -C /opt/src/hello_api.git rev-list --max-count=2 main").split()
        first, second = reversed(commits)
        assert [d[:16] for d in deploys] == [f"git-{c[:12]}" for c in (first, second, second)], deploys
    else:
        assert [d[:32] for d in deploys] == ["pypi-fastapi-kit-hello-api-1.0.0", "pypi-fastapi-kit-hello-api-1.0.1"]


def test_local_release_beyond_the_number_to_keep_was_removed(host):
    if _source(host) != "local":
        return
    first = _deploys(host)[0].split(" ")[0]
    assert not host.file(f"{ROOT}/releases/{first}").exists


def test_releases_of_the_same_requirements_share_one_venv(host):
    """Issue 16: a release whose venv only the index fills (requirements.txt, the server
    packages) links the venv of the same build inputs and requirements under venvs/,
    built once (build_release.yml); a venv no release links is gone (cleanup.yml). A pypi
    release's venv holds the app: it is the release's own."""
    releases = host.check_output(f"ls {ROOT}/releases").split()
    assert len(releases) >= 2, releases
    if _source(host) == "pypi":
        for r in releases:
            assert host.file(f"{ROOT}/releases/{r}/venv").is_directory, r
        return
    links = {r: host.check_output(f"readlink {ROOT}/releases/{r}/venv") for r in releases}
    assert all(re.fullmatch(rf"{ROOT}/venvs/[0-9a-f]{{24}}", v) for v in links.values()), links
    for venv in set(links.values()):
        assert host.file(f"{venv}/.kit-venv-complete").exists, venv
        d = host.file(venv)
        assert (d.user, d.group, d.mode) == ("root", "root", 0o755), venv
        assert host.run(f"find {venv} -not -user root").stdout == "", venv
    assert sorted(host.check_output(f"ls {ROOT}/venvs").split()) == sorted(v.rsplit("/", 1)[1] for v in set(links.values()))
    if _source(host) == "local":
        # The local releases differ in their code only: one venv for them all.
        assert len(set(links.values())) == 1, links


def test_release_venv_runs_the_app_and_the_server(host):
    release = f"{ROOT}/releases/{_current(host)}"
    out = host.check_output(
        f"cd {release} && runuser -u {APP} -- venv/bin/python -c "
        "'import hello_api, hello_api.main, gunicorn, uvicorn_worker; print(hello_api.__version__)'"
    )
    assert out == ("1.0.1" if _source(host) == "pypi" else "1.0.0")
    lock = host.file(f"{release}/requirements.lock.txt").content_string
    assert "gunicorn==27.0.1" in lock and "uvicorn-worker==0.4.0" in lock and "fastapi==" in lock


def test_the_installer_filled_the_venv(host):
    """The git host uses fastapi_app_installer=uv, the others pip."""
    venv = f"{ROOT}/releases/{_current(host)}/venv"
    site = host.check_output(f"{venv}/bin/python -c 'import fastapi, os; print(os.path.dirname(fastapi.__file__))'")
    # Bytecode of the dependencies is there: the app cannot write it at run time.
    assert host.run(f"ls {site}/__pycache__/__init__.*.pyc").rc == 0
    if host.ansible.get_variables().get("fastapi_app_installer") == "uv":
        assert host.check_output("/opt/fastapi-kit-uv/bin/uv --version").startswith("uv 0.13.9")
        assert not host.file(f"{venv}/bin/pip").exists
        # uv's cache is the build user's; it copies from it, as the kernel lets no
        # other user hard-link the files the release gives to root.
        assert int(host.check_output(f"stat -c %h {site}/routing.py")) == 1
        assert host.file(f"{ROOT}/cache/build/uv").user == f"{APP}-build"
    else:
        assert host.file(f"{venv}/bin/pip").exists
        assert not host.file("/opt/fastapi-kit-uv").exists


def test_app_cannot_change_its_own_release(host):
    release = f"{ROOT}/releases/{_current(host)}"
    assert host.run(f"runuser -u {APP} -- touch {release}/hello_api/x").rc != 0
    assert host.run(f"runuser -u {APP} -- touch {ROOT}/shared/x && rm {ROOT}/shared/x").rc == 0


def test_env_file_is_private_and_reads_the_same_in_systemd_and_sh(host):
    # The newest env file: each is named after its content, in a root-owned directory.
    path = host.check_output(f"ls -t {ROOT}/env/*.env | head -n 1")
    envdir = host.file(f"{ROOT}/env")
    assert (envdir.user, envdir.group, envdir.mode) == ("root", APP, 0o750)
    env = host.file(path)
    assert (env.user, env.group, env.mode) == ("root", APP, 0o640)
    via_systemd = host.check_output(f"systemd-run --quiet --wait --pipe -p EnvironmentFile={path} printenv HELLO_GREETING")
    via_sh = host.check_output(f"sh -c 'set -a; . {path}; printenv HELLO_GREETING'")
    assert via_systemd == GREETING
    assert via_sh == GREETING
    assert "DATABASE_URL=" in env.content_string and "WORKERS_HINT=\"3\"" in env.content_string


def test_new_server_packages_give_a_new_release(host):
    """Issue 11, item 8: the git host deployed its last commit twice, the second time
    with one more server package; that must be a new release, built and live."""
    if _source(host) != "git":
        return
    deploys = [line.split(" ")[0] for line in _deploys(host)]
    assert len(deploys) == 3 and deploys[1] != deploys[2], deploys
    assert _current(host) == deploys[2]
    lock = host.file(f"{ROOT}/releases/{deploys[2]}/requirements.lock.txt").content_string
    assert "six==1.17.0" in lock
    assert "six==" not in host.file(f"{ROOT}/releases/{deploys[1]}/requirements.lock.txt").content_string


def test_index_password_never_on_a_command_line(host):
    """Issue 11, item 4: the watcher from prepare saw no process with the index's password."""
    if _source(host) != "pypi":
        return
    assert host.service("kit-cmdline-watch").is_running
    record = json.loads(host.file("/root/kit-cmdline-watch.json").content_string)
    # The watcher saw pip install the app's dependencies.
    assert any("pip" in " ".join(argv) and "install" in argv for argv in record["argv"]), f"{record['scans']} scans"
    hits = [" ".join(argv) for argv in record["argv"] if any(CANARY in arg for arg in argv)]
    assert hits == [], hits


def test_index_password_not_in_the_output(host):
    """Issue 11, item 4: no task result (logged with -v) shows the index's password."""
    if _source(host) != "pypi":
        return
    log = _playbook_log()
    assert "Install the app's dependencies" in log
    leaks = [line for line in log.splitlines() if CANARY in line]
    assert not leaks, leaks[:5]


def test_local_source_modes_are_normalised_and_secrets_left_out(host):
    """Issue 11, item 9: the last local source had a 0666 file, a 0777 directory, a
    0775 script, .env files and keys."""
    if _source(host) != "local":
        return
    release = f"{ROOT}/releases/{_current(host)}"
    for path, mode in [("hello_api/main.py", 0o644), ("hello_api/static", 0o755), ("hello_api/static/run.sh", 0o755)]:
        f = host.file(f"{release}/{path}")
        assert (f.user, f.group, f.mode) == ("root", "root", mode), path
    for path in [".env", ".env.production", "hello_api/key.pem", "deploy.key"]:
        assert not host.file(f"{release}/{path}").exists, path
    log = _playbook_log()
    assert "kit-dotenv-secret" not in log
    # The message naming what was left out, as logged (a YAML dump may fold it).
    left_out = [" ".join(chunk[:2000].split()) for chunk in log.split("Left out of the release")[1:]]
    assert left_out, "no task named the files left out"
    for path in [".env", ".env.production", "hello_api/key.pem", "deploy.key"]:
        assert any(re.search(rf"[\s:,]{re.escape(path)}(?=[\s,'\"]|$)", m) for m in left_out), (path, left_out)


def test_a_build_on_a_full_disk_fails_and_leaves_nothing(host):
    """Issue 11, item 16: tiny_api on a tmpfs, rebuilt with 4 KiB and with 24 MiB to spare."""
    if _source(host) != "local":
        return
    outcomes = json.loads(host.file("/root/kit-full-disk.json").content_string)
    assert sorted(outcomes) == ["24m", "4k"]
    # The space comes back; pip's HTTP cache in cache/build may keep what the
    # second build fetched (index pages), never the megabytes of a venv.
    slack = {"4k": 0, "24m": 1024}
    for room, o in outcomes.items():
        # Said plainly, whichever step ran out of space (venv's ensurepip does not say).
        assert re.search(r"/srv/tiny_api has \d+ MiB free .* the disk is full", o["error"]), (room, o)
        assert o["current"] == f"releases/{o['live_before']}", (room, o)
        assert sorted(o["releases"]) == [".history", o["live_before"]], (room, o)
        assert o["used_after_kib"] <= o["used_before_kib"] + slack[room], (room, o)
        assert o["controller_tarballs"] == [], (room, o)
    # As Gunicorn imports it: from the release directory, with the release's venv.
    imported = host.run("cd /srv/tiny_api/current && venv/bin/python -c 'import hello_api.main, gunicorn'")
    assert imported.rc == 0, imported.stderr


def test_source_distributions_build_as_the_build_user_not_root(host):
    """Issue 11, item 7: the pypi host's kit-uid-probe sdist wrote the uid of each build."""
    if _source(host) != "pypi":
        return
    uids = host.file("/tmp/kit-uid-probe.uid").content_string.split()
    assert uids, "the probe was never built"
    build_uid = host.user(f"{APP}-build").uid
    assert all(int(uid) == build_uid != 0 for uid in uids), (uids, build_uid)
    assert "kit-uid-probe==1.0" in host.file(f"{ROOT}/releases/{_current(host)}/requirements.lock.txt").content_string


def test_releases_are_roots_and_read_only(host):
    """Issue 11, item 7: nothing in a release belongs to another user or is group/other writable."""
    for release in host.file(f"{ROOT}/releases").listdir():
        if release.startswith("."):
            continue
        # The release directory itself is root:<app> 0750.
        odd = host.check_output(
            f"find {ROOT}/releases/{release} -mindepth 1 ! -type l \\( ! -user root -o ! -group root -o -perm /022 \\) | head -5"
        )
        assert odd == "", (release, odd)


def test_wheels_only_refuses_the_source_distribution(host):
    """Issue 11, item 7: fastapi_app_only_binary failed the deploy, naming the package."""
    if _source(host) != "pypi":
        return
    outcome = host.file("/root/kit-only-binary.txt").content_string
    assert outcome.startswith("failed:"), outcome
    assert "kit-uid-probe" in outcome and "live release is unchanged" in outcome, outcome
    assert _current(host).startswith("pypi-fastapi-kit-hello-api-1.0.1")

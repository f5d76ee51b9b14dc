"""The fastapi_app role, one host per source (local, git, pypi).

Each host was deployed by converge, left alone by idempotence, and given a
changed source by side_effect (the local host twice, with two releases kept).
"""

import json
import re

APP = "hello_api"
ROOT = f"/srv/{APP}"
GREETING = 'hi $USER, "quoted" `tick` \\ back'


def _source(host):
    return host.ansible.get_variables()["fastapi_app_source"]


def _deploys(host):
    """Lines the pre-switch command wrote: one per deploy, in order."""
    return host.file(f"{ROOT}/shared/pre_switch.log").content_string.splitlines()


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
    # converge, then one (git, pypi) or two (local) changed sources; idempotence adds none.
    assert len(deploys) == (3 if _source(host) == "local" else 2), deploys
    for line in deploys:
        release, user, database_url = line.split(" ")
        assert user == APP
        assert database_url == "postgresql://app:s3cr3t@db/app"
    assert len({line.split(" ")[0] for line in deploys}) == len(deploys)


def test_changed_source_gave_a_new_release_and_the_old_one_is_kept(host):
    deploys = [line.split(" ")[0] for line in _deploys(host)]
    releases = sorted(host.file(f"{ROOT}/releases").listdir())
    assert _current(host) == deploys[-1]
    # Two releases kept: the live one and the one before it.
    assert releases == sorted(deploys[-2:])
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
        assert deploys == [f"git-{c[:12]}" for c in reversed(commits)]
    else:
        assert deploys == ["pypi-fastapi-kit-hello-api-1.0.0", "pypi-fastapi-kit-hello-api-1.0.1"]


def test_local_release_beyond_the_number_to_keep_was_removed(host):
    if _source(host) != "local":
        return
    first = _deploys(host)[0].split(" ")[0]
    assert not host.file(f"{ROOT}/releases/{first}").exists


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
        # uv linked the files in from its cache on the same disk instead of copying them.
        assert int(host.check_output(f"stat -c %h {site}/routing.py")) > 1
        assert host.file(f"{ROOT}/cache/uv").is_directory
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

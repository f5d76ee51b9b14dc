"""The deploy lock under attack and under faults (issue 11, items 5 and 6).

Each test runs the real site.yml (or playbooks/unlock.yml) against a bare Debian
container. `--tags kit-lock-only` names no task, so the deploy play runs only its
`always` tasks: the lock, the package facts, the audit line and the release of the lock.
"""

import json
import os
import re
import subprocess

import pytest

from conftest import ROOT, docker, start_host

APP = "hello_api"
# Where a lock of the example app can be: the world-writable place older versions of
# the kit used, and the root-only directory it uses now.
LOCK_PLACES = [f"/run/lock/{APP}-deploy", f"/run/fastapi-kit-locks/{APP}"]
# The kit's own: the tests below ran against both versions, to see them fail first.
LOCK = LOCK_PLACES["deploy_lock_dir:" in (ROOT / "group_vars" / "all" / "deploy.yml").read_text()]
CANARY = "kit-shadow-canary-6f1d"
ONLY_ALWAYS = ("--tags", "kit-lock-only")
JSON_OUTPUT = {"ANSIBLE_STDOUT_CALLBACK": "json", "ANSIBLE_LOAD_CALLBACK_PLUGINS": "1"}


@pytest.fixture
def host(tmp_path_factory):
    host = start_host(tmp_path_factory, "kit-lock")
    # A root-only secret the attacks below try to read.
    host.run("sh", "-c", f"echo 'kitcanary:{CANARY}:20000:0:99999:7:::' >> /etc/shadow")
    try:
        yield host
    finally:
        docker("rm", "-f", host.name, check=False)


def lock_only_deploy(host, env=None):
    """site.yml with only its `always` tasks; the run, and all it printed."""
    result = host.playbook("site.yml", None, *ONLY_ALWAYS, env=env)
    return result, result.stdout + result.stderr


def lock_held(host):
    return host.run("test", "-e", LOCK).returncode == 0


def plant_lock(host, owner_line, age="1 minute ago"):
    """A lock as a deploy of the kit leaves it."""
    host.run("sh", "-c", f"mkdir -p -m 0700 {os.path.dirname(LOCK)} && mkdir -m 0700 {LOCK} && "
                         f"printf '%s\\n' '{owner_line}' > {LOCK}/owner && touch -d '{age}' {LOCK}")


def failure_messages(result):
    """The msg of every failed task, from the json callback's output."""
    # The task-timing callback of ansible.cfg prints lines around the JSON document.
    out, _ = json.JSONDecoder().raw_decode(result.stdout[result.stdout.index("{"):])
    return [
        res.get("msg", "")
        for play in out["plays"]
        for task in play["tasks"]
        for res in task["hosts"].values()
        if res.get("failed")
    ]


def test_a_planted_owner_link_is_never_printed_and_blocks_no_deploy(host):
    """A local user plants the lock with `owner` linked to /etc/shadow (item 5)."""
    for place in LOCK_PLACES:
        host.run("runuser", "-u", "nobody", "--", "sh", "-c", f"mkdir {place} && ln -s /etc/shadow {place}/owner")
    result, output = lock_only_deploy(host)
    assert CANARY not in output, "the kit printed /etc/shadow"
    assert result.returncode == 0, output
    assert not lock_held(host)


def test_a_lock_directory_made_by_another_user_is_refused(host):
    host.run("sh", "-c", "mkdir -m 0777 /run/fastapi-kit-locks && chown nobody /run/fastapi-kit-locks")
    result, output = lock_only_deploy(host)
    assert result.returncode != 0, output
    assert "deploy_lock_dir" in output and "must be a directory of root's" in output, output


def test_a_stale_lock_is_reported_with_its_owner(host):
    plant_lock(host, "deploy by alice@laptop since 2026-01-01T00:00:00Z", age="3 hours ago")
    result, output = lock_only_deploy(host)
    assert result.returncode != 0, output
    assert "alice@laptop" in output and "STALE" in output and "deploy_lock_stale_minutes" in output, output
    # A lock this run did not take stays.
    assert lock_held(host)


def test_the_printed_unlock_command_works_as_written(host, tmp_path):
    """Copied from the refusal and run from another directory, without .venv/bin on PATH."""
    plant_lock(host, "deploy by bob@ci since 2026-11-30T10:00:00Z")
    result, output = lock_only_deploy(host, env=JSON_OUTPUT)
    assert result.returncode != 0, output
    # The lock's own refusal, then the play's summary of it.
    message = [m for m in failure_messages(result) if "break the lock with" in m][0]
    command = message.split("break the lock with:", 1)[1].strip()
    bare_path = ":".join(p for p in os.environ["PATH"].split(":") if not p.startswith(str(ROOT)) and ".venv" not in p)
    unlock = subprocess.run(["bash", "-c", command], cwd=tmp_path, capture_output=True, text=True, timeout=300,
                            env=dict(os.environ, PATH=bare_path))
    assert unlock.returncode == 0, command + "\n" + unlock.stdout + unlock.stderr
    assert not lock_held(host), command


def test_unlock_without_limit_asks_for_confirmation(host):
    plant_lock(host, "deploy by carol@ci since 2026-11-30T10:00:00Z")
    refused = host.playbook("playbooks/unlock.yml")
    assert refused.returncode != 0, refused.stdout
    assert "unlock_all_hosts" in refused.stdout + refused.stderr
    assert lock_held(host)
    confirmed = host.playbook("playbooks/unlock.yml", {"unlock_all_hosts": True})
    assert confirmed.returncode == 0, confirmed.stdout + confirmed.stderr
    assert "carol@ci" in confirmed.stdout
    assert not lock_held(host)


def test_the_lock_is_released_when_the_step_after_it_fails(host):
    """The package facts, right after the lock, fail without python3-apt (item 6)."""
    host.run("mv", "/usr/lib/python3/dist-packages/apt", "/usr/lib/python3/dist-packages/apt.hidden")
    result, output = lock_only_deploy(host)
    assert result.returncode != 0, output
    assert re.search(r"package|apt", output), output
    assert not lock_held(host), "the failed deploy left its lock behind"

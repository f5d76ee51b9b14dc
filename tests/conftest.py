"""Shared fixtures: a throwaway test host in a container, reached the way Ansible reaches it."""

import json
import os
import re
import subprocess
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# The plain strategy for every playbook these tests run (ansible.cfg's is Mitogen's):
# most cases are bad inputs stopped in site.yml's first play, whose time is the
# controller's own (one case: 6.5 s under Mitogen through `docker exec`, 7.0 s plain,
# 2026-12-02), and the SSH deploys of tests/test_ci_and_ee.py keep plain SSH tested.
os.environ.setdefault("ANSIBLE_STRATEGY", "linear")
IMAGE = os.environ.get("KIT_IMAGE", "fastapi-kit/debian-trixie:systemd")
# A public key of the right form; no one holds its private half.
TEST_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKitTestKeyNobodyHoldsThePrivateHalfOfThis0 test@kit"


def docker(*args, check=True):
    return subprocess.run(["docker", *args], check=check, capture_output=True, text=True)


class Host:
    """A container from the test image, in group `web` of its own inventory."""

    def __init__(self, name, inventory):
        self.name = name
        self.inventory = inventory

    def run(self, *cmd):
        return docker("exec", self.name, *cmd, check=False)

    def playbook(self, playbook, extra_vars=None, *args, env=None):
        cmd = [
            "ansible-playbook",
            "-i",
            str(self.inventory),
            str(ROOT / playbook),
        ]
        if extra_vars is not None:
            cmd += ["-e", json.dumps(extra_vars)]
        cmd += list(args)
        env = dict(os.environ, ANSIBLE_FORCE_COLOR="0", ANSIBLE_NOCOLOR="1", **(env or {}))
        return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, env=env, timeout=600)


    def assert_fails_before_any_change(self, extra_vars, variable, untouched):
        """site.yml with extra_vars fails in its validation play, names `variable`,
        changes nothing, and none of the `untouched` paths exists on the host."""
        result = self.playbook("site.yml", extra_vars)
        output = result.stdout + result.stderr
        assert result.returncode != 0, output
        assert variable in output, output
        recap = re.search(r"ok=\d+\s+changed=(\d+)\s+unreachable=\d+\s+failed=(\d+)", output)
        assert recap, output
        assert recap.group(1) == "0", output
        assert recap.group(2) == "1", output
        # The failure came from the validation play, before the deploy play started.
        assert "PLAY [Deploy the FastAPI app tier]" not in output, output
        for path in untouched:
            assert self.run("test", "-e", path).returncode != 0, path
        return output


def start_host(tmp_path_factory, prefix):
    """Start a bare Debian container (no systemd) in group `web` of an inventory of its own."""
    name = f"{prefix}-{uuid.uuid4().hex[:8]}"
    docker("run", "-d", "--name", name, "--label", "fastapi-kit-test=1", IMAGE, "sleep", "infinity")
    inventory = tmp_path_factory.mktemp("inv") / "hosts.yml"
    inventory.write_text(
        json.dumps(
            {
                "web": {
                    "hosts": {
                        name: {
                            "ansible_connection": "community.docker.docker",
                            "ansible_python_interpreter": "/usr/bin/python3",
                            # The deploy user's key every inventory must give.
                            "base_deploy_authorized_keys": [TEST_KEY],
                        }
                    }
                }
            }
        )
    )
    return Host(name, inventory)


@pytest.fixture(scope="session")
def bare_host(tmp_path_factory):
    """A bare Debian host (no systemd needed): input checks must fail before touching it."""
    host = start_host(tmp_path_factory, "kit-bare")
    try:
        yield host
    finally:
        docker("rm", "-f", host.name, check=False)


def _extract_promtool(cache):
    """Debian's promtool, from the `prometheus` package, unpacked (never installed: the
    package would start a Prometheus service on the controller)."""
    target = cache / "promtool"
    program = target / "usr" / "bin" / "promtool"
    if program.exists():
        return program
    target.mkdir(parents=True, exist_ok=True)
    download = target / "deb"
    download.mkdir(exist_ok=True)
    subprocess.run(["apt-get", "download", "prometheus"], cwd=download, check=True, capture_output=True, text=True)
    deb = sorted(download.glob("prometheus_*.deb"))[-1]
    subprocess.run(["dpkg-deb", "-x", str(deb), str(target)], check=True, capture_output=True, text=True)
    assert program.exists(), f"{deb} holds no usr/bin/promtool"
    return program


@pytest.fixture(scope="session")
def promtool():
    """promtool from PATH, or extracted once from Debian's package into $KIT_CACHE_DIR/promtool/."""
    import shutil

    found = shutil.which("promtool")
    if found:
        return Path(found)
    cache = Path(os.environ.get("KIT_CACHE_DIR", Path.home() / ".cache" / "fastapi-kit"))
    return _extract_promtool(cache)


def render_monitoring_template(template, dest, extra_vars=None):
    """Render a template of the monitoring role with its defaults (and extra_vars) the way
    the role does, through Ansible's template module on localhost."""
    role = ROOT / "roles" / "monitoring"
    cmd = [
        "ansible", "localhost", "-c", "local", "-m", "ansible.builtin.template",
        "-a", json.dumps({"src": str(role / "templates" / template), "dest": str(dest)}),
        "-e", "@" + str(role / "defaults" / "main.yml"),
        "-e", "@" + str(role / "vars" / "main.yml"),
    ]
    if extra_vars:
        cmd += ["-e", json.dumps(extra_vars)]
    env = dict(os.environ, ANSIBLE_FORCE_COLOR="0", ANSIBLE_NOCOLOR="1", ANSIBLE_LOCALHOST_WARNING="0")
    result = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    return dest

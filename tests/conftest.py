"""Shared fixtures: a throwaway test host in a container, reached the way Ansible reaches it."""

import json
import os
import subprocess
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
IMAGE = os.environ.get("KIT_IMAGE", "fastapi-kit/debian-bookworm:systemd")


def docker(*args, check=True):
    return subprocess.run(["docker", *args], check=check, capture_output=True, text=True)


class Host:
    """A container from the test image, in group `web` of its own inventory."""

    def __init__(self, name, inventory):
        self.name = name
        self.inventory = inventory

    def run(self, *cmd):
        return docker("exec", self.name, *cmd, check=False)

    def playbook(self, playbook, extra_vars=None, *args):
        cmd = [
            "ansible-playbook",
            "-i",
            str(self.inventory),
            str(ROOT / playbook),
        ]
        if extra_vars is not None:
            cmd += ["-e", json.dumps(extra_vars)]
        cmd += list(args)
        env = dict(os.environ, ANSIBLE_FORCE_COLOR="0", ANSIBLE_NOCOLOR="1")
        return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, env=env, timeout=600)


@pytest.fixture(scope="session")
def bare_host(tmp_path_factory):
    """A bare Debian host (no systemd needed): input checks must fail before touching it."""
    name = f"kit-bare-{uuid.uuid4().hex[:8]}"
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
                        }
                    }
                }
            }
        )
    )
    try:
        yield Host(name, inventory)
    finally:
        docker("rm", "-f", name, check=False)

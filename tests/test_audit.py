"""The audit log names who deployed, even from a shell that set no user variables."""

import json
import os
import re
import socket
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_audit_line_names_the_effective_user_without_user_variables(tmp_path):
    """playbooks/tasks/audit.yml with the shared deploy_who, run on the controller as
    `sudo -i` or a cron job would run it: no USER, SUDO_USER or LOGNAME."""
    log = tmp_path / "log" / "deploys.log"
    play = tmp_path / "audit.yml"
    play.write_text(
        json.dumps(
            [
                {
                    "name": "Write one audit line",
                    "hosts": "localhost",
                    "connection": "local",
                    "gather_facts": False,
                    "vars_files": [str(ROOT / "group_vars" / "all" / "deploy.yml")],
                    "tasks": [{"ansible.builtin.include_tasks": str(ROOT / "playbooks" / "tasks" / "audit.yml")}],
                }
            ]
        )
    )
    extra = {
        "deploy_audit_log": str(log),
        "_deploy_release": "local-0123456789ab",
        "_deploy_result": "ok",
        "ansible_python_interpreter": sys.executable,
    }
    env = {k: v for k, v in os.environ.items() if k not in ("USER", "SUDO_USER", "LOGNAME")}
    result = subprocess.run(
        ["ansible-playbook", "-i", "localhost,", str(play), "-e", json.dumps(extra)],
        cwd=tmp_path, capture_output=True, text=True, env=env, timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    line = log.read_text().strip()
    effective = subprocess.run(["id", "-un"], capture_output=True, text=True, check=True).stdout.strip()
    assert re.fullmatch(r"\S+Z action=deploy release=local-0123456789ab result=ok by=\S+", line), line
    assert line.endswith(f" by={effective}@{socket.gethostname()}"), line

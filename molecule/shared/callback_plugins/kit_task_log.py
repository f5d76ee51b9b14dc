"""Record, per host, every task a playbook run ran or skipped: its file, play, name
and result, one JSON line each, to the file KIT_TASK_LOG names. The site scenario's
tag test reads it to see which tasks a tag selected.

Enable with ANSIBLE_CALLBACK_PLUGINS=<this directory> ANSIBLE_CALLBACKS_ENABLED=kit_task_log.
"""

import json
import os

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = """
name: kit_task_log
type: aggregate
short_description: every task's file and result, as JSON lines
description: Writes one line per task and host to the file KIT_TASK_LOG names.
requirements: [KIT_TASK_LOG in the environment]
"""


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "kit_task_log"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self):
        super().__init__()
        self._play = ""
        self._path = os.environ["KIT_TASK_LOG"]

    def v2_playbook_on_play_start(self, play):
        self._play = play.get_name()

    def _record(self, result, status):
        task = result._task
        line = {
            "host": result._host.get_name(),
            "play": self._play,
            "path": (task.get_path() or "").rsplit(":", 1)[0],
            "name": task.get_name(),
            "status": status,
        }
        with open(self._path, "a") as f:
            f.write(json.dumps(line) + "\n")

    def v2_runner_on_ok(self, result):
        self._record(result, "changed" if result._result.get("changed") else "ok")

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._record(result, "failed")

    def v2_runner_on_skipped(self, result):
        self._record(result, "skipped")

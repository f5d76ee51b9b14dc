"""The load of playbooks/loadcheck.yml: GETs of one path on each web host of an app, over
HTTPS through the app's name, at a steady total rate.

It reads its settings from the environment, which the playbook sets:
  KIT_LOADCHECK_TARGETS  JSON list of {"name", "port", "address"}: the TLS name (SNI,
                         Host, the certificate's name) and where to connect ("address"
                         empty: the name itself, as DNS says)
  KIT_LOADCHECK_PATH     the path to ask, e.g. /health
  KIT_LOADCHECK_RATE     requests per second of all users together
  KIT_LOADCHECK_USERS    the number of users (to split the rate)
  KIT_LOADCHECK_VERIFY   "true", "false" or a CA file to verify the certificate with
Users take the targets in turn, so that each host gets an equal share.
"""

import itertools
import json
import os

from locust import HttpUser, constant_throughput, task
from requests.adapters import HTTPAdapter

TARGETS = json.loads(os.environ["KIT_LOADCHECK_TARGETS"])
PATH = os.environ["KIT_LOADCHECK_PATH"]
RATE = float(os.environ["KIT_LOADCHECK_RATE"])
USERS = int(os.environ["KIT_LOADCHECK_USERS"])
VERIFY = {"true": True, "false": False}.get(os.environ["KIT_LOADCHECK_VERIFY"], os.environ["KIT_LOADCHECK_VERIFY"])
_next_target = itertools.cycle(TARGETS)


class _ConnectTo(HTTPAdapter):
    """Connect to an address of our choosing, with the app's name for SNI and for the
    certificate's check (curl's --connect-to)."""

    def __init__(self, name):
        self._name = name
        super().__init__()

    def init_poolmanager(self, *args, **kwargs):
        kwargs["server_hostname"] = self._name
        kwargs["assert_hostname"] = self._name
        super().init_poolmanager(*args, **kwargs)


class AppUser(HttpUser):
    host = "https://localhost"  # replaced per user in on_start
    wait_time = constant_throughput(RATE / USERS)

    def on_start(self):
        target = next(_next_target)
        self.client.base_url = f"https://{target['address'] or target['name']}:{target['port']}"
        self.client.verify = VERIFY
        self.client.headers["Host"] = target["name"] if target["port"] == 443 else f"{target['name']}:{target['port']}"
        if target["address"]:
            self.client.mount(self.client.base_url, _ConnectTo(target["name"]))
        self.label = f"GET {PATH} on {target['name']}"

    @task
    def get(self):
        self.client.get(PATH, name=self.label)

"""The per-app settings site.yml accepts in an item of `apps` are exactly those the
roles read from kit_app: a setting added to a role's defaults without the list (or
the other way round) would be refused, or silently ignored."""

import re

import yaml

from conftest import ROOT


def test_the_list_of_per_app_settings_matches_the_roles():
    listed = yaml.safe_load((ROOT / "playbooks" / "vars" / "apps.yml").read_text())
    read = set()
    for defaults in (ROOT / "roles").glob("*/defaults/main.yml"):
        read |= set(re.findall(r"kit_app\.([a-z_]+)", defaults.read_text()))
    for name in ("vars/main.yml",):
        for path in (ROOT / "roles").glob(f"*/{name}"):
            read |= set(re.findall(r"kit_app\.([a-z_]+)", path.read_text()))
    # Of the switches, site.yml reads `state` itself, playbooks/vars/monitoring.yml `metrics`;
    # fastapi_app's remove phase reads `purge_data`.
    assert set(listed["_kit_app_switches"]) == {"state", "purge_data", "metrics"}
    assert read - {"name"} == set(listed["_kit_app_settings"]) | set(listed["_kit_app_merged_settings"]) | {"purge_data"}

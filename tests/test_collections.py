"""requirements.yml lists exactly the collections the kit's code uses, and the pinned
`ansible` package ships each of them."""

import re
import subprocess
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
# Where the kit names modules, filters, callbacks and connections by their full names.
SOURCES = ["roles", "playbooks", "molecule", "tests", "bench", "site.yml", "ansible.cfg", ".config"]
FQCN = re.compile(r"\b([a-z][a-z0-9_]*\.[a-z][a-z0-9_]*)\.[a-z][a-z0-9_]*\b")
NAMESPACES = {"ansible", "community", "ansible_collections"}
# ansible-core itself: its builtin collection, and the Python packages a plugin imports
# (a callback's `from ansible.plugins.callback import CallbackBase`).
CORE = {"ansible.builtin", "ansible.plugins", "ansible.module_utils"}


def used_collections():
    used = set()
    for source in SOURCES:
        path = ROOT / source
        files = [path] if path.is_file() else [p for p in path.rglob("*") if p.suffix in {".yml", ".yaml", ".py", ".j2", ".cfg"}]
        for f in files:
            if f == Path(__file__):
                continue
            for name in FQCN.findall(f.read_text()):
                if name.split(".")[0] in NAMESPACES and name not in CORE:
                    used.add(name)
    return used


def listed_collections():
    return {c["name"] for c in yaml.safe_load((ROOT / "requirements.yml").read_text())["collections"]}


def test_requirements_list_exactly_the_collections_used():
    used = used_collections()
    # Sanity: the scan finds what the kit is known to use.
    assert {"ansible.posix", "ansible.utils"} <= used, used
    assert listed_collections() == used


def test_every_listed_collection_ships_with_the_pinned_ansible():
    out = subprocess.run(
        ["ansible-galaxy", "collection", "install", "-r", "requirements.yml"],
        cwd=ROOT, capture_output=True, text=True, check=True,
    ).stdout
    assert "Nothing to do" in out, out

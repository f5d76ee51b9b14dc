"""Every base concern has its own tag, `base_<concern>`, that selects its file alone:
the role imports tasks/<concern>.yml under exactly [base, base_<concern>], and site.yml
passes the tag down to the role (its include of base lists it). The site scenario runs
a few of these tags through site.yml on a converged host (the concerns that share a
file, and those of the bootstrap); this test holds every concern to the same shape, so
that what those runs show holds for the others too."""

import re

import yaml

from conftest import ROOT

BASE_TASKS = ROOT / "roles" / "base" / "tasks"
# Files a concern's file imports or includes itself, which have no tag of their own.
SHARED = {"sshd_port.yml", "sysctl_apply.yml"}
# The role's entry points and its preflight, which is not a concern.
NOT_CONCERNS = {"main.yml", "bootstrap.yml", "preflight.yml"}


def imports():
    """(file, tags) of every import in the role's main.yml and bootstrap.yml, and of
    every include (a concern most hosts skip whole: one skipped task instead of one per
    task of the file), which applies `always` to what it includes."""
    found = []
    for entry in ("main.yml", "bootstrap.yml"):
        for task in yaml.safe_load((BASE_TASKS / entry).read_text()):
            target = task.get("ansible.builtin.import_tasks")
            include = task.get("ansible.builtin.include_tasks")
            if include and include.get("file") != "preflight.yml":
                assert include.get("apply") == {"tags": ["always"]}, task
                target = include["file"]
            if target and target != "bootstrap.yml":
                found.append((target, task.get("tags")))
    return found


def site_base_tags():
    site = yaml.safe_load((ROOT / "site.yml").read_text())
    deploy = next(play for play in site if play["name"] == "Deploy the FastAPI app tier")
    block = deploy["tasks"][0]["block"]
    include = next(t for t in block if t.get("ansible.builtin.include_role", {}).get("name") == "base")
    return set(include["tags"])


def test_each_concern_file_is_imported_under_its_own_tag_only():
    concerns = {p.name for p in BASE_TASKS.glob("*.yml")} - SHARED - NOT_CONCERNS
    found = imports()
    assert {f for f, _ in found} == concerns
    for target, tags in found:
        assert tags == ["base", "base_" + target.removesuffix(".yml")], (target, tags)


def test_site_yml_passes_every_concern_tag_to_the_role():
    wanted = {"base"} | {"base_" + f.removesuffix(".yml") for f, _ in imports()}
    assert site_base_tags() == wanted


def test_the_shared_files_are_reached_only_from_concern_files():
    for name in SHARED:
        users = [p.name for p in BASE_TASKS.glob("*.yml") if re.search(rf"\b{re.escape(name)}\b", p.read_text())]
        assert users and not set(users) & {"main.yml", "bootstrap.yml"}, (name, users)


def test_the_readme_documents_every_concern_tag():
    readme = (ROOT / "README.md").read_text()
    missing = [t for t in site_base_tags() - {"base"} if t.removeprefix("base_") not in readme]
    assert not missing, missing


# The roles site.yml includes once per host (not per app), each under its own tag.
HOST_ROLES = {"python", "node_exporter", "postgresql", "redis", "backup", "monitoring"}


def role_includes(tasks):
    """Every include_role task in a list of tasks, blocks and rescues included."""
    for task in tasks or []:
        if "ansible.builtin.include_role" in task:
            yield task
        for key in ("block", "rescue", "always"):
            yield from role_includes(task.get(key))


def test_site_yml_includes_each_host_role_under_its_own_tag_with_its_tasks_always():
    """What the site scenario's tag runs show for base and the app tier holds for the
    host roles: `--tags <role>` selects the include, and the include applies `always` to
    the role's tasks, so that all of them run (and no other role's)."""
    site = yaml.safe_load((ROOT / "site.yml").read_text())
    seen = set()
    for play in site:
        for task in role_includes(play.get("tasks")):
            name = task["ansible.builtin.include_role"]["name"]
            if name not in HOST_ROLES:
                continue
            seen.add(name)
            assert task.get("tags") == [name], (play["name"], task["name"], task.get("tags"))
            assert task["ansible.builtin.include_role"].get("apply") == {"tags": ["always"]}, (play["name"], task["name"])
    assert seen == HOST_ROLES, HOST_ROLES - seen

"""Deploy time: wall time of `ansible-playbook site.yml` for

(a) the first converge on a bare host (a fresh container with only sshd, sudo and
    python3; Debian packages come from the warm shared apt cache, Python wheels
    from the warm pip cache, so the mirror's and PyPI's speed do not count),
(b) a rerun with nothing to change,
(c) a new release of the app's code only, same dependencies,
(d) a new release that changes the dependencies (one more pinned package),

for one host and for two, with the kit's defaults (pip, Mitogen's strategy). Then
(c) and (d) once more with `fastapi_app_installer=uv`, and, on one host, (b) and (c)
over the plain SSH connection (ANSIBLE_STRATEGY=linear) beside Mitogen's figures.
Usage: deploy_time.py [HOSTS ...] (default: 1 2).
"""

import re
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import kitbench  # noqa: E402
from kitbench import PLAIN_SSH, Cluster, app_copy, log, table  # noqa: E402

NEW_DEPENDENCY = "itsdangerous==2.2.0"
SECOND_DEPENDENCY = "blinker==1.9.0"


def changed(output):
    """Sum of changed= over the recap lines."""
    return sum(int(n) for n in re.findall(r"changed=(\d+)", output.split("PLAY RECAP", 1)[-1]))


def slowest(output, n=2):
    """The slowest tasks from the profile_tasks callback's summary."""
    tail = output.split("PLAY RECAP", 1)[-1]
    found = re.findall(r"^(.+?) -+ (\d+\.\d+)s$", tail, flags=re.M)
    return "; ".join(f"{name.strip()[:60]} {float(s):.1f} s" for name, s in found[:n])


def measure(hosts, tmp, with_uv):
    rows, figures = [], {}
    with Cluster(f"deploy{hosts}", webs=hosts, group_vars={"gunicorn_workers": 2}) as c:
        c.prepare()

        def run(key, label, *args, source=None, env=None):
            log(f"{hosts} host(s): {label}")
            extra = ["-e", f"fastapi_app_local_path={source}"] if source else []
            r, seconds = c.playbook("site.yml", *args, *extra, label=re.sub(r"\W+", "-", key + "-" + label)[:40], env=env)
            command = "".join(f"{k}={v} " for k, v in (env or {}).items()) + "site.yml"
            command += "".join(f" {a}" for a in args if not a.startswith("fastapi_app_local_path"))
            rows.append([hosts, key, label, f"`{command}`", f"{seconds:.1f} s", changed(r.output), slowest(r.output)])
            figures[key] = seconds

        app = ["--tags", "app"]
        run("a", "first converge, bare host")
        run("b", "rerun, nothing to change")
        if with_uv:
            run("b ssh", "rerun, nothing to change, plain SSH", env=PLAIN_SSH)
        run("c", "new release, code only", *app, source=app_copy(tmp, f"c{hosts}"))
        if with_uv:
            run("c ssh", "new release, code only, plain SSH", *app, source=app_copy(tmp, f"cssh{hosts}"), env=PLAIN_SSH)
            run("c full", "new release, code only, whole site.yml", source=app_copy(tmp, f"cfull{hosts}"))
        deps = app_copy(tmp, f"d{hosts}", requirements_extra=NEW_DEPENDENCY)
        run("d", "new release, new dependency", *app, source=deps)
        if hosts > 1:
            # Blue/green per host keeps serving even when every host switches at once.
            run("c all", "new release, code only, all hosts at once", *app, "-e", f"deploy_serial={hosts}", source=app_copy(tmp, f"call{hosts}"))
        if with_uv:
            uv = ["-e", "fastapi_app_installer=uv"]
            # The first release with uv installs uv and fills its cache: not one of (a) to (d).
            run("uv", "switch to uv: installs uv, fills its cache", *app, *uv, source=app_copy(tmp, f"uv{hosts}", requirements_extra=NEW_DEPENDENCY))
            run("c uv", "new release, code only, uv", *app, *uv, source=app_copy(tmp, f"cuv{hosts}", requirements_extra=NEW_DEPENDENCY))
            run("c uv ssh", "new release, code only, uv, plain SSH", *app, *uv,
                source=app_copy(tmp, f"cuvssh{hosts}", requirements_extra=NEW_DEPENDENCY), env=PLAIN_SSH)
            more = NEW_DEPENDENCY + "\n" + SECOND_DEPENDENCY
            run("d uv", "new release, new dependency, uv", *app, *uv, source=app_copy(tmp, f"duv{hosts}", requirements_extra=more))
    return rows, figures


def main():
    counts = [int(n) for n in sys.argv[1:]] or [1, 2]
    with kitbench.report("deploy_time", "Deploy time") as out, tempfile.TemporaryDirectory() as tmp:
        rows, ratios = [], []
        for hosts in counts:
            # uv on one host only, to keep the bench under 15 minutes.
            r, f = measure(hosts, tmp, with_uv=hosts == counts[0])
            rows += r
            plain = [f"{f[k]:.1f} s" if k in f else "" for k in ("b ssh", "c ssh", "c uv", "c uv ssh")]
            ratios.append([hosts, f"{f['a']:.1f} s", f"{f['b']:.1f} s", f"{f['c']:.1f} s", f"{f['d']:.1f} s", *plain,
                           f"{f['b'] / f['a']:.2f}", f"{f['c'] / f['a']:.2f}", f"{f['d'] / f['a']:.2f}"])  # fmt: skip
        out.append(table(["hosts", "", "run", "command", "wall time", "changed", "slowest tasks"], rows))
        out.append("")
        out.append(table(["hosts", "(a)", "(b)", "(c)", "(d)", "(b) plain SSH", "(c) plain SSH", "(c) uv", "(c) uv, plain SSH",
                          "(b)/(a)", "(c)/(a)", "(d)/(a)"], ratios))  # fmt: skip
        out.append("")
        out.append(
            "Over SSH as a sudo user with the project's ansible.cfg (Mitogen's strategy, pipelining, "
            "ControlPersist, fact cache; the plain SSH rows set ANSIBLE_STRATEGY=linear), one host at a time (site.yml's default), 2 Gunicorn workers per host, "
            "the bluegreen strategy. A new release runs `site.yml --tags app`, the kit's release "
            "command (only the app, its server and the switch); 'whole site.yml' is the same release "
            f"with every role. (d) adds {NEW_DEPENDENCY} to requirements.txt; the uv rows add "
            f"{SECOND_DEPENDENCY} more. Debian packages come from a warm shared apt cache and "
            "wheels from a warm pip cache, so the figures measure the kit, not the mirror."
        )


if __name__ == "__main__":
    main()

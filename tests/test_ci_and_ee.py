"""The execution environment and the CI examples (issue 16, points 5 and 6).

- execution-environment.yml passes ansible-builder's `create` step (the build context,
  without building: no registry is reachable here) and installs the deploy pins' one owner;
- the GitHub workflow passes zizmor (offline, auditor persona), and a workflow weakened in
  one line fails it; both CI files pass the schemas check-jsonschema vendors;
- scripts/ci-credentials.sh writes the secrets 0600, exactly, and refuses an empty one by name;
- scripts/ci-deploy.sh runs site.yml with the pinned known_hosts, the key, the vault password
  and a deploy_who naming the CI run that the deploy lock's owner record accepts;
- over real SSH to a container with sshd (site.yml's `always` tasks only): the lock and the
  audit line name the run, a held lock stops it, and a host whose key is not pinned is refused.
"""

import json
import os
import re
import stat
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
WORKFLOW = ROOT / "examples" / "ci" / "github-actions-deploy.yml"
GITLAB = ROOT / "examples" / "ci" / "gitlab-ci.yml"
CHECKOUT = "actions/checkout@11bd71901bbe5b1630ceea73d27597364c9af683 # v4.2.2"
CREDENTIAL_VARS = ["KIT_CI_SSH_KEY", "KIT_CI_KNOWN_HOSTS", "KIT_CI_VAULT_PASSWORD"]
# Every CI variable the scripts read, removed from the tests' environment first.
CI_ENV = CREDENTIAL_VARS + ["KIT_CI_WHO", "GITHUB_ACTIONS", "GITLAB_CI", "RUNNER_TEMP"]


def run(cmd, env=None, **kw):
    base = {k: v for k, v in os.environ.items() if k not in CI_ENV}
    base["PATH"] = f"{BIN}:{base['PATH']}"
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300, env={**base, **(env or {})}, **kw)


def pins(path):
    return {
        re.split(r"[=<>\[]", line)[0].lower(): line
        for line in path.read_text().splitlines()
        if line and not line.startswith(("#", "-r"))
    }


# --- the execution environment ---------------------------------------------------------


def test_ansible_builder_create_writes_the_build_context(tmp_path):
    context = tmp_path / "context"
    result = run([BIN / "ansible-builder", "create", "-f", str(ROOT / "execution-environment.yml"),
                  "-c", str(context), "--output-filename", "Containerfile"], cwd=ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    containerfile = (context / "Containerfile").read_text()
    deploy = (ROOT / "requirements-deploy.txt").read_text()
    # The Python dependencies are the deploy pins, in the `python:` list and in the base stage.
    assert (context / "_build" / "requirements.txt").read_text() == deploy
    assert (context / "_build" / "deploy" / "requirements-deploy.txt").read_text() == deploy
    # Ansible is installed before the final stage checks for it.
    base_install = containerfile.index("pip install --no-cache-dir -r /tmp/requirements-deploy.txt")
    assert base_install < containerfile.index("FROM base AS final") < containerfile.index("check_ansible")
    # The collections come with the `ansible` package: nothing is downloaded from Galaxy.
    assert not (context / "_build" / "requirements.yml").exists()
    assert "ansible-galaxy collection install" not in containerfile
    bindep = (context / "_build" / "bindep.txt").read_text()
    assert "openssh-clients" in bindep


def test_deploy_pins_have_one_owner():
    tools, deploy = pins(ROOT / "requirements-tools.txt"), pins(ROOT / "requirements-deploy.txt")
    assert "-r requirements-deploy.txt" in (ROOT / "requirements-tools.txt").read_text().splitlines()
    assert {"ansible", "ansible-core"} <= deploy.keys()
    assert not tools.keys() & deploy.keys(), f"pinned twice: {sorted(tools.keys() & deploy.keys())}"
    assert all("==" in line for line in [*tools.values(), *deploy.values()])


def test_bootstrap_reinstalls_when_either_pin_file_changes(tmp_path):
    """The stamp line of scripts/bootstrap.sh, run on copies of the two files."""
    line = next(l for l in (ROOT / "scripts" / "bootstrap.sh").read_text().splitlines() if l.startswith("stamp="))
    stamps = []
    for name in ["", "requirements-tools.txt", "requirements-deploy.txt"]:
        for f in ["requirements-tools.txt", "requirements-deploy.txt"]:
            (tmp_path / f).write_text((ROOT / f).read_text() + ("# changed\n" if f == name else ""))
        result = run(["bash", "-c", f'KIT_VENV=v; {line}; echo "$stamp"'], cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        stamps.append(result.stdout.strip())
    assert len(set(stamps)) == 3, stamps


# --- the CI examples' linters ----------------------------------------------------------


def zizmor(path):
    return run([BIN / "zizmor", "--offline", "--persona=auditor", "--no-progress", str(path)])


def test_workflow_passes_zizmor():
    result = zizmor(WORKFLOW)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "No findings" in result.stdout


@pytest.mark.parametrize(
    "old, new, finding",
    [
        (CHECKOUT, "actions/checkout@v4", "unpinned-uses"),
        ('creds="$(scripts/ci-credentials.sh)"',
         'echo "${{ github.event.head_commit.message }}"; creds="$(scripts/ci-credentials.sh)"', "template-injection"),
        ("persist-credentials: false", "persist-credentials: true", "artipacked"),
        ("  contents: read", "  contents: write", "excessive-permissions"),
    ],
    ids=["unpinned-checkout", "commit-message-in-run", "persisted-credentials", "write-permission"],
)
def test_a_workflow_weakened_in_one_line_fails_zizmor(tmp_path, old, new, finding):
    text = WORKFLOW.read_text()
    assert text.count(old) == 1
    weak = tmp_path / "deploy.yml"
    weak.write_text(text.replace(old, new))
    result = zizmor(weak)
    assert result.returncode != 0 and finding in result.stdout, result.stdout + result.stderr


@pytest.mark.parametrize("path, schema", [(WORKFLOW, "vendor.github-workflows"), (GITLAB, "vendor.gitlab-ci")])
def test_ci_files_pass_their_schemas(path, schema):
    result = run([BIN / "check-jsonschema", "--builtin-schema", schema, str(path)])
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    "path, schema, old, new",
    [
        (WORKFLOW, "vendor.github-workflows", "runs-on: ubuntu-24.04", "runs-onn: ubuntu-24.04"),
        (GITLAB, "vendor.gitlab-ci", "resource_group: production", "resource_group: [production]"),
    ],
    ids=["github", "gitlab"],
)
def test_a_broken_ci_file_fails_its_schema(tmp_path, path, schema, old, new):
    text = path.read_text()
    assert text.count(old) == 1
    broken = tmp_path / path.name
    broken.write_text(text.replace(old, new))
    result = run([BIN / "check-jsonschema", "--builtin-schema", schema, str(broken)])
    assert result.returncode != 0, result.stdout + result.stderr


def test_both_ci_files_run_the_same_two_scripts():
    for path in (WORKFLOW, GITLAB):
        text = path.read_text()
        assert 'creds="$(scripts/ci-credentials.sh)"' in text
        assert 'scripts/ci-deploy.sh "inventories/$KIT_ENVIRONMENT" "$creds"' in text
        assert "requirements-deploy.txt" in text


# --- scripts/ci-credentials.sh ---------------------------------------------------------


@pytest.fixture(scope="module")
def secrets(tmp_path_factory):
    d = tmp_path_factory.mktemp("key")
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "ci", "-f", str(d / "k")], check=True)
    public = (d / "k.pub").read_text().split()
    return {
        # As CI secret stores often keep it: without the final newline.
        "KIT_CI_SSH_KEY": (d / "k").read_text().rstrip("\n"),
        "KIT_CI_KNOWN_HOSTS": f"# web1\n203.0.113.10 {public[0]} {public[1]}\n[127.0.0.1]:9 {public[0]} {public[1]}",
        "KIT_CI_VAULT_PASSWORD": "correct horse battery staple ",
    }


def credentials(tmp_path, secrets, **changes):
    temp = tmp_path / "runner-temp"
    temp.mkdir(exist_ok=True)
    env = {**secrets, "RUNNER_TEMP": str(temp), **changes}
    env = {k: v for k, v in env.items() if v is not None}
    return run([ROOT / "scripts" / "ci-credentials.sh"], env=env), temp


def test_credentials_are_written_exactly_and_privately(tmp_path, secrets):
    result, temp = credentials(tmp_path, secrets)
    assert result.returncode == 0, result.stderr
    creds = Path(result.stdout.strip())
    assert creds.parent == temp
    assert stat.S_IMODE(creds.stat().st_mode) == 0o700
    for f in ["ssh_key", "known_hosts", "vault_password"]:
        assert stat.S_IMODE((creds / f).stat().st_mode) == 0o600, f
    assert (creds / "known_hosts").read_text() == secrets["KIT_CI_KNOWN_HOSTS"]
    assert (creds / "vault_password").read_text() == secrets["KIT_CI_VAULT_PASSWORD"]
    assert (creds / "ssh_key").read_text() == secrets["KIT_CI_SSH_KEY"] + "\n"
    derived = run(["ssh-keygen", "-y", "-f", str(creds / "ssh_key")])
    assert derived.returncode == 0 and derived.stdout.split()[1] in secrets["KIT_CI_KNOWN_HOSTS"]


@pytest.mark.parametrize("value", [None, "", " \n"], ids=["missing", "empty", "blank"])
@pytest.mark.parametrize("variable", CREDENTIAL_VARS)
def test_an_empty_secret_fails_naming_it(tmp_path, secrets, variable, value):
    result, temp = credentials(tmp_path, secrets, **{variable: value})
    assert result.returncode != 0
    assert f"{variable} is empty or unset" in result.stderr, result.stderr
    assert result.stdout == "" and list(temp.iterdir()) == []


@pytest.mark.parametrize(
    "variable, value",
    [
        ("KIT_CI_KNOWN_HOSTS", "203.0.113.10"),
        ("KIT_CI_KNOWN_HOSTS", "203.0.113.10 ssh-ed25519"),
        ("KIT_CI_SSH_KEY", "-----BEGIN OPENSSH PRIVATE KEY-----\nnot a key\n-----END OPENSSH PRIVATE KEY-----"),
    ],
    ids=["host-only", "no-key", "not-a-key"],
)
def test_a_bad_secret_fails_naming_it(tmp_path, secrets, variable, value):
    result, temp = credentials(tmp_path, secrets, **{variable: value})
    assert result.returncode != 0 and variable in result.stderr, result.stderr
    assert list(temp.iterdir()) == []


def test_a_key_with_a_passphrase_is_refused(tmp_path, secrets):
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "secret", "-f", str(tmp_path / "k")], check=True)
    result, temp = credentials(tmp_path, secrets, KIT_CI_SSH_KEY=(tmp_path / "k").read_text())
    assert result.returncode != 0 and "KIT_CI_SSH_KEY" in result.stderr and "passphrase" in result.stderr
    assert list(temp.iterdir()) == []


# --- scripts/ci-deploy.sh --------------------------------------------------------------


@pytest.fixture
def creds(tmp_path, secrets):
    result, _ = credentials(tmp_path, secrets)
    assert result.returncode == 0, result.stderr
    return Path(result.stdout.strip())


@pytest.fixture
def recorder(tmp_path):
    """An ansible-playbook first on PATH that records how it was called."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    record = tmp_path / "call.json"
    fake = bindir / "ansible-playbook"
    fake.write_text(
        f"#!{sys.executable}\nimport json, os, sys\n"
        f"open({str(record)!r}, 'w').write(json.dumps({{'argv': sys.argv[1:], 'cwd': os.getcwd(),"
        f" 'hkc': os.environ.get('ANSIBLE_HOST_KEY_CHECKING')}}))\n"
    )
    fake.chmod(0o755)
    return bindir, record


GITHUB = {"GITHUB_ACTIONS": "true", "GITHUB_REPOSITORY": "acme/shop", "GITHUB_RUN_ID": "9876543210",
          "GITHUB_RUN_ATTEMPT": "2", "GITHUB_ACTOR": "dependabot[bot]"}
GITLAB_RUN = {"GITLAB_CI": "true", "CI_PROJECT_PATH": "acme/web/shop", "CI_JOB_ID": "4242", "GITLAB_USER_LOGIN": "alice"}


def deploy(creds, env, *args, inventory="inventories/staging", path_first=None, cwd=ROOT):
    env = dict(env)
    if path_first:
        env["PATH"] = f"{path_first}:{BIN}:{os.environ['PATH']}"
    return run([ROOT / "scripts" / "ci-deploy.sh", inventory, str(creds), *args], env=env, cwd=cwd)


@pytest.mark.parametrize(
    "env, who",
    [
        (GITHUB, "github:acme/shop/actions/runs/9876543210/attempts/2:dependabot[bot]"),
        (GITLAB_RUN, "gitlab:acme/web/shop/-/jobs/4242:alice"),
        ({"KIT_CI_WHO": "jenkins:deploy-job/17"}, "jenkins:deploy-job/17"),
    ],
    ids=["github", "gitlab", "elsewhere"],
)
def test_deploy_command(creds, recorder, env, who):
    bindir, record = recorder
    inventory = ROOT / "inventories" / "staging"
    # A relative inventory is the caller's: the script runs site.yml from the kit's root.
    result = deploy(creds, env, "--tags", "app", inventory="../inventories/staging", path_first=bindir,
                    cwd=ROOT / "examples")
    assert result.returncode == 0, result.stderr
    call = json.loads(record.read_text())
    assert call["cwd"] == str(ROOT) and call["hkc"] == "True"
    argv = call["argv"]
    assert argv[:6] == ["-i", str(inventory), "site.yml", "--vault-password-file", str(creds / "vault_password"), "-e"]
    assert argv[7:] == ["--tags", "app"]
    extra = json.loads(argv[6])
    assert extra["deploy_who"] == who
    assert extra["ansible_ssh_private_key_file"] == str(creds / "ssh_key")
    ssh = extra["ansible_ssh_common_args"].split()
    for option in ["StrictHostKeyChecking=yes", f"UserKnownHostsFile={creds}/known_hosts",
                   "GlobalKnownHostsFile=/dev/null", "BatchMode=yes"]:
        assert option in ssh, option


def test_deploy_who_is_an_owner_the_deploy_lock_records(creds, recorder):
    """The lock keeps only an owner line of its own format, and prints nothing else."""
    sys.path.insert(0, str(ROOT / "playbooks" / "tasks"))
    try:
        import deploy_lock
    finally:
        sys.path.pop(0)
    bindir, record = recorder
    for env in (GITHUB, GITLAB_RUN):
        assert deploy(creds, env, path_first=bindir).returncode == 0
        who = json.loads(json.loads(record.read_text())["argv"][6])["deploy_who"]
        assert deploy_lock.OWNER_RE.fullmatch(f"deploy by {who} since 2026-12-01T15:00:00Z"), who


@pytest.mark.parametrize(
    "env, named",
    [
        ({}, "KIT_CI_WHO"),
        ({**GITHUB, "GITHUB_RUN_ID": ""}, "GITHUB_RUN_ID"),
        ({**GITHUB, "GITHUB_ACTOR": "eve since 2026"}, "GITHUB_ACTOR"),
        ({"KIT_CI_WHO": "two words"}, "KIT_CI_WHO"),
    ],
    ids=["no-ci", "github-no-run", "actor-with-spaces", "who-with-spaces"],
)
def test_deploy_refuses_a_run_it_cannot_name(creds, recorder, env, named):
    bindir, record = recorder
    result = deploy(creds, env, path_first=bindir)
    assert result.returncode != 0 and named in result.stderr, result.stderr
    assert not record.exists()


def test_deploy_refuses_credentials_others_can_read(creds, recorder):
    bindir, record = recorder
    (creds / "known_hosts").chmod(0o644)
    result = deploy(creds, GITHUB, path_first=bindir)
    assert result.returncode != 0 and "known_hosts must be yours with mode 0600" in result.stderr
    assert not record.exists()


def test_the_real_playbook_connects_only_with_the_pinned_host_keys(tmp_path, creds):
    """site.yml through ci-deploy.sh, with the real ansible-playbook, against a host whose
    port is closed: every ssh it starts has the pinned known_hosts and strict checking."""
    inventory = tmp_path / "inventory"
    inventory.mkdir()
    (inventory / "hosts.yml").write_text(json.dumps(
        {"all": {"children": {"web": {"hosts": {"ci1": {"ansible_host": "127.0.0.1", "ansible_port": 9,
                                                        "ansible_user": "deploy"}}}}}}))
    result = deploy(creds, {**GITHUB, "ANSIBLE_FORCE_COLOR": "0"}, "-vvv", inventory=str(inventory))
    assert result.returncode != 0
    execs = [l for l in result.stdout.splitlines() if "SSH: EXEC ssh " in l]
    assert execs, result.stdout[-3000:] + result.stderr
    for line in execs:
        assert "-o StrictHostKeyChecking=yes" in line, line
        assert f"-o UserKnownHostsFile={creds}/known_hosts" in line, line
        assert f"IdentityFile=\"{creds}/ssh_key\"" in line, line
    assert "UNREACHABLE" in result.stdout


# --- over SSH, against a host with sshd ------------------------------------------------


@pytest.fixture
def ssh_host(tmp_path, secrets):
    """A bare Debian container with sshd, reached over real SSH as root with the CI key;
    the inventory and the host's ed25519 key (the line to pin)."""
    from conftest import IMAGE, TEST_KEY, docker

    name = f"kit-ci-{os.urandom(4).hex()}"
    docker("run", "-d", "--name", name, "--label", "fastapi-kit-test=1", IMAGE, "sleep", "infinity")
    try:
        public = run(["ssh-keygen", "-y", "-f", "/dev/stdin"], input=secrets["KIT_CI_SSH_KEY"] + "\n").stdout
        setup = docker("exec", name, "sh", "-c",
                       "ssh-keygen -A >/dev/null && mkdir -p -m 0700 /run/sshd /root/.ssh"
                       f" && echo '{public.strip()}' > /root/.ssh/authorized_keys && /usr/sbin/sshd -e", check=False)
        assert setup.returncode == 0, setup.stderr
        address = docker("inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", name).stdout.strip()
        host_key = " ".join(docker("exec", name, "cat", "/etc/ssh/ssh_host_ed25519_key.pub").stdout.split()[:2])
        inventory = tmp_path / "ssh-inventory"
        inventory.mkdir()
        (inventory / "hosts.yml").write_text(json.dumps({"web": {"hosts": {name: {
            "ansible_host": address, "ansible_user": "root", "base_deploy_user": "deploy",
            "ansible_python_interpreter": "/usr/bin/python3",
            "base_deploy_authorized_keys": [TEST_KEY]}}}}))
        yield {"name": name, "address": address, "host_key": host_key, "inventory": inventory}
    finally:
        docker("rm", "-f", name, check=False)


def ssh_deploy(tmp_path, secrets, host, known_hosts, *args):
    """ci-credentials.sh, then ci-deploy.sh with site.yml's `always` tasks only: the lock and
    the audit line (`--tags kit-lock-only` names no task, as in tests/test_lock.py)."""
    result, _ = credentials(tmp_path, secrets, KIT_CI_KNOWN_HOSTS=known_hosts)
    assert result.returncode == 0, result.stderr
    creds = result.stdout.strip()
    return deploy(creds, {**GITHUB, "ANSIBLE_FORCE_COLOR": "0"}, "--tags", "kit-lock-only", *args,
                  inventory=str(host["inventory"]))


def audit_lines(host):
    from conftest import docker

    return docker("exec", host["name"], "sh", "-c", "cat /var/log/fastapi-kit/*/deploys.log", check=False).stdout


def test_a_ci_deploy_over_ssh_takes_the_lock_and_names_the_run(tmp_path, secrets, ssh_host):
    result = ssh_deploy(tmp_path, secrets, ssh_host, f"{ssh_host['address']} {ssh_host['host_key']}")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr
    lines = audit_lines(ssh_host).splitlines()
    assert lines and all(
        l.endswith(" by=github:acme/shop/actions/runs/9876543210/attempts/2:dependabot[bot]") for l in lines), lines


def test_a_ci_deploy_waits_for_the_lock_another_deploy_holds(tmp_path, secrets, ssh_host):
    from conftest import docker

    docker("exec", ssh_host["name"], "sh", "-c",
           "mkdir -m 0700 /run/fastapi-kit-locks && mkdir -m 0700 /run/fastapi-kit-locks/hello_api"
           " && echo 'deploy by alice@laptop since 2026-12-01T15:00:00Z' > /run/fastapi-kit-locks/hello_api/owner")
    result = ssh_deploy(tmp_path, secrets, ssh_host, f"{ssh_host['address']} {ssh_host['host_key']}")
    assert result.returncode != 0
    assert "Another deploy holds the deploy lock" in result.stdout and "alice@laptop" in result.stdout, result.stdout
    assert audit_lines(ssh_host) == ""


@pytest.mark.parametrize("pinned", ["another host", "another key"])
def test_a_host_whose_key_is_not_pinned_is_refused(tmp_path, secrets, ssh_host, pinned):
    """Never trust on first use: a host the pinned lines do not name (the man in the middle
    of a first connection), or one showing another key, is never logged in to."""
    other = tmp_path / "other"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other)], check=True)
    other_key = " ".join((tmp_path / "other.pub").read_text().split()[:2])
    known = (f"203.0.113.99 {ssh_host['host_key']}" if pinned == "another host"
             else f"{ssh_host['address']} {other_key}")
    result = ssh_deploy(tmp_path, secrets, ssh_host, known)
    assert result.returncode != 0
    assert "Host key verification failed" in result.stdout, result.stdout[-3000:]
    assert audit_lines(ssh_host) == ""

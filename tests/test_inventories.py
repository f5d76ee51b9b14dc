"""Environments: an environment's value wins over the shared one; secrets stay in the vault."""

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import docker, start_host

ROOT = Path(__file__).resolve().parent.parent
VAULT_PASSWORD = ROOT / "inventories" / "example-vault-password.txt"


def host_vars(env, host, *names):
    """The templated values of `names` for one host, as a play at the project root sees them."""
    expr = "{" + ", ".join(f"{n!r}: {n}" for n in names) + "}"
    result = subprocess.run(
        [
            "ansible", "-i", f"inventories/{env}", host, "--playbook-dir", ".",
            "--vault-password-file", str(VAULT_PASSWORD),
            "-m", "ansible.builtin.debug", "-a", "msg={{ " + expr + " | to_json }}",
        ],
        cwd=ROOT, capture_output=True, text=True, check=True,
        env=dict(os.environ, ANSIBLE_LOAD_CALLBACK_PLUGINS="1", ANSIBLE_STDOUT_CALLBACK="json"),
    )
    # The task-timing callback of ansible.cfg prints a line before the JSON document.
    out, _ = json.JSONDecoder().raw_decode(result.stdout[result.stdout.index("{"):])
    return json.loads(out["plays"][0]["tasks"][0]["hosts"][host]["msg"])


def test_environment_value_wins_over_the_shared_one():
    staging = host_vars("staging", "staging1", "kit_environment", "fastapi_app_keep_releases", "fastapi_app_env")
    assert staging["kit_environment"] == "staging"
    assert staging["fastapi_app_keep_releases"] == 3
    # A shared value that refers to an overridden one follows the environment.
    assert staging["fastapi_app_env"]["APP_ENV"] == "staging"


def test_shared_value_applies_where_an_environment_is_silent():
    production = host_vars("production", "web1", "kit_environment", "fastapi_app_env")
    assert production["kit_environment"] == "production"
    # The environment sets no fastapi_app_env: the shared one applies, following its kit_environment.
    assert production["fastapi_app_env"] == {"APP_ENV": "production", "HELLO_GREETING": "hello"}


@pytest.mark.parametrize("env,host", [("production", "web1"), ("staging", "staging1")])
def test_secrets_come_from_the_encrypted_vault(env, host):
    vault = ROOT / "inventories" / env / "group_vars" / "web" / "vault.yml"
    assert vault.read_text().startswith("$ANSIBLE_VAULT;1.1;AES256")
    secrets = host_vars(env, host, "fastapi_app_secret_env")["fastapi_app_secret_env"]
    assert secrets["DATABASE_URL"].startswith("postgresql://") and f"example-{env}" in secrets["DATABASE_URL"]
    assert secrets["SECRET_KEY"] == f"example-{env}-secret-key-not-for-real-use"
    decrypted = subprocess.run(
        ["ansible-vault", "view", "--vault-password-file", str(VAULT_PASSWORD), str(vault)],
        cwd=ROOT, capture_output=True, text=True, check=True,
    ).stdout
    keys = [line.split(":")[0] for line in decrypted.splitlines() if line and not line.startswith(("#", "---"))]
    assert keys and all(k.startswith("vault_") for k in keys)


def test_an_app_deployed_with_the_shared_values_gets_no_example_secret(tmp_path):
    """Another app in an inventory of its own, beside the shared group_vars/all (item 20)."""
    inv = tmp_path / "inventories" / "other"
    (inv / "group_vars" / "web").mkdir(parents=True)
    (inv / "hosts.yml").write_text(json.dumps({"web": {"hosts": {"other1": {"ansible_host": "192.0.2.1"}}}}))
    (inv / "group_vars" / "web" / "main.yml").write_text(json.dumps({"kit_environment": "production", "fastapi_app_name": "billing"}))
    result = subprocess.run(
        ["ansible", "-i", str(inv), "other1", "--playbook-dir", ".", "-m", "ansible.builtin.debug",
         "-a", "msg={{ fastapi_app_secret_env | default({}) | to_json }}"],
        cwd=ROOT, capture_output=True, text=True, check=True,
        env=dict(os.environ, ANSIBLE_LOAD_CALLBACK_PLUGINS="1", ANSIBLE_STDOUT_CALLBACK="json"),
    )
    out, _ = json.JSONDecoder().raw_decode(result.stdout[result.stdout.index("{"):])
    secrets = json.loads(out["plays"][0]["tasks"][0]["hosts"]["other1"]["msg"])
    assert secrets == {}, f"the example's secrets reach another app: {secrets}"


@pytest.fixture
def production_like(tmp_path_factory):
    """A bare host in an inventory whose kit_environment is production, with a vault."""
    host = start_host(tmp_path_factory, "kit-vault")
    inv = host.inventory.parent
    (inv / "group_vars" / "web").mkdir(parents=True)
    (inv / "group_vars" / "web" / "main.yml").write_text(json.dumps({"kit_environment": "production"}))
    try:
        yield host
    finally:
        docker("rm", "-f", host.name, check=False)


def test_production_refuses_the_example_vault_password(production_like):
    """The shipped vault, opened with the public example password (item 20)."""
    vault = production_like.inventory.parent / "group_vars" / "web" / "vault.yml"
    shutil.copy(ROOT / "inventories" / "production" / "group_vars" / "web" / "vault.yml", vault)
    result = production_like.playbook("site.yml", None, "--vault-password-file", str(VAULT_PASSWORD), "--tags", "kit-no-task")
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert "kit_environment is production" in output and str(vault) in output, output
    assert "PLAY [Deploy the FastAPI app tier]" not in output, output


def test_production_accepts_a_vault_of_its_own(production_like, tmp_path):
    vault = production_like.inventory.parent / "group_vars" / "web" / "vault.yml"
    own_password = tmp_path / "own-password.txt"
    own_password.write_text("a-password-of-our-own\n")
    vault.write_text("vault_secret_key: s3cr3t-of-our-own\n")
    subprocess.run(["ansible-vault", "encrypt", "--vault-password-file", str(own_password), str(vault)],
                   check=True, capture_output=True)
    result = production_like.playbook("site.yml", None, "--vault-password-file", str(own_password), "--tags", "kit-no-task")
    assert result.returncode == 0, result.stdout + result.stderr

"""Environments: an environment's value wins over the shared one; secrets stay in the vault."""

import json
import os
import subprocess
from pathlib import Path

import pytest

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
    production = host_vars("production", "web1", "kit_environment", "fastapi_app_keep_releases", "gunicorn_app_module")
    assert production["kit_environment"] == "production"
    assert production["fastapi_app_keep_releases"] == 5
    assert production["gunicorn_app_module"] == "hello_api.main:app"


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

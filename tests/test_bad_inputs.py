"""Bad input fails in the first play of site.yml, names the variable, and changes nothing.

Each case runs the real site.yml against a bare Debian container with one wrong
value and checks that the run failed, that the error names the variable, that no
task reported a change, and that the host has no trace of the app.
"""

import pytest

CASES = [
    # (id, extra vars, the variable the error must name)
    ("unknown-source", {"fastapi_app_source": "svn"}, "fastapi_app_source"),
    ("git-without-repo", {"fastapi_app_source": "git"}, "fastapi_app_git_repo"),
    # An ssh repository needs its host key up front: no trust on first use.
    ("git-ssh-scp-without-known-hosts", {"fastapi_app_source": "git", "fastapi_app_git_repo": "git@git.example.com:team/app.git"},
     "fastapi_app_git_known_hosts"),
    ("git-ssh-url-without-known-hosts", {"fastapi_app_source": "git", "fastapi_app_git_repo": "ssh://git@git.example.com:2222/team/app.git"},
     "fastapi_app_git_known_hosts"),
    ("git-known-hosts-not-lines", {"fastapi_app_source": "git", "fastapi_app_git_repo": "git@git.example.com:team/app.git",
                                   "fastapi_app_git_known_hosts": ["not a key"]}, "fastapi_app_git_known_hosts"),
    ("app-name-not-unix", {"fastapi_app_name": "Hello API"}, "fastapi_app_name"),
    ("user-name-not-unix", {"fastapi_app_user": "9lives"}, "fastapi_app_user"),
    ("negative-workers", {"gunicorn_workers": -1}, "gunicorn_workers"),
    ("workers-not-a-number", {"gunicorn_workers": "many"}, "gunicorn_workers"),
    ("log-format-unknown", {"gunicorn_log_format": "logfmt"}, "gunicorn_log_format"),
    # systemd reads 0 as journald's own limit, not as none.
    ("log-rate-limit-zero", {"gunicorn_log_rate_limit_burst": 0}, "gunicorn_log_rate_limit_burst"),
    ("keep-zero-releases", {"fastapi_app_keep_releases": 0}, "fastapi_app_keep_releases"),
    ("unknown-installer", {"fastapi_app_installer": "poetry"}, "fastapi_app_installer"),
    ("uv-version-not-a-version", {"fastapi_app_installer": "uv", "fastapi_app_uv_version": "latest"}, "fastapi_app_uv_version"),
    ("uv-home-relative", {"fastapi_app_installer": "uv", "fastapi_app_uv_home": "opt/uv"}, "fastapi_app_uv_home"),
    ("env-not-a-dict", {"fastapi_app_env": ["A=1"]}, "fastapi_app_env"),
    ("env-bad-key", {"fastapi_app_env": {"1ABC": "x"}}, "fastapi_app_env"),
    ("env-multiline-value", {"fastapi_app_secret_env": {"KEY": "a\nb"}}, "fastapi_app_secret_env"),
    # An unset vault variable: the app would run with an empty key.
    ("secret-empty", {"fastapi_app_secret_env": {"SECRET_KEY": ""}}, "fastapi_app_secret_env.SECRET_KEY"),
    ("secret-blank", {"fastapi_app_secret_env": {"API_TOKEN": "  "}}, "fastapi_app_secret_env.API_TOKEN"),
    # systemd reads the env file as root: never where the app may write, nor the old setting.
    ("env-dir-in-shared", {"fastapi_app_env_dir": "/srv/hello_api/shared/env"}, "fastapi_app_env_dir"),
    ("pre-switch-hosts-unknown", {"fastapi_app_pre_switch_hosts": "first"}, "fastapi_app_pre_switch_hosts"),
    ("env-file-is-gone", {"fastapi_app_env_file": "/srv/hello_api/shared/app.env"}, "fastapi_app_env_file"),
    ("pypi-spec-unpinned", {"fastapi_app_source": "pypi", "fastapi_app_pypi_spec": "fastapi-kit-hello-api"}, "fastapi_app_pypi_spec"),
    ("local-path-missing", {"fastapi_app_local_path": "/nonexistent/app"}, "fastapi_app_local_path"),
    ("root-not-absolute", {"fastapi_app_root": "srv/app"}, "fastapi_app_root"),
    # The app's root is chowned and pruned: never a system directory or one above the apps.
    ("root-is-slash", {"fastapi_app_root": "/"}, "fastapi_app_root"),
    ("root-is-etc", {"fastapi_app_root": "/etc"}, "fastapi_app_root"),
    ("root-inside-usr", {"fastapi_app_root": "/usr/lib/hello_api"}, "fastapi_app_root"),
    ("root-is-srv", {"fastapi_app_root": "/srv"}, "fastapi_app_root"),
    # The app's sockets go to /run/<app>: an app named after a system directory would write into it.
    ("app-name-is-an-etc-directory", {"fastapi_app_name": "ssl"}, "gunicorn_app_name"),
    ("app-name-is-a-run-directory", {"fastapi_app_name": "user"}, "gunicorn_app_name"),
    ("app-name-is-the-kit-nginx", {"fastapi_app_name": "nginx"}, "fastapi_app_name"),
    ("install-mode-unknown", {"fastapi_app_install": "poetry"}, "fastapi_app_install"),
    ("module-not-module-attr", {"gunicorn_app_module": "hello_api/main.py"}, "gunicorn_app_module"),
    ("instance-name-bad", {"gunicorn_instance": "Blue Green"}, "gunicorn_instance"),
    ("log-level-unknown", {"gunicorn_log_level": "loud"}, "gunicorn_log_level"),
    ("timeout-zero", {"gunicorn_timeout": 0}, "gunicorn_timeout"),
    ("server-unknown", {"gunicorn_server": "hypercorn"}, "gunicorn_server"),
    ("uvicorn-with-gunicorn-settings", {"gunicorn_server": "uvicorn", "gunicorn_extra_settings": {"limit_request_line": 8190}},
     "gunicorn_extra_settings"),
    ("python-package-bad", {"python_extra_packages": ["libpq5; rm -rf /"]}, "python_extra_packages"),
    ("ca-cert-not-pem", {"base_ca_certificates": [{"name": "corp", "content": "not a certificate"}]}, "base_ca_certificates"),
    # Several apps on one host (issue 12): what no single role can see.
    ("apps-not-a-list", {"apps": {"name": "hello_api"}}, "apps must be a list"),
    ("apps-item-without-name", {"apps": [{"gunicorn_workers": 2}]}, "apps must be a list"),
    ("apps-two-with-one-name", {"apps": [{"name": "hello_api"}, {"name": "hello_api", "gunicorn_app_module": "b.main:app"}]},
     "apps[].name must be unique"),
    ("apps-one-server-name-in-two", {"apps": [{"name": "one", "nginx_server_names": ["a.example.com"]},
                                              {"name": "two", "nginx_server_names": ["A.example.com", "b.example.com"]}]},
     "apps[].nginx_server_names"),
    ("apps-two-with-one-user", {"apps": [{"name": "one", "fastapi_app_user": "web"}, {"name": "two", "fastapi_app_user": "web"}]},
     "apps[].fastapi_app_user"),
    ("apps-name-is-a-system-user", {"apps": [{"name": "hello_api"}, {"name": "www-data"}]}, "apps[1].name"),
    ("apps-name-is-an-etc-directory", {"apps": [{"name": "ssl"}]}, "gunicorn_app_name"),
    ("apps-setting-not-per-app", {"apps": [{"name": "hello_api", "base_timezone": "UTC"}]}, "apps[0] (hello_api) sets base_timezone"),
    ("apps-setting-also-for-the-host", {"apps": [{"name": "hello_api", "gunicorn_workers": 3}], "gunicorn_workers": 2},
     "apps[0] (hello_api) sets gunicorn_workers"),
    ("apps-and-a-host-app-name", {"apps": [{"name": "hello_api"}], "fastapi_app_name": "other"}, "fastapi_app_name"),
    ("apps-bad-per-app-value", {"apps": [{"name": "hello_api", "gunicorn_workers": "many"}]}, "gunicorn_workers"),
    ("apps-pick-unknown", {"app": "nope"}, "app names nope"),
    # Apps come and go (issue 12): an item is present or absent; its data goes only when told, with a boolean.
    ("apps-state-unknown", {"apps": [{"name": "hello_api"}, {"name": "notes_api", "state": "gone"}]}, "apps[1].state"),
    ("apps-purge-data-not-a-boolean", {"apps": [{"name": "notes_api", "state": "absent", "purge_data": "all of it"}]},
     "apps[0].purge_data"),
    ("apps-metrics-not-a-boolean", {"apps": [{"name": "hello_api", "metrics": "sometimes"}]}, "apps[0].metrics"),
    # An absent app's name is still checked: removing it removes its user.
    ("apps-absent-name-is-a-system-user", {"apps": [{"name": "hello_api"}, {"name": "www-data", "state": "absent"}]}, "apps[1].name"),
]


@pytest.mark.parametrize("extra_vars,variable", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_fails_before_any_change(bare_host, extra_vars, variable):
    bare_host.assert_fails_before_any_change(extra_vars, variable, ["/srv/hello_api"])
    assert bare_host.run("getent", "passwd", "hello_api").returncode != 0


def test_the_release_command_checks_the_apps_roles_only(bare_host):
    """`--tags app` runs only the apps' roles: it still stops at a bad value of theirs,
    before any change, but no longer at one of a host role it leaves alone (base's)."""
    bad = {"gunicorn_workers": "many", "base_timezone": "Mars Olympus"}
    # The whole site.yml checks the host's roles first, and stops at base's value.
    bare_host.assert_fails_before_any_change(bad, "base_timezone", ["/srv/hello_api"])
    result = bare_host.playbook("site.yml", bad, "--tags", "app")
    output = result.stdout + result.stderr
    assert result.returncode != 0 and "gunicorn_workers" in output, output
    assert "base_timezone" not in output, output
    assert "PLAY [Deploy the FastAPI app tier]" not in output, output
    assert bare_host.run("test", "-e", "/srv/hello_api").returncode != 0


def test_good_input_passes_the_validation_play(bare_host):
    """The same checks accept the defaults (only the validation play runs here)."""
    result = bare_host.playbook("site.yml", None, "--check", "--tags", "never")
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "failed=0" in output, output


def test_an_absent_app_needs_only_its_name(bare_host):
    """An app to remove passes the validation play with nothing but its name and state,
    even with settings left in its item that a release would refuse."""
    apps = {"apps": [{"name": "hello_api"}, {"name": "notes_api", "state": "absent", "gunicorn_workers": "many"}]}
    result = bare_host.playbook("site.yml", apps, "--check", "--tags", "never")
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "failed=0" in output, output
    # The same setting on a present app is refused: the check above skipped it for being absent.
    apps["apps"][1]["state"] = "present"
    bare_host.assert_fails_before_any_change(apps, "gunicorn_workers", ["/srv/notes_api"])

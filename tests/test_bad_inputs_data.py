"""Bad input to postgresql, redis and backup (and to the firewall rule site.yml opens for them)
fails in the first play of site.yml, names the variable, and changes nothing."""

import re

import pytest

DB_APP = {"name": "hello_api", "postgresql_database": True, "postgresql_password": "a-good-long-password"}
REDIS_APP = {"name": "hello_api", "redis_enabled": True}
REDIS_PASSWORD = "a-good-long-redis-password"

CASES = [
    # (id, extra vars, the variable the error must name)
    ("db-without-password", {"apps": [{"name": "hello_api", "postgresql_database": True}]}, "postgresql_password"),
    ("db-password-too-short", {"apps": [dict(DB_APP, postgresql_password="short")]}, "postgresql_password"),
    ("db-name-not-an-identifier", {"apps": [dict(DB_APP, postgresql_database_name="hello; drop table x")]}, "postgresql_database_name"),
    ("db-switch-not-bool", {"apps": [dict(DB_APP, postgresql_database="perhaps")]}, "postgresql_database"),
    ("db-port-out-of-range", {"apps": [DB_APP], "postgresql_port": 70000}, "postgresql_port"),
    ("db-setting-owned-by-the-role", {"apps": [DB_APP], "postgresql_settings": {"listen_addresses": "*"}}, "postgresql_settings"),
    ("db-two-apps-one-database", {"apps": [DB_APP, dict(DB_APP, name="other_api", postgresql_database_name="hello_api")]},
     "postgresql_databases"),
    ("redis-without-password", {"apps": [REDIS_APP]}, "redis_password"),
    ("redis-maxmemory-bad", {"apps": [REDIS_APP], "redis_password": REDIS_PASSWORD, "redis_maxmemory": "lots"}, "redis_maxmemory"),
    ("redis-policy-unknown", {"apps": [REDIS_APP], "redis_password": REDIS_PASSWORD, "redis_maxmemory_policy": "lru"},
     "redis_maxmemory_policy"),
    ("redis-switch-not-bool", {"apps": [dict(REDIS_APP, redis_enabled="sometimes")]}, "redis_enabled"),
    # Backups of the app's database (the backup role, on the host that runs PostgreSQL).
    ("backup-calendar-rejected", {"apps": [DB_APP], "backup_on_calendar": "every night"}, "backup_on_calendar"),
    ("backup-keep-zero", {"apps": [DB_APP], "backup_keep_count": 0}, "backup_keep_count"),
    ("backup-dir-is-var", {"apps": [DB_APP], "backup_dir": "/var"}, "backup_dir"),
    ("backup-delay-not-a-span", {"apps": [DB_APP], "backup_random_delay": "soon"}, "backup_random_delay"),
    ("firewall-service-source-not-an-address",
     {"base_firewall_allow_services": [{"name": "postgresql", "port": 5432, "sources": ["web.example"]}]}, "base_firewall_allow_services"),
]


@pytest.mark.parametrize("extra_vars,variable", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_fails_before_any_change(bare_host, extra_vars, variable):
    output = bare_host.assert_fails_before_any_change(
        extra_vars, variable, ["/etc/postgresql", "/etc/redis", "/etc/fastapi-kit/postgresql-ca.crt", "/srv/hello_api",
                      "/var/backups/fastapi-kit", "/etc/systemd/system/fastapi-kit-backup.timer"])
    # The failure's own message names it, not only the list of a spec's options that
    # validate_argument_spec prints after it.
    failure = output[re.search(r"^(fatal|failed): \[", output, re.M).start():].split("argument_spec_data")[0]
    assert variable in failure, failure
    # Nor does a failed check print a password it was given.
    assert "a-good-long" not in output, output

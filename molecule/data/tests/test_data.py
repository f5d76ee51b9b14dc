"""PostgreSQL on a db host and Redis on the web host (issue 14, points 3 and 4): the app's
URLs reach them, over TLS for the database; an outsider on the same network is refused;
the passwords stay out of command lines and of the plays' output."""

import json
import os
import re
import urllib.parse
from pathlib import Path

import pytest
import testinfra

testinfra_hosts = ["kit-data-web"]

# The canaries of molecule.yml.
DB_PASSWORD = "kitDbCanary/Pw@0123456789-abcdef"
REDIS_PASSWORD = "kitRedisCanary-0123456789abcdef"
DB_HOST = "10.213.246.20"
SECRETS = [DB_PASSWORD, urllib.parse.quote(DB_PASSWORD, safe=""), REDIS_PASSWORD]


def _other(name):
    return testinfra.get_host(f"ansible://{name}?ansible_inventory={os.environ['MOLECULE_INVENTORY_FILE']}")


def _env(host):
    """The app's live environment, as its instances read it."""
    with host.sudo():
        unit = host.check_output("systemctl list-units --state=running --plain --no-legend 'hello_api@*.service'").split()[0]
        path = host.check_output("systemctl show -P EnvironmentFiles %s", unit).split()[0]
        text = host.file(path).content_string
    return {k: v.replace('\\"', '"').replace("\\$", "$") for k, v in re.findall(r'^([A-Z_]+)="(.*)"$', text, re.M)}


def _as_app(host, script, env):
    """Run `script` in sh as the app user, the URLs given in its environment (not its arguments)."""
    with host.sudo():
        return host.run("runuser -u hello_api -- env " + " ".join(["%s"] * len(env)) + " sh -c %s",
                        *[f"{k}={v}" for k, v in env.items()], script)


def test_the_app_gets_both_urls(host):
    env = _env(host)
    url = urllib.parse.urlsplit(env["DATABASE_URL"])
    assert url.scheme == "postgresql+psycopg" and url.hostname == DB_HOST and url.port == 5432
    assert urllib.parse.unquote(url.password) == DB_PASSWORD
    assert "sslmode=verify-full" in url.query
    assert env["REDIS_URL"].startswith("redis://default:") and env["REDIS_URL"].endswith("@127.0.0.1:6379/0")


def test_app_user_reaches_its_database_over_tls_with_verify_full(host):
    """The app's own URL (without SQLAlchemy's +psycopg), as the app user: the session is
    encrypted (pg_stat_ssl), verify-full checked the certificate against the CA site.yml gave."""
    env = {"DB": _env(host)["DATABASE_URL"].replace("postgresql+psycopg://", "postgresql://", 1)}
    r = _as_app(host, 'psql "$DB" -XAtc "select ssl, version from pg_stat_ssl where pid = pg_backend_pid()"; '
                      'psql "$DB" -XAtc "create table if not exists kit_probe (n int); select current_user, current_database()"', env)
    assert r.rc == 0, r.stderr
    lines = r.stdout.split()
    assert lines[0].startswith("t|TLSv1."), r.stdout
    assert lines[-1] == "hello_api|hello_api", r.stdout


def test_the_database_refuses_what_pg_hba_does_not_list(host):
    """From the web host itself: without TLS, or as another role, or into another database,
    pg_hba.conf has no line for it."""
    url = _env(host)["DATABASE_URL"].replace("postgresql+psycopg://", "postgresql://", 1)
    cases = {
        "plain": url.replace("sslmode=verify-full", "sslmode=disable"),
        "superuser": url.replace("hello_api:", "postgres:", 1),
        "other-db": url.replace("/hello_api?", "/postgres?", 1),
    }
    for name, bad in cases.items():
        r = _as_app(host, 'timeout 20 psql "$DB" -XAtc "select 1"', {"DB": bad, "PGCONNECT_TIMEOUT": "5"})
        assert r.rc != 0, name
        assert "no pg_hba.conf entry" in r.stderr, (name, r.stderr)


def test_an_outsider_on_the_same_network_is_refused():
    """kit-data-outsider knows the URL, password included, and still cannot connect: the
    firewall drops its packets (the attempt times out, no answer), while the db host
    answers the web host (the test above)."""
    outsider = _other("kit-data-outsider")
    url = f"postgresql://hello_api:{urllib.parse.quote(DB_PASSWORD, safe='')}@{DB_HOST}:5432/hello_api?sslmode=require&connect_timeout=5"
    r = outsider.run("DB=%s; export DB; timeout 20 sh -c 'psql \"$DB\" -XAtc \"select 1\"'", url)
    assert r.rc != 0, r.stdout
    assert "timeout expired" in r.stderr, r.stderr
    # The network itself carries the outsider's packets: the web host's HTTP port answers it.
    probe = "import socket; socket.create_connection(('10.213.246.10', 80), timeout=5).close()"
    assert outsider.run("python3 -c %s", probe).rc == 0


def test_postgresql_listens_only_on_the_db_network_address():
    db = _other("kit-data-db")
    with db.sudo():
        listening = db.check_output("ss -Hltn 'sport = :5432'")
    addresses = sorted(line.split()[3] for line in listening.splitlines())
    assert addresses == [f"{DB_HOST}:5432"], listening


def test_redis_requires_its_password(host):
    r = host.run("redis-cli -h 127.0.0.1 -p 6379 ping")
    assert "NOAUTH" in r.stdout + r.stderr, r.stdout + r.stderr
    r = _as_app(host, 'redis-cli -u "$REDIS_URL" --no-auth-warning ping', {"REDIS_URL": _env(host)["REDIS_URL"]})
    assert r.stdout.strip() == "PONG", r.stdout + r.stderr
    r = _as_app(host, 'redis-cli -u "$REDIS_URL" --no-auth-warning ping', {"REDIS_URL": "redis://default:wrong-password@127.0.0.1:6379/0"})
    assert "PONG" not in r.stdout, r.stdout


def test_redis_listens_on_loopback_only_with_its_limits(host):
    with host.sudo():
        listening = host.check_output("ss -Hltn 'sport = :6379'")
        config = host.run("REDISCLI_AUTH=%s redis-cli --no-auth-warning config get maxmemory-policy", REDIS_PASSWORD)
    # ::1 when the host has IPv6 (Debian's `-::1`: optional), nothing else.
    addresses = {line.split()[3] for line in listening.splitlines()}
    assert "127.0.0.1:6379" in addresses and addresses <= {"127.0.0.1:6379", "[::1]:6379"}, listening
    assert config.stdout.split() == ["maxmemory-policy", "allkeys-lru"], config.stdout


@pytest.mark.parametrize("name", ["kit-data-web", "kit-data-db"])
def test_no_password_on_a_command_line_during_converge(name):
    """A watcher polled every /proc/*/cmdline from prepare to side_effect, through the
    converge and its idempotence run: psql ran on the db host, and no command line held a password."""
    other = _other(name)
    with other.sudo():
        record = json.loads(other.file("/root/kit-cmdline-watch.json").content_string)
    assert record["scans"] > 100
    if name == "kit-data-db":
        assert any("psql" in " ".join(argv) for argv in record["argv"]), "the watcher saw no psql"
    leaks = [argv for argv in record["argv"] if any(s in arg for arg in argv for s in SECRETS + ["SCRAM-SHA-256$"])]
    assert leaks == []


def test_no_password_in_the_converge_output():
    """The plays' log at -vvv: the converge created the role, and no password, in clear or
    URL-encoded, nor a SCRAM verifier appears in it."""
    log = (Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]) / "ansible.log").read_text()
    # The plays of site.yml (converge, idempotence): not verify's own inventory dump, which
    # testinfra asks for after them and which lists the inventory's values as they are.
    start = log.index("PLAY [Validate the input of every role]")
    end = log.find("ansible-inventory [core", start)
    log = log[start:] if end < 0 else log[start:end]
    assert "Create or update the role and the database of" in log
    assert "Render the role's settings, with the password" in log
    for secret in SECRETS + ["SCRAM-SHA-256$"]:
        assert secret not in log, secret

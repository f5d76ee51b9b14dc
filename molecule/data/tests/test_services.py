"""The example app with its database, its Redis queue, its worker and its timer, through
site.yml (issue 14): migrations before the switch, jobs done by the worker, the
heartbeat timer, a release under load that fails no request and loses no job, a failing
migration that stops before the switch, and backups that restore row by row, with
playbooks/restore.yml and after playbooks/rollback.yml. Runs after test_data.py, whose
checks read the converge's own output."""

import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent.parent.parent / "shared"))
from loadgen import _HTTPS, Load  # noqa: E402

INVENTORY = os.environ["MOLECULE_INVENTORY_FILE"]
PROJECT = Path(os.environ["MOLECULE_PROJECT_DIRECTORY"])
testinfra_hosts = ["kit-data-web"]
WEB, DB, BACKUP = "kit-data-web", "kit-data-db", "kit-data-outsider"
NAME, PORT = "web.kit.test", 38471
ROWS = "SELECT id, name FROM items ORDER BY id"
# The canary of molecule.yml: no playbook run by these tests may print it.
DB_PASSWORD = "kitDbCanary/Pw@0123456789-abcdef"


def docker_exec(container, *cmd, timeout=120):
    return subprocess.run(["docker", "exec", container, *cmd], capture_output=True, text=True, timeout=timeout)


def playbook(path, *args):
    # Not into the scenario's -vvv log, which test_data.py reads for the converge's own lines.
    env = {k: v for k, v in os.environ.items() if k not in ("ANSIBLE_LOG_PATH", "ANSIBLE_LOG_VERBOSITY")}
    env.update(ANSIBLE_FORCE_COLOR="0", ANSIBLE_NOCOLOR="1")
    return subprocess.run(["ansible-playbook", "-i", INVENTORY, str(PROJECT / path), *args],
                          cwd=PROJECT, capture_output=True, text=True, env=env, timeout=1200)


def words(run):
    text = run.stdout + run.stderr
    assert DB_PASSWORD not in text and "kitDbCanary" not in text, "a run printed the database password"
    return " ".join(text.split())


def call(method, path, body=None):
    conn = _HTTPS(NAME, PORT, timeout=15)
    headers = {"Host": NAME}
    if body is not None:
        headers["Content-Type"] = "application/json"
    conn.request(method, path, body=json.dumps(body) if body is not None else None, headers=headers)
    resp = conn.getresponse()
    data = resp.read()
    conn.close()
    return resp.status, (json.loads(data) if data else None)


def sql(query, database="hello_api"):
    """A query on the db host as postgres (peer, over the socket), one line per row."""
    r = docker_exec(DB, "runuser", "-u", "postgres", "--", "psql", "-XAtq", "-d", database, "-c", query)
    assert r.returncode == 0, r.stderr
    return r.stdout.splitlines()


def served_release():
    status, body = call("GET", "/")
    assert status == 200, body
    return body["release"]


def app_copy(tmp_path, label, migration=None):
    """The example app with one line more (a new release), and optionally a migration more."""
    src = tmp_path / f"hello-{label}"
    shutil.copytree(PROJECT / "examples" / "hello_api", src, ignore=shutil.ignore_patterns("__pycache__", "tests"))
    with open(src / "hello_api" / "main.py", "a") as f:
        f.write(f"# release {label}\n")
    if migration:
        (src / "hello_api" / "migrations" / "versions" / "0003_kit_test.py").write_text(migration)
    return src


def wait_done(ids, seconds=120):
    """Wait until every job id has its row in jobs_done; return the rows' releases."""
    deadline = time.monotonic() + seconds
    quoted = ",".join(f"'{i}'" for i in ids)
    while True:
        rows = sql(f"SELECT job_id, release FROM jobs_done WHERE job_id IN ({quoted})")
        if len(rows) == len(ids) or time.monotonic() > deadline:
            return dict(r.split("|", 1) for r in rows)
        time.sleep(2)


def test_migrations_ran_before_the_app_served():
    """The pre-switch command (python -m hello_api.migrate) took the schema to its head."""
    assert sql("SELECT version_num FROM alembic_version") == ["0002"]
    assert sql("SELECT count(*) FROM information_schema.tables WHERE table_name IN ('items', 'heartbeats', 'jobs_done')") == ["3"]


def test_items_are_stored_in_postgresql():
    status, item = call("POST", "/items", {"name": "kit-item-1"})
    assert status == 201, item
    assert sql(f"SELECT name FROM items WHERE id = {item['id']}") == ["kit-item-1"]
    assert call("GET", f"/items/{item['id']}")[1]["name"] == "kit-item-1"


def test_a_job_enqueued_through_the_api_is_done_by_the_worker():
    status, job = call("POST", "/jobs", {"n": 7})
    assert status == 202, job
    done = wait_done([job["id"]])
    assert list(done) == [job["id"]]
    assert call("GET", f"/jobs/{job['id']}")[1]["state"] == "done"
    # Two copies of the worker run, as the app user, from the live release.
    units = docker_exec(WEB, "systemctl", "list-units", "--state=running", "--plain", "--no-legend", "hello_api.proc-worker-*").stdout
    assert len(units.splitlines()) == 2, units


def test_the_heartbeat_timer_writes_on_one_host():
    first = sql("SELECT count(*) FROM heartbeats")[0]
    time.sleep(12)
    assert int(sql("SELECT count(*) FROM heartbeats")[0]) > int(first)
    assert sql("SELECT DISTINCT host FROM heartbeats") == [WEB]


def test_a_release_under_load_fails_no_request_and_loses_no_job(tmp_path):
    """Requests and jobs keep coming while the release switches the web tier and the
    workers: every request answers 200, and every job is done, once, by the old or the
    new workers (counted)."""
    before = served_release()
    ids, errors, stop = [], [], threading.Event()

    def enqueue():
        while not stop.is_set() and len(ids) < 400:
            try:
                status, job = call("POST", "/jobs", {"n": len(ids), "seconds": 0.5})
                (ids.append(job["id"]) if status == 202 else errors.append(status))
            except OSError as e:
                errors.append(repr(e))
            time.sleep(0.2)

    thread = threading.Thread(target=enqueue)
    with Load(targets=[(NAME, PORT)], path="/") as load:
        thread.start()
        run = playbook("site.yml", "--tags", "app", "-e", f"fastapi_app_local_path={app_copy(tmp_path, 'two')}")
        time.sleep(3)
        stop.set()
        thread.join(30)
    assert run.returncode == 0, words(run)[-3000:]
    words(run)
    after = served_release()
    assert after != before
    print(f"\nrelease under load: {load.report('load')}; {len(ids)} jobs enqueued")
    assert load.failed == 0, load.report("load")
    assert errors == [], errors
    done = wait_done(ids)
    missing = set(ids) - set(done)
    assert not missing, f"{len(missing)} of {len(ids)} jobs not done"
    by_release = {r: list(done.values()).count(r) for r in set(done.values())}
    print(f"jobs done by release: {by_release}")
    assert sum(by_release.values()) == len(ids)


def test_a_failing_migration_stops_the_deploy_before_the_switch(tmp_path):
    broken = '''"""A migration that fails: its table does not exist."""
from alembic import op

revision = "0003"
down_revision = "0002"


def upgrade():
    op.execute("ALTER TABLE kit_no_such_table ADD COLUMN x int")


def downgrade():
    pass
'''
    before = served_release()
    run = playbook("site.yml", "--tags", "app", "-e", f"fastapi_app_local_path={app_copy(tmp_path, 'broken', broken)}")
    assert run.returncode != 0
    # Alembic's own error, through psycopg.
    assert 'relation "kit_no_such_table" does not exist' in words(run), words(run)[-3000:]
    assert served_release() == before
    assert sql("SELECT version_num FROM alembic_version") == ["0002"]


def worker_pids():
    live = docker_exec(WEB, "readlink", "/srv/hello_api/slots/.live").stdout.strip()
    units = [f"hello_api.proc-worker-{live}@{n}.service" for n in (1, 2)]
    return docker_exec(WEB, "systemctl", "show", "-p", "MainPID", "--value", *units).stdout.split()


def test_a_worker_that_cannot_start_fails_the_deploy_and_the_old_workers_keep_going(tmp_path):
    """A release whose worker exits at once: its web instance passes the health gate, its
    workers do not settle, so the deploy fails before the switch with the worker's own
    words, and the live release's workers go on doing jobs."""
    before, pids = served_release(), worker_pids()
    assert len(pids) == 2 and "0" not in pids, pids
    src = app_copy(tmp_path, "no-worker")
    worker = src / "hello_api" / "worker.py"
    worker.write_text('raise SystemExit("kit test: this release\'s worker cannot start")\n' + worker.read_text())
    run = playbook("site.yml", "--tags", "app", "-e", f"fastapi_app_local_path={src}")
    assert run.returncode != 0
    said = words(run)
    assert "gunicorn_processes" in said and "worker" in said, said[-3000:]
    assert "this release's worker cannot start" in said, said[-3000:]
    assert served_release() == before
    assert worker_pids() == pids
    status, job = call("POST", "/jobs", {"n": 3})
    assert status == 202, job
    assert wait_done([job["id"]]) == {job["id"]: before}


def test_backups_restore_the_same_rows_with_restore_yml_and_after_a_rollback():
    for i in range(5):
        assert call("POST", "/items", {"name": f"kit-backup-{i}"})[0] == 201
    source = sql(ROWS)
    r = docker_exec(DB, "systemctl", "start", "fastapi-kit-backup.service", timeout=300)
    assert r.returncode == 0, docker_exec(DB, "journalctl", "-u", "fastapi-kit-backup", "--no-pager", "-o", "cat").stdout
    dumps = docker_exec(DB, "ls", "/var/backups/fastapi-kit/postgresql/hello_api").stdout.split()
    assert dumps and all(d.startswith("hello_api-") and d.endswith(".dump") for d in dumps), dumps
    # The copy arrived on the backup host, in the db host's own directory.
    copied = docker_exec(BACKUP, "ls", f"/srv/fastapi-kit-backups/{DB}/hello_api").stdout.split()
    assert copied == dumps

    # Rows change after the dump; the release goes back; the restore brings back the dump's rows.
    sql("DELETE FROM items WHERE id IN (SELECT min(id) FROM items); INSERT INTO items (name, release) VALUES ('kit-after-dump', 'kit-test')")
    assert sql(ROWS) != source
    before = served_release()
    rollback = playbook("playbooks/rollback.yml", "-e", "app=hello_api")
    assert rollback.returncode == 0, words(rollback)[-3000:]
    words(rollback)
    assert served_release() != before
    restore = playbook("playbooks/restore.yml", "-e", "app=hello_api")
    assert restore.returncode == 0, words(restore)[-3000:]
    words(restore)
    assert sql(ROWS) == source
    assert served_release() != before
    # The data it replaced is kept beside it.
    assert "kit-after-dump" in " ".join(sql(ROWS, "hello_api_before_restore"))

    # Once more, with the dump named and no rollback: the same rows again.
    sql("DELETE FROM items")
    restore = playbook("playbooks/restore.yml", "-e", "app=hello_api", "-e", f"dump={sorted(dumps)[-1]}")
    assert restore.returncode == 0, words(restore)[-3000:]
    words(restore)
    assert sql(ROWS) == source
    audit = docker_exec(WEB, "cat", "/var/log/fastapi-kit/hello_api/deploys.log").stdout
    assert audit.count("action=restore") == 2 and "result=ok" in audit.splitlines()[-1], audit
    # The app, its worker and its timer run again: a new job is done.
    status, job = call("POST", "/jobs", {"n": 1})
    assert status == 202 and list(wait_done([job["id"]])) == [job["id"]]


def test_the_copy_key_can_only_write_into_its_directory():
    """The db host's backup key, on the backup host: no shell, no reading back."""
    ssh = ("ssh -F /dev/null -i /etc/fastapi-kit-backup/id_ed25519 -o BatchMode=yes -o ConnectTimeout=10 "
           "-o UserKnownHostsFile=/etc/fastapi-kit-backup/known_hosts -o StrictHostKeyChecking=yes")
    target = "fastapi-backup@10.213.246.30"
    shell = docker_exec(DB, "runuser", "-u", "postgres", "--", "sh", "-c", f"{ssh} {target} id")
    assert shell.returncode != 0 and "uid=" not in shell.stdout, shell.stdout
    read = docker_exec(DB, "runuser", "-u", "postgres", "--", "sh", "-c", f"rsync -e '{ssh}' {target}:hello_api/ /tmp/kit-read/")
    assert read.returncode != 0 and "write-only" in read.stderr, read.stderr


def loadcheck(tmp_path, *args):
    """playbooks/loadcheck.yml against the app's name, through the port published on loopback,
    with the host's own certificate (the nginx role's self-signed placeholder) as the CA."""
    ca = tmp_path / "ca.pem"
    ca.write_text(docker_exec(WEB, "cat", "/etc/nginx/tls/hello_api/fullchain.pem").stdout)
    results = tmp_path / "results"
    settings = {"loadcheck_connect_to": {NAME: f"127.0.0.1:{PORT}"}, "loadcheck_tls_verify": str(ca),
                "loadcheck_results_dir": str(results), "loadcheck_duration": 15, "loadcheck_users": 10, "loadcheck_rate": 40}
    run = playbook("playbooks/loadcheck.yml", "-e", "app=hello_api", "-e", json.dumps(settings), *args)
    reports = sorted(results.glob("hello_api-*"))
    assert len(reports) == 1, reports
    assert {"locust_stats.csv", "locust_failures.csv", "report.html"} <= {p.name for p in reports[0].iterdir()}
    return run


def test_the_load_check_passes_on_a_healthy_deploy(tmp_path):
    run = loadcheck(tmp_path)
    assert run.returncode == 0, words(run)[-3000:]
    assert "hello_api passed: error share 0.0" in words(run)


def test_the_load_check_fails_clearly_on_an_app_made_slow_by_a_setting(tmp_path):
    """HELLO_RESPONSE_DELAY_MS (the app's setting, through fastapi_app_env) at 400 ms:
    the p95 bound of 300 ms fails the run, naming the bound. The scenario's last test: the
    slow release stays (releasing the app again would only cost time; no test follows)."""
    slow = playbook("site.yml", "--tags", "app", "-e", "kit_test_delay_ms=400")
    assert slow.returncode == 0, words(slow)[-3000:]
    run = loadcheck(tmp_path, "-e", "loadcheck_max_p95_ms=300")
    said = words(run)
    assert run.returncode != 0, said[-3000:]
    assert "The load check of hello_api failed" in said, said[-3000:]
    assert "is above loadcheck_max_p95_ms 300 ms" in said, said[-3000:]

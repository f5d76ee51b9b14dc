"""hello_api against a real PostgreSQL and Redis: migrations, /items, jobs and the worker, heartbeats.

Run from the app's own venv (its pinned requirements and pytest):

    KIT_APPDEV_DATABASE_URL=postgresql+psycopg://app:pw@127.0.0.1:5432/appdb \\
    KIT_APPDEV_REDIS_URL='redis://:pw@127.0.0.1:6379/0' \\
    python -m pytest examples/hello_api/tests

Both must be THROWAWAY: the tests drop the app's tables (`downgrade base`) and
empty the queue's keys. KIT_APPDEV_BAD_DATABASE_URL may name a database where the
user may not create tables (the failing migration); without it a wrong password
stands in. Without the two URLs, only the tests that need no service run (the
503s and the commands' refusals); without the app's dependencies, none.
The kit's own `pytest tests/` never collects this directory.
"""

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

APP_DIR = Path(__file__).resolve().parent.parent
DATABASE_URL = os.environ.get("KIT_APPDEV_DATABASE_URL", "")
REDIS_URL = os.environ.get("KIT_APPDEV_REDIS_URL", "")
BAD_DATABASE_URL = os.environ.get("KIT_APPDEV_BAD_DATABASE_URL", "")

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")

services = pytest.mark.skipif(
    not (DATABASE_URL and REDIS_URL), reason="KIT_APPDEV_DATABASE_URL and KIT_APPDEV_REDIS_URL name no throwaway services"
)


def app_env(**extra) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env.update(PYTHONPATH=str(APP_DIR), APP_RELEASE="test-release")
    env.update(extra)
    return env


def service_env(**extra) -> dict:
    return app_env(DATABASE_URL=DATABASE_URL, REDIS_URL=REDIS_URL, **extra)


def run_module(module, *args, env) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", module, *args], cwd=APP_DIR, env=env,
                          capture_output=True, text=True, timeout=120)


class Api:
    def __init__(self, env):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "hello_api.main:app", "--host", "127.0.0.1", "--port", str(self.port),
             "--log-level", "warning"], cwd=APP_DIR, env=env)
        deadline = time.monotonic() + 30
        while True:
            try:
                if self.call("GET", "/health")[0] == 200:
                    return
            except OSError:
                pass
            if time.monotonic() > deadline or self.proc.poll() is not None:
                self.stop()
                raise RuntimeError("the app did not answer /health")
            time.sleep(0.2)

    def call(self, method, path, body=None):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", data=data, method=method,
                                     headers={"content-type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read())

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=15)


class Worker:
    def __init__(self, **extra):
        env = service_env(**extra)
        self.log = tempfile.NamedTemporaryFile("w+", prefix="hello-worker-", suffix=".log", delete=False)
        self.log_path = Path(self.log.name)
        try:
            self.proc = subprocess.Popen([sys.executable, "-m", "hello_api.worker"], cwd=APP_DIR, env=env,
                                         stdout=self.log, stderr=subprocess.STDOUT)
        except BaseException:
            self.log.close()
            self.log_path.unlink()
            raise

    def output(self) -> str:
        self.log.flush()
        return self.log_path.read_text()

    def signal(self, sig) -> None:
        self.proc.send_signal(sig)

    def wait(self, timeout) -> int:
        return self.proc.wait(timeout=timeout)

    def stop(self) -> int:
        """SIGTERM unless it has exited; its exit code. Its log goes."""
        try:
            if self.proc.poll() is None:
                self.signal(signal.SIGTERM)
            return self.wait(60)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
            self.log.close()
            self.log_path.unlink(missing_ok=True)


def until(what, predicate, timeout):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout} s: {what}")
        time.sleep(0.2)


@pytest.fixture(scope="module")
def engine():
    sqlalchemy = pytest.importorskip("sqlalchemy")
    sys.path.insert(0, str(APP_DIR))
    from hello_api import settings

    os.environ["DATABASE_URL"] = DATABASE_URL
    try:
        url = settings.database_url()
    finally:
        del os.environ["DATABASE_URL"]
    eng = sqlalchemy.create_engine(url)
    yield eng
    eng.dispose()


@pytest.fixture(scope="module")
def migrated(engine):
    """An empty schema at head: down to nothing, then up."""
    down = run_module("hello_api.migrate", "downgrade", "base", env=service_env())
    assert down.returncode == 0, down.stderr
    up = run_module("hello_api.migrate", env=service_env())
    assert up.returncode == 0, up.stderr
    return up


@pytest.fixture(scope="module")
def empty_queue():
    redis = pytest.importorskip("redis")
    from hello_api import settings

    kwargs = settings.redis_settings_kwargs(REDIS_URL)
    kwargs["db"] = kwargs.pop("database")
    client = redis.Redis(**kwargs)
    keys = client.keys("arq:*") + client.keys("hello_api:*")
    if keys:
        client.delete(*keys)
    client.close()


@pytest.fixture(scope="module")
def api(migrated, empty_queue):
    api = Api(service_env())
    yield api
    api.stop()


def done_rows(engine, job_ids):
    from sqlalchemy import text

    with engine.connect() as conn:
        return conn.execute(text("SELECT job_id, job_try, release, worker_pid FROM jobs_done WHERE job_id = ANY(:ids)"),
                            {"ids": list(job_ids)}).all()


def running_job(api, **job) -> dict:
    """Enqueue a job and wait until a worker has taken it."""
    _, body = api.call("POST", "/jobs", job)
    until("the job runs", lambda: api.call("GET", f"/jobs/{body['id']}")[1]["state"] == "in_progress", 20)
    return body


def assert_done_again_by_a_new_worker(engine, job_id, timeout, **env) -> None:
    """A new worker does the job its predecessor left: once, on its second try."""
    second = Worker(**env)
    try:
        until("the job is done", lambda: done_rows(engine, [job_id]), timeout)
    finally:
        assert second.stop() == 0
    rows = done_rows(engine, [job_id])
    assert len(rows) == 1 and rows[0].job_try == 2 and rows[0].worker_pid == second.proc.pid


# ---- without services -------------------------------------------------------------------------


def test_without_urls_the_app_serves_as_before_and_the_new_endpoints_say_what_is_missing():
    api = Api(app_env())
    try:
        assert api.call("GET", "/health") == (200, {"status": "ok", "release": "test-release"})
        status, body = api.call("GET", "/")
        assert status == 200 and body["app"] == "hello_api"
        for method, path, body, variable in [
            ("GET", "/items", None, "DATABASE_URL"),
            ("POST", "/items", {"name": "x"}, "DATABASE_URL"),
            ("GET", "/items/1", None, "DATABASE_URL"),
            ("GET", "/heartbeats", None, "DATABASE_URL"),
            ("POST", "/jobs", {"n": 1}, "REDIS_URL"),
            ("GET", "/jobs/abc", None, "REDIS_URL"),
        ]:
            status, answer = api.call(method, path, body)
            assert status == 503, (path, status, answer)
            assert answer["missing"] == variable and answer["detail"].startswith(f"{variable} is not set"), answer
    finally:
        api.stop()


def test_a_database_url_of_another_kind_is_named_not_used():
    # The local inventory gives every app a SQLite DATABASE_URL: hello_api serves, /items says why not.
    api = Api(app_env(DATABASE_URL="sqlite:////tmp/app.db"))
    try:
        assert api.call("GET", "/health")[0] == 200
        status, answer = api.call("GET", "/items")
        assert status == 503 and answer["detail"].startswith("DATABASE_URL names sqlite: this needs PostgreSQL"), answer
    finally:
        api.stop()


def test_services_that_do_not_answer_give_503_not_500():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    api = Api(app_env(DATABASE_URL=f"postgresql+psycopg://u:secret-pw@127.0.0.1:{port}/db",
                      REDIS_URL=f"redis://:secret-pw@127.0.0.1:{port}/0"))
    try:
        assert api.call("GET", "/items") == (503, {"detail": "database unavailable (OperationalError)"})
        assert api.call("POST", "/jobs", {"n": 1}) == (503, {"detail": "redis unavailable (ConnectionError)"})
        assert api.call("GET", "/health")[0] == 200
    finally:
        api.stop()


@pytest.mark.parametrize("module", ["hello_api.migrate", "hello_api.heartbeat", "hello_api.worker"])
def test_the_commands_refuse_to_start_without_database_url(module):
    r = run_module(module, env=app_env())
    assert r.returncode != 0
    assert "DATABASE_URL is not set" in r.stderr


def test_the_web_process_imports_no_database_or_queue_library():
    code = ("import sys, hello_api.main; "
            "print([m for m in ('sqlalchemy', 'psycopg', 'alembic', 'arq', 'redis') if m in sys.modules])")
    r = subprocess.run([sys.executable, "-c", code], cwd=APP_DIR, env=app_env(), capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout.strip() == "[]", r.stdout + r.stderr


# ---- with PostgreSQL and Redis ------------------------------------------------------------------


@services
def test_migrations_run_and_a_second_run_changes_nothing(migrated):
    assert "Running upgrade  -> 0001" in migrated.stderr and "Running upgrade 0001 -> 0002" in migrated.stderr
    again = run_module("hello_api.migrate", env=service_env())
    assert again.returncode == 0, again.stderr
    assert "Running upgrade" not in again.stderr
    current = run_module("hello_api.migrate", "current", env=service_env())
    assert "0002 (head)" in current.stdout


@services
def test_two_hosts_migrating_at_once_take_turns(migrated):
    down = run_module("hello_api.migrate", "downgrade", "base", env=service_env())
    assert down.returncode == 0, down.stderr
    procs = [subprocess.Popen([sys.executable, "-m", "hello_api.migrate"], cwd=APP_DIR, env=service_env(),
                              stderr=subprocess.PIPE, text=True) for _ in range(2)]
    errs = [p.communicate(timeout=120)[1] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], errs
    # One ran both steps, the other waited on the lock and found nothing to do.
    assert sorted(e.count("Running upgrade") for e in errs) == [0, 2], errs


@services
def test_a_failing_migration_exits_non_zero_with_the_database_error_and_no_password():
    from urllib.parse import urlsplit

    bad = BAD_DATABASE_URL
    if not bad:
        parts = urlsplit(DATABASE_URL)
        bad = DATABASE_URL.replace(f":{parts.password}@", ":not-the-password@", 1) if parts.password else ""
    if not bad:
        pytest.skip("no KIT_APPDEV_BAD_DATABASE_URL and no password to get wrong")
    r = run_module("hello_api.migrate", env=app_env(DATABASE_URL=bad, REDIS_URL=REDIS_URL))
    assert r.returncode != 0
    assert "sqlalchemy.exc." in r.stderr and ("permission denied" in r.stderr or "authentication failed" in r.stderr), r.stderr
    password = urlsplit(bad).password
    assert not password or password not in r.stderr + r.stdout


@services
def test_items_are_stored_and_listed(api):
    status, first = api.call("POST", "/items", {"name": "first"})
    assert status == 201 and first["name"] == "first" and first["release"] == "test-release"
    status, second = api.call("POST", "/items", {"name": "second"})
    assert status == 201 and second["id"] > first["id"]
    assert api.call("GET", f"/items/{first['id']}") == (200, first)
    status, items = api.call("GET", "/items")
    assert status == 200 and [i["name"] for i in items][-2:] == ["first", "second"]
    assert api.call("GET", "/items/999999")[0] == 404
    assert api.call("POST", "/items", {"name": ""})[0] == 422


@services
def test_twenty_jobs_are_each_done_once(api, engine):
    ids = []
    for n in range(20):
        status, body = api.call("POST", "/jobs", {"n": n})
        assert status == 202 and body["state"] == "queued"
        ids.append(body["id"])
    assert api.call("GET", f"/jobs/{ids[0]}")[1]["state"] == "queued"
    worker = Worker()
    try:
        until("20 jobs done", lambda: len(done_rows(engine, ids)) == 20, 60)
    finally:
        assert worker.stop() == 0
    rows = done_rows(engine, ids)
    assert sorted(r.job_id for r in rows) == sorted(ids)
    assert {r.job_try for r in rows} == {1} and {r.release for r in rows} == {"test-release"}
    status, body = api.call("GET", f"/jobs/{ids[3]}")
    assert status == 200 and body["state"] == "done" and body["result"] == 9


@services
def test_sigterm_lets_the_running_job_finish(api, engine):
    worker = Worker()
    try:
        body = running_job(api, n=5, seconds=3)
        worker.signal(signal.SIGTERM)
        assert worker.wait(20) == 0
        out = worker.output()
    finally:
        worker.stop()
    assert "Setting allow_pick_jobs to `False`" in out and "0 ongoing to cancel" in out, out
    rows = done_rows(engine, [body["id"]])
    assert len(rows) == 1 and rows[0].job_try == 1


@services
def test_a_job_cut_off_by_the_stop_wait_is_run_again_by_the_next_worker(api, engine):
    first = Worker(HELLO_WORKER_STOP_WAIT="1")
    try:
        body = running_job(api, n=6, seconds=4)
        first.signal(signal.SIGTERM)
        assert first.wait(20) == 0
        out = first.output()
    finally:
        first.stop()
    assert "cancelled, will be run again" in out, out
    assert done_rows(engine, [body["id"]]) == []
    assert api.call("GET", f"/jobs/{body['id']}")[1]["state"] == "queued"
    assert_done_again_by_a_new_worker(engine, body["id"], 30)


@services
def test_a_job_whose_worker_was_killed_is_run_again_once_its_mark_expires(api, engine):
    # job_timeout 5 s: the in-progress mark of a dead worker's job expires after 15 s.
    first = Worker(HELLO_JOB_TIMEOUT="5")
    try:
        body = running_job(api, n=7, seconds=4)
        first.signal(signal.SIGKILL)
        assert first.wait(10) == -signal.SIGKILL
    finally:
        first.stop()
    assert_done_again_by_a_new_worker(engine, body["id"], 45, HELLO_JOB_TIMEOUT="5")


@services
def test_heartbeats_are_counted_per_host(api):
    host = socket.gethostname()
    before = {h["host"]: h for h in api.call("GET", "/heartbeats")[1]["hosts"]}.get(host, {"count": 0})
    for _ in range(2):
        r = run_module("hello_api.heartbeat", env=service_env())
        assert r.returncode == 0, r.stderr
        assert r.stdout.startswith(f"heartbeat from {host}, release test-release")
    after = {h["host"]: h for h in api.call("GET", "/heartbeats")[1]["hosts"]}[host]
    assert after["count"] == before["count"] + 2
    assert after["last"] > before.get("last", "")


@services
def test_jobs_enqueued_while_the_old_worker_stops_and_the_new_one_starts_are_all_done_once(api, engine):
    old = Worker(APP_RELEASE="old")
    ids = []
    try:
        for n in range(10):
            ids.append(api.call("POST", "/jobs", {"n": n, "seconds": 0.3})[1]["id"])
        until("the old worker did some", lambda: len(done_rows(engine, ids)) >= 2, 30)
        new = Worker(APP_RELEASE="new")  # the new release's worker starts, then the old one stops
        try:
            old.signal(signal.SIGTERM)
            for n in range(10, 20):
                ids.append(api.call("POST", "/jobs", {"n": n, "seconds": 0.3})[1]["id"])
            assert old.wait(40) == 0
            until("20 jobs done", lambda: len(done_rows(engine, ids)) == 20, 60)
        finally:
            assert new.stop() == 0
    finally:
        old.stop()
    rows = done_rows(engine, ids)
    assert sorted(r.job_id for r in rows) == sorted(ids)
    assert {r.release for r in rows} == {"old", "new"}

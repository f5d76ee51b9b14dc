"""Issue 15: each instance's prometheus-client multiprocess directory, the child_exit
hook, and the instance's log lines as JSON with the request id the front end sent."""

import json
import re
import time

from test_gunicorn import APP, _get, _live, _main_pid, _strategy


def _unit(host):
    return f"{APP}@{_live(host)}.service"


def _metrics_dir(host):
    env = host.check_output(f"systemctl show -p Environment --value {_unit(host)}").split()
    dirs = [e.split("=", 1)[1] for e in env if e.startswith("PROMETHEUS_MULTIPROC_DIR=")]
    assert dirs == [f"/run/{APP}-{_live(host)}/prometheus"], env
    return dirs[0]


def _workers(host):
    return {int(p) for p in host.check_output(f"ps -o pid= --ppid {_main_pid(host)}").split()}


def _file_pids(host, directory, kind=r"[a-z_]+"):
    """The worker pids of the directory's files (<kind>_<pid>.db), of one kind or all."""
    names = host.file(directory).listdir()
    return {int(m.group(1)) for m in (re.fullmatch(kind + r"_(\d+)\.db", n) for n in names) if m}


def test_instance_has_its_own_multiprocess_directory_with_its_workers_only(host):
    directory = _metrics_dir(host)
    d = host.file(directory)
    assert d.is_directory and d.user == APP and d.mode == 0o750
    assert _get(host, "/metrics")["status"] == 200
    # The instance restarted after a crash (test_gunicorn): its directory was made anew,
    # so that it holds files of the workers that run now, and of no earlier run.
    assert _file_pids(host, directory) == _workers(host)


def test_metrics_add_up_the_workers_of_the_instance(host):
    def total():
        body = _get(host, "/metrics")["body"]
        return sum(float(v) for v in re.findall(r'^http_requests_total\{[^}]*route="/health"[^}]*\} (\S+)$', body, re.M))

    before = total()
    for _ in range(20):
        assert _get(host, "/health")["status"] == 200
    assert total() - before == 20


def test_child_exit_marks_a_dead_worker(host):
    directory = _metrics_dir(host)
    victim = min(_workers(host))
    assert victim in _file_pids(host, directory, "gauge_livesum")
    host.run(f"kill -TERM {victim}")
    for _ in range(30):
        time.sleep(0.5)
        workers = _workers(host)
        if victim not in workers and len(workers) == 2 and _file_pids(host, directory, "gauge_livesum") == workers:
            break
    # Gunicorn's child_exit ran mark_process_dead: the dead worker's live gauge is gone,
    # its replacement has one; its counters stay, so that no request is uncounted.
    assert victim not in _file_pids(host, directory, "gauge_livesum")
    assert _file_pids(host, directory, "gauge_livesum") == _workers(host)
    assert re.search(r"^http_requests_in_progress 1\.0$", _get(host, "/metrics")["body"], re.M)


def test_every_line_of_the_instance_is_json_and_carries_the_request_id(host):
    if _strategy(host) != "bluegreen":
        # The restart host replaces the kit's logging config (gunicorn_extra_settings) with text.
        return
    rid = "kit-test-request-id-%d" % time.time()
    assert _get(host, "/", headers={"X-Request-ID": rid})["status"] == 200
    invocation = host.check_output(f"systemctl show -p InvocationID --value {_unit(host)}")
    for _ in range(20):
        out = host.check_output(f"journalctl --no-pager -o cat _SYSTEMD_INVOCATION_ID={invocation} _TRANSPORT=stdout")
        records = [json.loads(line) for line in out.splitlines()]
        access = [r for r in records if r.get("request_id") == rid]
        if access:
            break
        time.sleep(0.5)
    assert len(access) == 1 and access[0]["logger"] == "hello_api.access", access
    assert access[0]["route"] == "/" and access[0]["status"] == 200
    assert {"gunicorn.error", "uvicorn.error"} <= {r["logger"] for r in records}

"""Bad background processes and scheduled jobs (issue 14) fail in site.yml's first play,
name the variable and the item, and change nothing (the fixtures of tests/conftest.py)."""

import pytest

TICKER = {"name": "ticker", "command": "python -m hello_api.ticker"}
BEAT = {"name": "beat", "command": "python -m hello_api.ticker --once beat", "on_calendar": "hourly"}

CASES = [
    # (id, extra vars, what the error must name)
    ("process-name-not-a-unit-name", {"gunicorn_processes": [dict(TICKER, name="my worker")]}, "gunicorn_processes[0] (my worker): name"),
    ("process-name-twice", {"gunicorn_processes": [TICKER, dict(TICKER, command="arq app.Settings")]},
     "gunicorn_processes[1] (ticker): name must be unique"),
    ("process-count-negative", {"gunicorn_processes": [dict(TICKER, count=-1)]}, "gunicorn_processes[0] (ticker): count"),
    ("process-stop-signal-unknown", {"gunicorn_processes": [dict(TICKER, stop_signal="SIGSTOPNOW")]},
     "gunicorn_processes[0] (ticker): stop_signal"),
    ("process-stop-timeout-zero", {"gunicorn_processes": [dict(TICKER, stop_timeout=0)]}, "gunicorn_processes[0] (ticker): stop_timeout"),
    ("process-command-empty", {"gunicorn_processes": [dict(TICKER, command=" ")]}, "gunicorn_processes[0] (ticker): command"),
    ("processes-not-a-list", {"gunicorn_processes": {"ticker": "python -m hello_api.ticker"}}, "gunicorn_processes"),
    # systemd's own parser refuses it: the message names the variable and the job.
    ("job-calendar-rejected", {"gunicorn_jobs": [dict(BEAT, on_calendar="every tuesday-ish")]}, "gunicorn_jobs (beat): on_calendar"),
    ("job-name-twice", {"gunicorn_jobs": [BEAT, dict(BEAT, on_calendar="daily")]}, "gunicorn_jobs[1] (beat): name must be unique"),
    ("job-command-empty", {"gunicorn_jobs": [dict(BEAT, command="")]}, "gunicorn_jobs[0] (beat): command"),
    ("job-one-host-not-a-boolean", {"gunicorn_jobs": [dict(BEAT, one_host="first")]}, "gunicorn_jobs[0] (beat): one_host"),
    # Per app too: an item of `apps` carries them.
    ("apps-process-count-negative", {"apps": [{"name": "hello_api", "gunicorn_processes": [dict(TICKER, count=-2)]}]},
     "gunicorn_processes[0] (ticker): count"),
]


@pytest.mark.parametrize("extra_vars,variable", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_process_or_job_fails_before_any_change(bare_host, extra_vars, variable):
    bare_host.assert_fails_before_any_change(extra_vars, variable, ["/srv/hello_api"])
    assert bare_host.run("getent", "passwd", "hello_api").returncode != 0


def test_good_processes_and_jobs_pass_the_validation_play(bare_host):
    """The same checks accept good items (only the validation play runs here)."""
    good = {"gunicorn_processes": [dict(TICKER, count=0, stop_signal="SIGINT", stop_timeout=60)],
            "gunicorn_jobs": [dict(BEAT, on_calendar="*-*-* 03:00:00", random_delay="5m", one_host=True)]}
    result = bare_host.playbook("site.yml", good, "--check", "--tags", "never")
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "failed=0" in output, output

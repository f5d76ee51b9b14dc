"""The monitoring role's alert rules, rendered from its template with its defaults, pass
`promtool check rules` and every case of tests/monitoring/rules_test.yml (each rule
fires on its bad input and stays quiet on the good one)."""

import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import render_monitoring_template

HERE = Path(__file__).resolve().parent
RULES = "etc/prometheus/rules/fastapi-kit.rules.yml.j2"


def _render_with_tests(tmp_path, extra_vars=None):
    render_monitoring_template(RULES, tmp_path / "fastapi-kit.rules.yml", extra_vars)
    shutil.copy(HERE / "monitoring" / "rules_test.yml", tmp_path / "rules_test.yml")
    return tmp_path


def _promtool(promtool, cwd, *args):
    return subprocess.run([str(promtool), *args], cwd=cwd, capture_output=True, text=True, timeout=120)


def test_rules_check(promtool, tmp_path):
    d = _render_with_tests(tmp_path)
    r = _promtool(promtool, d, "check", "rules", "fastapi-kit.rules.yml")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "SUCCESS: 8 rules found" in r.stdout, r.stdout


def test_rules_unit_tests(promtool, tmp_path):
    d = _render_with_tests(tmp_path)
    r = _promtool(promtool, d, "test", "rules", "rules_test.yml")
    assert r.returncode == 0, r.stdout + r.stderr


# The bounds reach the rules: with each bound moved past its test case, that case fails.
@pytest.mark.parametrize(
    "extra_vars,alertname",
    [
        ({"monitoring_alert_5xx_ratio": 0.2}, "AppErrorShareHigh"),
        ({"monitoring_alert_p95_seconds": 3.0}, "AppLatencyP95High"),
        ({"monitoring_alert_cert_days": 7}, "CertificateExpiringSoon"),
        ({"monitoring_alert_disk_ratio": 0.97}, "DiskAlmostFull"),
        ({"monitoring_alert_clock_offset_seconds": 0.5}, "ClockSkew"),
        ({"monitoring_alert_failed_units": "nginx.*"}, "SystemdUnitFailed"),
        ({"monitoring_alert_for": "15m"}, "TargetDown"),
    ],
    ids=lambda v: v if isinstance(v, str) else next(iter(v)),
)
def test_rules_follow_their_bounds(promtool, tmp_path, extra_vars, alertname):
    d = _render_with_tests(tmp_path, extra_vars)
    r = _promtool(promtool, d, "test", "rules", "rules_test.yml")
    assert r.returncode != 0, r.stdout
    assert f"alertname: {alertname}" in r.stdout + r.stderr, r.stdout + r.stderr

"""Every panel query of the Grafana dashboards (dashboards/*.json) returns series, run by
promtool over input series of the exporters' metric names (tests/monitoring/dashboard_series.yml);
the monitoring scenario runs the same queries against its live Prometheus."""

import json
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
DASHBOARDS = sorted((ROOT / "dashboards").glob("*.json"))
# Grafana's own variables, as Grafana would fill them in for a 1-minute scrape.
GRAFANA_VARS = {"$__rate_interval": "5m", "$__interval": "1m", "$__range": "1h"}


def panel_queries(path, grafana_vars=GRAFANA_VARS):
    """(panel title, refId, query with Grafana's variables filled in) of every panel."""
    out = []
    for panel in json.loads(path.read_text())["panels"]:
        for target in panel.get("targets", []):
            expr = target["expr"]
            for k, v in grafana_vars.items():
                expr = expr.replace(k, v)
            out.append((panel["title"], target["refId"], expr))
    return out


def test_dashboards_exist_and_use_a_datasource_variable():
    assert {p.stem for p in DASHBOARDS} == {"host", "nginx", "app"}
    for path in DASHBOARDS:
        d = json.loads(path.read_text())
        assert [v["name"] for v in d["templating"]["list"] if v["type"] == "datasource"] == ["datasource"], path
        for panel in d["panels"]:
            assert panel["datasource"]["uid"] == "${datasource}", (path, panel["title"])
            assert panel["targets"], (path, panel["title"])


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.stem)
def test_every_panel_query_returns_series(promtool, tmp_path, path):
    queries = panel_queries(path)
    assert "$" not in "".join(q[2] for q in queries), "a variable left in a query"
    series = yaml.safe_load((ROOT / "tests" / "monitoring" / "dashboard_series.yml").read_text())
    # count(...) of a query with series is one sample of value 1 after clamp_max; of an empty query, nothing.
    tests = [{
        "interval": "1m",
        "input_series": series,
        "promql_expr_test": [
            {"expr": f"clamp_max(count({expr}), 1)", "eval_time": "20m", "exp_samples": [{"labels": "{}", "value": 1}]}
            for _, _, expr in queries
        ],
    }]
    (tmp_path / "empty.rules.yml").write_text("groups: []\n")
    (tmp_path / "test.yml").write_text(yaml.safe_dump({"rule_files": ["empty.rules.yml"], "evaluation_interval": "1m", "tests": tests}))
    r = subprocess.run([str(promtool), "test", "rules", "test.yml"], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr


def test_a_broken_query_is_caught(promtool, tmp_path):
    """The check above can fail: a query on a metric no exporter gives returns nothing."""
    series = yaml.safe_load((ROOT / "tests" / "monitoring" / "dashboard_series.yml").read_text())
    tests = [{"interval": "1m", "input_series": series, "promql_expr_test": [
        {"expr": "clamp_max(count(rate(nginx_requests_total[5m])), 1)", "eval_time": "20m", "exp_samples": [{"labels": "{}", "value": 1}]}]}]
    (tmp_path / "empty.rules.yml").write_text("groups: []\n")
    (tmp_path / "test.yml").write_text(yaml.safe_dump({"rule_files": ["empty.rules.yml"], "evaluation_interval": "1m", "tests": tests}))
    r = subprocess.run([str(promtool), "test", "rules", "test.yml"], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert r.returncode != 0, r.stdout

"""plugins/action/kit_check.py, the action every role's preflight is, on the controller
alone: checks in order until one fails, each with its loop, condition and message; a
role's argument spec for the host and for an app. The bad-input tests show it through
every role's checks; these show its own rules."""

import json
import os
import subprocess

import pytest
import yaml

from conftest import ROOT


def run(tmp_path, tasks, extra_vars=None):
    """A play of `tasks` on localhost, through the project's ansible.cfg (its action path)."""
    play = [{"hosts": "localhost", "gather_facts": False, "vars": {"xs": [{"name": "a"}, {"name": "b"}, 3]}, "tasks": tasks}]
    path = tmp_path / "play.yml"
    path.write_text(yaml.safe_dump(play, sort_keys=False))
    cmd = ["ansible-playbook", "-v", "-i", "localhost,", "-c", "local", str(path)]
    if extra_vars:
        cmd += ["-e", json.dumps(extra_vars)]
    env = dict(os.environ, ANSIBLE_FORCE_COLOR="0", ANSIBLE_NOCOLOR="1", ANSIBLE_LOCALHOST_WARNING="0",
               ANSIBLE_CALLBACK_RESULT_FORMAT="json")
    result = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, env=env, timeout=120)
    return result.returncode, result.stdout + result.stderr


def check(*checks):
    return [{"name": "checks", "kit_check": {"checks": list(checks)}}]


def test_passing_checks_pass_and_a_message_is_only_templated_on_failure(tmp_path):
    rc, out = run(tmp_path, check(
        {"that": "xs | length == 3", "msg": "never shown {{ undefined_variable }}"},
        {"that": ["true", "xs[0].name == 'a'"], "msg": "never"},
        {"that": "false", "msg": "skipped", "when": "xs | length > 5"},
        {"that": "item is mapping", "msg": "{{ item }}", "loop": "{{ xs[:2] }}"},
    ))
    assert rc == 0, out
    # Four evaluated: two checks, the third's condition false, the fourth's two items.
    assert '"msg": "4 checks passed"' in out, out


def test_the_first_failing_check_stops_with_its_message_its_name_and_its_item(tmp_path):
    rc, out = run(tmp_path, check(
        {"that": "true", "msg": "never"},
        {"name": "Check each x", "that": "item is mapping", "msg": "xs[{{ i }}] must be a mapping; got {{ item | to_json }}",
         "loop": "{{ xs }}", "index_var": "i", "label": "x {{ i }}"},
        {"that": "false", "msg": "a later check never runs"},
    ))
    assert rc != 0, out
    assert "xs[2] must be a mapping; got 3" in out and '"check": "Check each x"' in out and '"item": "x 2"' in out, out
    assert "a later check never runs" not in out, out


def test_a_condition_per_item_and_a_loop_variable_of_its_own(tmp_path):
    rc, out = run(tmp_path, check(
        {"that": "x.name == 'b'", "msg": "{{ x.name }} is not b", "loop": "{{ xs[:2] }}", "loop_var": "x",
         "when": ["x is mapping", "x.name != 'a'"]},
    ))
    assert rc == 0, out
    assert '"msg": "1 checks passed"' in out, out


@pytest.mark.parametrize("bad,said", [
    ({"that": "true"}, "must be a mapping with `that` and `msg`"),
    ({"that": "true", "msg": "m", "fail_msg": "m"}, "fail_msg"),
    ({"that": "true", "msg": "m", "loop": "{{ 'abc' }}"}, "is not a list"),
])
def test_a_malformed_check_is_refused_by_what_is_wrong(tmp_path, bad, said):
    rc, out = run(tmp_path, check(bad))
    assert rc != 0 and said in out, out


def test_an_argument_spec_for_the_host_then_for_the_app_over_it(tmp_path):
    spec = {"kit_workers": {"type": "int"}, "kit_mode": {"type": "str", "choices": ["a", "b"]}}
    task = [{"name": "spec", "kit_check": {"argument_spec": spec, "app_arguments": "{{ app | default({}) }}"}}]
    assert run(tmp_path, task, {"kit_workers": 2})[0] == 0
    rc, out = run(tmp_path, task, {"kit_workers": "many"})
    assert rc != 0 and "Validation of the host's values failed" in out and "kit_workers" in out, out
    rc, out = run(tmp_path, task, {"kit_workers": 2, "app": {"kit_mode": "c"}})
    assert rc != 0 and "Validation of the app's own settings failed" in out and "kit_mode" in out, out

"""The gunicorn role's python_literal filter: gunicorn_extra_settings as Python source."""

import ast
import importlib.util
from pathlib import Path

import pytest
from ansible.errors import AnsibleFilterError

PLUGIN = Path(__file__).resolve().parent.parent / "roles" / "gunicorn" / "filter_plugins" / "python_literal.py"
_spec = importlib.util.spec_from_file_location("kit_gunicorn_python_literal", PLUGIN)
_module = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_module)
python_literal = _module.FilterModule().filters()["python_literal"]


@pytest.mark.parametrize(
    "value",
    [
        True,
        None,
        8190,
        -1.5,
        "it's \"quoted\" \\ and\nmultiline, é",
        ["a", 1, False, None],
        {"version": 1, "disable_existing_loggers": False, "formatters": {"g": {"format": "%(message)s", "datefmt": None}}},
        {"X-FORWARDED-PROTO": "https", "nested": [{"on": True}, []]},
    ],
)
def test_written_value_reads_back_as_the_same_python_value(value):
    source = python_literal(value)
    # literal_eval refuses names, so JSON's false or null would fail here.
    assert ast.literal_eval(source) == value


@pytest.mark.parametrize("value", [{"a": {1, 2}}, [float("nan")], {"when": object()}])
def test_value_without_a_literal_is_refused(value):
    with pytest.raises(AnsibleFilterError, match="no Python literal"):
        python_literal(value)

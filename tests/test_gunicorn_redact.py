"""The gunicorn role's redact filter: secrets out of the messages a failed deploy prints."""

import importlib.util
from pathlib import Path

PLUGIN = Path(__file__).resolve().parent.parent / "roles" / "gunicorn" / "filter_plugins" / "redact.py"
_spec = importlib.util.spec_from_file_location("kit_gunicorn_redact", PLUGIN)
_module = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_module)
redact = _module.FilterModule().filters()["redact"]


def test_a_secret_is_replaced_as_it_is_and_as_repr_and_json_escape_it():
    secret = "pa's\"s\\word"
    text = f"plain {secret} repr {secret!r} json " + '"pa\'s\\"s\\\\word"'
    out = redact(text, [secret])
    assert "pa's" not in out and "word" not in out
    assert out.count("[redacted]") == 3


def test_the_longer_secret_goes_first_and_empty_ones_change_nothing():
    assert redact("token abc123456", ["abc", "abc123456", ""]) == "token [redacted]"
    assert redact("nothing secret", ["", None and "x" or ""]) == "nothing secret"


def test_numbers_are_secrets_too():
    assert redact("port 5432", [5432]) == "port [redacted]"

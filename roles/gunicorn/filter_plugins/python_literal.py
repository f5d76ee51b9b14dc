"""python_literal: a value from YAML as Python source, for gunicorn.conf.py.

to_json writes false, true and null, which Python reads as unknown names; this
filter writes False, True and None, at any depth, and refuses values that have no
literal form instead of writing something Gunicorn cannot load.
"""

import math
from collections.abc import Mapping, Sequence

from ansible.errors import AnsibleFilterError


def _plain(value, path):
    # Ansible's own str, int and dict subclasses become the plain types whose repr() is a literal.
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise AnsibleFilterError(f"python_literal: {path} is {value}, which has no Python literal")
        return float(value)
    if isinstance(value, str):
        return str(value)
    if isinstance(value, Mapping):
        return {_plain(k, f"{path} key"): _plain(v, f"{path}[{k!r}]") for k, v in value.items()}
    if isinstance(value, Sequence) and not isinstance(value, (bytes, bytearray)):
        return [_plain(v, f"{path}[{i}]") for i, v in enumerate(value)]
    raise AnsibleFilterError(f"python_literal: {path} is a {type(value).__name__}, which has no Python literal")


def python_literal(value):
    """The Python literal of a str, int, float, bool, None, or a dict or list of them."""
    return repr(_plain(value, "the value"))


class FilterModule:
    def filters(self):
        return {"python_literal": python_literal}

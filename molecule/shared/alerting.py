"""What the monitoring and site scenarios share to watch alerts arrive: Prometheus
durations in seconds, a bounded wait, and the alerts among the webhook receiver's lines
(kit-fixture.py's webhook mode writes one POST body per line)."""

import json
import re
import time


def seconds(duration):
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}
    return sum(int(n) * units[u] for n, u in re.findall(r"(\d+)(ms|s|m|h|d)", duration))


def alerts_in(webhook_text, alertname, status="firing", since=0):
    """Alerts of `alertname` in `status` among the webhook's POST bodies (after line `since`)."""
    found = []
    for line in webhook_text.splitlines()[int(since):]:
        found += [a for a in json.loads(line)["alerts"] if a["labels"]["alertname"] == alertname and a["status"] == status]
    return found


def wait(predicate, timeout, step=1.0):
    """predicate's first truthy value within timeout seconds, else its last."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    return predicate()

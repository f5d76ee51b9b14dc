"""Record every distinct command line seen on this host, polling /proc every 20 ms.

The scenarios that keep a secret off command lines (issue 11, items 1 and 4) run it on
a test host as root, in a unit of its own (cmdline_watch.yml), around the plays under
test. It holds no secret itself: it records everything, and a test looks in the record
for the secret it knows. The record, {"scans": N, "argv": [[...], ...]}, is rewritten
atomically once a second and when the unit stops (SIGTERM), so a test can read it at
any time and can tell from `scans` that the watcher really ran.
"""

import json
import os
import signal
import sys
import time

record_path = sys.argv[1]
running = True


def stop(*_):
    global running
    running = False


def write(seen, scans):
    tmp = f"{record_path}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        argvs = sorted(raw.rstrip(b"\0").decode(errors="replace").split("\0") for raw in seen)
        json.dump({"scans": scans, "argv": argvs}, f)
    os.replace(tmp, record_path)


signal.signal(signal.SIGTERM, stop)
me = str(os.getpid())
seen = set()
scans = 0
written = 0.0
while running:
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or pid == me:
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                raw = f.read()
        except OSError:
            continue
        if raw:
            seen.add(raw)
    scans += 1
    if time.monotonic() - written >= 1:
        write(seen, scans)
        written = time.monotonic()
    time.sleep(0.02)
write(seen, scans)

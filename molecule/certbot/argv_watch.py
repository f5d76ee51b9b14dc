"""Record every distinct command line seen on this host, polling /proc every 20 ms, until
SIGTERM; then write them as JSON (a list of argv lists) to the file named on the command
line. The certbot scenario runs it from prepare to side_effect, around converge."""

import json
import os
import signal
import sys
import time

running = True


def stop(*_):
    global running
    running = False


signal.signal(signal.SIGTERM, stop)
me = str(os.getpid())
seen = set()
scans = 0
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
    time.sleep(0.02)

fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
with os.fdopen(fd, "w") as f:
    argvs = sorted(raw.rstrip(b"\0").decode(errors="replace").split("\0") for raw in seen)
    json.dump({"scans": scans, "argv": argvs}, f)

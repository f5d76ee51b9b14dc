"""Watch every process's command line for a secret canary until told to stop.

Runs on the test host as root, in a unit of its own; the canary is read from a
file, so that this watcher's own command line never holds it. Each hit is
written (canary masked) to the hits file; the number of scans goes to the scans
file, so a test can tell that the watcher really ran.
"""

import os
import sys
import time

canary_file, stop_file, hits_file, scans_file = sys.argv[1:5]
canary = open(canary_file, "rb").read().strip()
scans = 0
with open(hits_file, "w") as hits:
    while not os.path.exists(stop_file):
        for pid in os.listdir("/proc"):
            if not pid.isdigit() or int(pid) == os.getpid():
                continue
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    cmdline = f.read()
            except OSError:
                continue
            if canary in cmdline:
                shown = cmdline.replace(canary, b"<CANARY>").replace(b"\0", b" ").decode(errors="replace")
                hits.write(f"{pid}: {shown}\n")
                hits.flush()
        scans += 1
        with open(scans_file, "w") as f:
            f.write(str(scans))
        time.sleep(0.05)

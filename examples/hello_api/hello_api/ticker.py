"""A tiny background process and scheduled job for the example app (stdlib only).

As a process (`python -m hello_api.ticker`) it appends "<release> <pid> <time>" to
shared/ticker.log every second; on SIGTERM it finishes its current "job" (two
seconds) and writes "stopped <release> <pid>" before it exits. As a job
(`python -m hello_api.ticker --once heartbeat`) it appends one such line to
shared/heartbeat.log and exits. The release is the directory it runs in.
"""

import argparse
import os
import signal
import sys
import time


def main() -> int:
    parser = argparse.ArgumentParser(prog="hello_api.ticker")
    parser.add_argument("--once", metavar="NAME", help="write one line to shared/NAME.log and exit")
    args = parser.parse_args()

    release_dir = os.path.realpath(os.getcwd())
    release = os.path.basename(release_dir)
    shared = os.path.join(os.path.dirname(os.path.dirname(release_dir)), "shared")
    pid = os.getpid()

    def write(name: str, line: str) -> None:
        with open(os.path.join(shared, name + ".log"), "a", encoding="utf-8") as f:
            f.write(line + "\n")

    if args.once:
        write(args.once, f"{release} {pid} {time.time():.3f}")
        return 0

    stopping = False

    def stop(_signum, _frame):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    while not stopping:
        write("ticker", f"{release} {pid} {time.time():.3f}")
        time.sleep(1)
    time.sleep(2)  # the job in hand finishes
    write("ticker", f"stopped {release} {pid}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The health gate of a freshly (re)started instance.

Asks the health path over the instance's unix socket until it answers 200, and
between every half second of waiting looks at the unit: once systemd restarted
it (NRestarts > 0; a manual restart resets the count) or it stopped, no answer
can come from this start, and the gate fails at once instead of asking a socket
that systemd holds open while the unit crash-loops.

Usage: health_gate.py UNIT SOCKET PATH TIMEOUT RETRIES DELAY
Prints one line that says what happened; exits 0 on a 200, 1 otherwise.
"""

import socket
import subprocess
import sys
import time

unit, sock_path, path = sys.argv[1:4]
timeout, retries, delay = float(sys.argv[4]), int(sys.argv[5]), float(sys.argv[6])
SLICE = 0.5


class Stopped(Exception):
    pass


def check_unit():
    out = subprocess.run(
        ["systemctl", "show", "--property=NRestarts,ActiveState,SubState", unit],
        capture_output=True, text=True, check=True,
    ).stdout
    state = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
    restarts = int(state.get("NRestarts") or 0)
    active, sub = state.get("ActiveState", ""), state.get("SubState", "")
    if restarts > 0 or active in ("failed", "inactive", "deactivating") or sub == "auto-restart":
        raise Stopped(
            f"{unit} restarted or stopped before it answered (NRestarts={restarts}, ActiveState={active}/{sub})"
        )


def ask():
    """One try: the status code, or None when no answer came within the timeout."""
    deadline = time.monotonic() + timeout
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(SLICE)
        s.connect(sock_path)
        s.sendall(f"GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n".encode())
        data = b""
        while time.monotonic() < deadline and b"\r\n" not in data:
            check_unit()
            try:
                chunk = s.recv(4096)
            except socket.timeout:
                continue
            if not chunk:
                break
            data += chunk
    if b"\r\n" not in data:
        return None
    try:
        return int(data.split(b"\r\n", 1)[0].split()[1])
    except (IndexError, ValueError):
        return 0


last = "no answer"
try:
    for attempt in range(1, retries + 1):
        check_unit()
        try:
            status = ask()
        except OSError as e:
            status, last = None, f"try {attempt}: {e}"
        else:
            last = f"try {attempt}: " + (f"status {status}" if status else f"no answer within {timeout:g} s")
        if status == 200:
            print(f"{unit} answered {path} with 200 ({last})")
            sys.exit(0)
        if attempt < retries:
            end = time.monotonic() + delay
            while time.monotonic() < end:
                check_unit()
                time.sleep(min(SLICE, max(0.0, end - time.monotonic())))
except Stopped as e:
    print(e)
    sys.exit(1)
print(f"{unit} gave no 200 on {path} after {retries} tries ({last})")
sys.exit(1)

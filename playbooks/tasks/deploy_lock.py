"""The deploy locks of the apps on one host, run there as root by playbooks/tasks/lock.yml.

    deploy_lock.py take    LOCK_DIR APP[,APP...] OWNER_LINE STALE_SECONDS
    deploy_lock.py release LOCK_DIR APP[,APP...]

Prints one JSON object: taken (take only), app, held_by, age (seconds), stale, released.
A run takes the locks of all the apps it deploys, or none: when one is held, the
ones this call took are given back, and the output names the app whose lock is held.

LOCK_DIR must be a root-only directory (made here, 0700, when missing), so no other
user can plant or replace a lock. The owner record is opened without following
links and only a record in the kit's own format is ever printed: never a file's
contents as such. A LOCK_DIR owned by another user, open to others or a link is
refused with a message that names deploy_lock_dir.
"""

import json
import os
import re
import stat
import sys
import time

OWNER_RE = re.compile(r"(deploy|rollback) by [!-~]{1,200} since \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")


def fail(message):
    print(json.dumps({"failed": True, "msg": message}))
    sys.exit(2)


def check_lock_dir(lock_dir):
    try:
        os.mkdir(lock_dir, 0o700)
    except FileExistsError:
        pass
    st = os.lstat(lock_dir)
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != 0 or st.st_mode & 0o077:
        kind = "a link" if stat.S_ISLNK(st.st_mode) else "not a directory" if not stat.S_ISDIR(st.st_mode) else "a directory"
        fail(
            f"deploy_lock_dir {lock_dir} must be a directory of root's with mode 0700; it is {kind}"
            f" of uid {st.st_uid} with mode {stat.S_IMODE(st.st_mode):04o}. Someone else made it:"
            " find out who, remove it, and deploy again."
        )


def read_owner(lock):
    """The owner record when it is one the kit wrote, else a placeholder."""
    try:
        fd = os.open(os.path.join(lock, "owner"), os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return "owner unknown"
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_uid != 0 or st.st_nlink != 1 or st.st_size > 512:
            return "owner unknown: its record is not the kit's"
        line = os.read(fd, 512).decode("ascii", "replace").strip()
    finally:
        os.close(fd)
    return line if OWNER_RE.fullmatch(line) else "owner unknown: its record is not the kit's"


def lock_state(lock, stale_after):
    st = os.lstat(lock)
    age = max(0, int(time.time() - st.st_mtime))
    return {"held_by": read_owner(lock), "age": age, "stale": stale_after > 0 and age > stale_after}


def take_one(lock_dir, app, owner_line, stale_after):
    lock = os.path.join(lock_dir, app)
    try:
        os.mkdir(lock, 0o700)
    except FileExistsError:
        return dict(lock_state(lock, int(stale_after)), taken=False, app=app)
    fd = os.open(os.path.join(lock, "owner"), os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(owner_line + "\n")
    return {"taken": True, "app": app, "held_by": owner_line, "age": 0, "stale": False}


def take(lock_dir, apps, owner_line, stale_after):
    check_lock_dir(lock_dir)
    taken = []
    for app in sorted(set(apps.split(","))):
        state = take_one(lock_dir, app, owner_line, stale_after)
        if not state["taken"]:
            for done in taken:
                release_one(lock_dir, done)
            print(json.dumps(state))
            return
        taken.append(app)
    print(json.dumps({"taken": True, "app": ",".join(taken), "held_by": owner_line, "age": 0, "stale": False}))


def release_one(lock_dir, app):
    lock = os.path.join(lock_dir, app)
    try:
        state = lock_state(lock, 0)
    except FileNotFoundError:
        return None
    if stat.S_ISDIR(os.lstat(lock).st_mode):
        for entry in os.listdir(lock):
            os.unlink(os.path.join(lock, entry))
        os.rmdir(lock)
    else:
        os.unlink(lock)
    return dict(state, app=app)


def release(lock_dir, apps):
    check_lock_dir(lock_dir)
    broken = [state for state in (release_one(lock_dir, app) for app in apps.split(",")) if state]
    print(json.dumps({
        "released": bool(broken),
        "held_by": "; ".join(f"{s['app']}: {s['held_by']}" for s in broken),
        "age": max((s["age"] for s in broken), default=0),
        "stale": False,
    }))


if __name__ == "__main__":
    if len(sys.argv) == 6 and sys.argv[1] == "take":
        take(*sys.argv[2:])
    elif len(sys.argv) == 4 and sys.argv[1] == "release":
        release(*sys.argv[2:])
    else:
        fail(__doc__.strip().splitlines()[2])

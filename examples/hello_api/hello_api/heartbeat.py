"""`python -m hello_api.heartbeat`: write one heartbeat row (host, release, time) and exit 0.

Meant for a timer: GET /heartbeats shows how many beats each host wrote and
when the last one was, so a test sees the timer fire. Without DATABASE_URL it
exits 2 and says so; a database error exits 1 with its traceback.
"""

import socket
import sys

from hello_api import settings


def main() -> int:
    try:
        settings.database_url()
    except settings.NotConfigured as e:
        print(f"hello_api.heartbeat: {e}", file=sys.stderr)
        return 2
    from sqlalchemy import insert

    from hello_api import db

    host = socket.gethostname()
    with db.engine().begin() as conn:
        beat_at = conn.execute(
            insert(db.Heartbeat).values(host=host, release=settings.release()).returning(db.Heartbeat.beat_at)
        ).scalar_one()
    db.dispose()
    print(f"heartbeat from {host}, release {settings.release()}, at {beat_at.isoformat()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

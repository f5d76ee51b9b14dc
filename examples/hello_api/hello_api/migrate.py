"""`python -m hello_api.migrate`: bring the database in DATABASE_URL to the newest schema.

Meant as the kit's pre-switch command (`fastapi_app_pre_switch_commands`), run in
the new release before it gets traffic. It runs Alembic with the alembic.ini that
ships inside this package, so it works from a release directory and from an
installed package alike. Without arguments it runs `upgrade head`; any arguments
are Alembic's own (`python -m hello_api.migrate current`, `... history`).

Alembic logs each step on stderr (`Running upgrade 0001 -> 0002`, nothing when the
schema is current). A migration that fails exits non-zero with Alembic's or the
database's own error on stderr; without DATABASE_URL it exits 2 and says so.
"""

import sys
from pathlib import Path

from hello_api import settings

ALEMBIC_INI = Path(__file__).resolve().with_name("alembic.ini")


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    try:
        settings.database_url()
    except settings.NotConfigured as e:
        print(f"hello_api.migrate: {e}", file=sys.stderr)
        return 2
    from alembic.config import main as alembic_main

    alembic_main(argv=["-c", str(ALEMBIC_INI), *(args or ["upgrade", "head"])], prog="python -m hello_api.migrate")
    return 0


if __name__ == "__main__":
    sys.exit(main())

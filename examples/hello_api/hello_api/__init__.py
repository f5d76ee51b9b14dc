"""A small FastAPI service that the kit deploys as its example.

The web app is `hello_api.main:app`. With DATABASE_URL and REDIS_URL in its
environment it also stores items, queues jobs and counts heartbeats, with these
commands beside it: `python -m hello_api.migrate` (Alembic, before the switch),
`python -m hello_api.worker` (the arq worker) and `python -m hello_api.heartbeat`
(for a timer).
"""

__version__ = "1.0.0"

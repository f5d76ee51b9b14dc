"""The job worker: `python -m hello_api.worker` (or `arq hello_api.worker.WorkerSettings`).

It takes jobs from Redis (REDIS_URL) and records each one done as a row of
`jobs_done` in PostgreSQL (DATABASE_URL): job id, n, n*n, release, host, worker pid,
which try did it, and when. Both variables must be set, or it exits at once
naming the missing one.

Stopping: on SIGTERM (or SIGINT) arq stops taking jobs, lets the running ones
finish for up to HELLO_WORKER_STOP_WAIT seconds (default 25: keep it below the
unit's stop timeout), then cancels what is left. A cancelled job stays in Redis
and is run again by this or another worker (up to `max_tries`), and so is one
whose worker died (after `job_timeout` + 10 s, when its in-progress mark
expires). arq delivers at least once; the job id is `jobs_done`'s primary key,
so a job that runs twice still counts once.
"""

import asyncio
import logging.config
import os
import socket
import sys

from arq import func
from arq.worker import run_worker

from hello_api import jobs, settings


def _required_env():
    try:
        settings.database_url()
        return jobs.redis_settings()
    except settings.NotConfigured as e:
        sys.exit(f"hello_api.worker: {e}")


def _record(job_id: str, job_try: int, n: int, result: int) -> None:
    from sqlalchemy.dialects.postgresql import insert

    from hello_api import db

    with db.engine().begin() as conn:
        conn.execute(
            insert(db.JobDone)
            .values(job_id=job_id, n=n, result=result, release=settings.release(), host=socket.gethostname(),
                    worker_pid=os.getpid(), job_try=job_try)
            .on_conflict_do_nothing(index_elements=["job_id"])
        )


async def hello_job(ctx: dict, n: int, seconds: float = 0.0) -> int:
    """Wait `seconds` (work that takes time), then record n*n as done."""
    if seconds:
        await asyncio.sleep(seconds)
    result = n * n
    await asyncio.to_thread(_record, ctx["job_id"], ctx["job_try"], n, result)
    return result


async def _shutdown(ctx: dict) -> None:
    from hello_api import db

    db.dispose()


class WorkerSettings:
    functions = [func(hello_job, name=jobs.JOB_FUNCTION)]
    queue_name = jobs.QUEUE_NAME
    redis_settings = _required_env()
    on_shutdown = _shutdown
    # At most this many jobs at once in one worker process.
    max_jobs = int(os.environ.get("HELLO_WORKER_MAX_JOBS", "4"))
    # A job running longer fails (not retried); a dead worker's job is retried this + 10 s later.
    job_timeout = int(os.environ.get("HELLO_JOB_TIMEOUT", "60"))
    # Tries per job, counting the first: a job cancelled by a stop or lost with its worker is run again.
    max_tries = 5
    # On SIGTERM: take no new job, let running ones finish this long, then cancel (and so retry) them.
    job_completion_wait = int(os.environ.get("HELLO_WORKER_STOP_WAIT", "25"))
    keep_result = 3600


def main() -> None:
    from arq.logs import default_log_config

    logging.config.dictConfig(default_log_config(verbose=False))
    run_worker(WorkerSettings)


if __name__ == "__main__":
    main()

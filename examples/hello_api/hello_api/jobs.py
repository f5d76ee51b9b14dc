"""The job queue in Redis (arq), as the web process and the worker both see it.

The web process enqueues (`enqueue`) and asks for a job's state (`state`); the
worker (`hello_api.worker`) does the jobs. Both name the same queue and function,
so old and new releases' workers take each other's jobs during a switch.
"""

import asyncio

from arq import create_pool
from arq.connections import ArqRedis, RedisSettings
from arq.jobs import Job, JobStatus

from hello_api import settings

QUEUE_NAME = "hello_api:queue"
JOB_FUNCTION = "hello_job"

_pool: ArqRedis | None = None
_pool_lock = asyncio.Lock()


def redis_settings() -> RedisSettings:
    return RedisSettings(conn_timeout=5, conn_retries=3, conn_retry_delay=1,
                         **settings.redis_settings_kwargs(settings.redis_url()))


async def pool() -> ArqRedis:
    """One connection pool per process, made on first use."""
    global _pool
    if _pool is None:
        rs = redis_settings()
        async with _pool_lock:
            if _pool is None:
                _pool = await create_pool(rs, default_queue_name=QUEUE_NAME)
    return _pool


async def close() -> None:
    global _pool
    if _pool is not None:
        await _pool.aclose()
        _pool = None


async def enqueue(n: int, seconds: float) -> str:
    job = await (await pool()).enqueue_job(JOB_FUNCTION, n, seconds, _queue_name=QUEUE_NAME)
    assert job is not None  # None only when a job of the same id exists; arq made the id
    return job.job_id


async def state(job_id: str) -> str:
    """queued, in_progress, done, or unknown (never enqueued, or its result expired)."""
    status = await Job(job_id, await pool(), _queue_name=QUEUE_NAME).status()
    return {
        JobStatus.deferred: "queued",
        JobStatus.queued: "queued",
        JobStatus.in_progress: "in_progress",
        JobStatus.complete: "done",
    }.get(status, "unknown")

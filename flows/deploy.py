"""``grantflow deploy``: register the flows as deployments on a Prefect server, on a work pool.

For a deployment that outgrows one machine: a Prefect server backed by PostgreSQL, a
process work pool, and ``prefect worker start --pool NAME`` on as many machines as needed.
Each worker runs a flow from ``source`` (a directory every worker has, or a git URL) with
its own grantflow configuration (``GRANTFLOW_DATABASE_URL`` etc.), or the environment
given here as job variables.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any
from uuid import UUID

from prefect import flow

from grantflow.config import Settings
from grantflow.flows.deployments import DEPLOYMENT_NAME, schedules, selected

REPO_SOURCE = str(Path(__file__).resolve().parent.parent)


def ensure_work_pool(name: str) -> bool:
    """Create a process work pool if it is missing; True when it was created."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import WorkPoolCreate
    from prefect.exceptions import ObjectNotFound

    with get_client(sync_client=True) as client:
        try:
            client.read_work_pool(name)
            return False
        except ObjectNotFound:
            client.create_work_pool(WorkPoolCreate(name=name, type="process"))
            return True


def deploy(
    settings: Settings,
    *,
    pool: str = "grantflow",
    source: str = REPO_SOURCE,
    only: Iterable[str] | None = None,
    env: Mapping[str, str] | None = None,
    paused: bool = False,
) -> dict[str, UUID]:
    """Create or update one deployment per flow, scheduled from the settings; returns their ids."""
    from grantflow.flows.prefect_flows import ENTRYPOINTS

    ensure_work_pool(pool)
    names = selected(only)
    ids: dict[str, UUID] = {}
    for name, schedule in schedules(settings, names).items():
        # from_source and deploy are sync here (no running event loop); Prefect types them as maybe-async
        remote: Any = flow.from_source(source=source, entrypoint=ENTRYPOINTS[name])
        ids[name] = remote.deploy(
            name=DEPLOYMENT_NAME,
            work_pool_name=pool,
            schedule=schedule,
            paused=paused,
            build=False,
            push=False,
            job_variables={"env": dict(env)} if env else None,
            print_next_steps=False,
        )
    return ids

"""The Prefect flows: thin wrappers over ``flows.jobs``, one task per step, retried on failure.

A flow acts at the moment it runs, read from the clock (``grantflow.clock``); it takes no
time parameter, so nobody with access to the Prefect server can run a flow "as of" another
moment against the real database (simulations: ``grantflow flows run NAME --at T --dry-run``).
The moment is fixed when the flow starts and handed to its tasks, so a retried step acts for
the same moment and changes nothing twice. Runs are named after the flow and the time they
were scheduled for. Every audit event a run writes names the run (channel ``flow`` with the
flow run id). Deployments (``grantflow serve``, ``grantflow deploy``) give each flow its cron
schedule from the settings, in the configured time zone.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.flows import Flow

from grantflow import clock
from grantflow.config import get_settings
from grantflow.db.session import get_engine
from grantflow.flows import jobs
from grantflow.states.channels import Channel, ChannelKind
from grantflow.states.permissions import SYSTEM


# The step's work runs against the configured database; the engine is made inside the task
# (it cannot be a task input: Prefect would try to hash and serialise it).
@task(retries=3, retry_delay_seconds=[10, 60, 300], cache_policy=NO_CACHE, task_run_name="{step}@{at}")
def step_task(flow_name: str, step: str, at: str, run_id: str) -> dict[str, Any]:
    settings = get_settings()
    job = dict(jobs.STEPS[flow_name])[step]
    actor = SYSTEM.via(Channel(ChannelKind.FLOW, f"prefect flow run {run_id}"))
    report = job(get_engine(settings), datetime.fromisoformat(at), settings, actor)
    get_run_logger().info("%s/%s at %s: %s", flow_name, step, at, report)
    return report


def _run(flow_name: str) -> dict[str, Any]:
    from prefect.runtime import flow_run

    moment = clock.now().isoformat()
    run_id = str(flow_run.id or "")
    return {step: step_task(flow_name, step, moment, run_id) for step, _ in jobs.STEPS[flow_name]}


def _name(flow_name: str) -> str:
    """Run names like ``reminders-2026-03-02T09:00`` (when the run was scheduled for, or started)."""
    from prefect.runtime import flow_run

    at = flow_run.scheduled_start_time or clock.now()
    return f"{flow_name}-{at.strftime('%Y-%m-%dT%H:%M')}"


@flow(name="deadlines", flow_run_name=lambda: _name("deadlines"), log_prints=False)
def deadlines_flow() -> dict[str, Any]:
    """Open and close calls, open sealed bids, mark overdue reports; deliver what that wrote."""
    return _run("deadlines")


@flow(name="reminders", flow_run_name=lambda: _name("reminders"))
def reminders_flow() -> dict[str, Any]:
    """Reminders before due dates, overdue notices and escalation after; deliver them."""
    return _run("reminders")


@flow(name="dispatch", flow_run_name=lambda: _name("dispatch"))
def dispatch_flow() -> dict[str, Any]:
    """Deliver the outbox: in-app inbox and immediate e-mails."""
    return _run("dispatch")


@flow(name="digest", flow_run_name=lambda: _name("digest"))
def digest_flow() -> dict[str, Any]:
    """Daily digest e-mails for those who chose them."""
    return _run("digest")


@flow(name="housekeeping", flow_run_name=lambda: _name("housekeeping"))
def housekeeping_flow() -> dict[str, Any]:
    """Close due items whose report or review came in long after their reminders; anchor the audit chain."""
    return _run("housekeeping")


@flow(name="publish-establishment", flow_run_name=lambda: _name("publish-establishment"))
def publish_establishment_flow() -> dict[str, Any]:
    """Establishment results of the last completed period, every launched programme; then submit."""
    return _run("publish-establishment")


@flow(name="publish-progress", flow_run_name=lambda: _name("publish-progress"))
def publish_progress_flow() -> dict[str, Any]:
    """Progress of the last completed period, every launched programme; then submit."""
    return _run("publish-progress")


@flow(name="publish-adjustments", flow_run_name=lambda: _name("publish-adjustments"))
def publish_adjustments_flow() -> dict[str, Any]:
    """Dynamic adjustments of the last completed period, every launched programme; then submit."""
    return _run("publish-adjustments")


@flow(name="publish-evaluations", flow_run_name=lambda: _name("publish-evaluations"))
def publish_evaluations_flow() -> dict[str, Any]:
    """Evaluation results of the last completed period, every launched programme; then submit."""
    return _run("publish-evaluations")


@flow(name="publish-reports", flow_run_name=lambda: _name("publish-reports"))
def publish_reports_flow() -> dict[str, Any]:
    """Check submitted S&T reports; publish sheets, full texts and deferred texts on their release date."""
    return _run("publish-reports")


@flow(name="publish-submit", flow_run_name=lambda: _name("publish-submit"))
def publish_submit_flow() -> dict[str, Any]:
    """Retry deliveries to the S&T reporting system that are due."""
    return _run("publish-submit")


FLOWS: dict[str, Flow[..., Any]] = {
    "deadlines": deadlines_flow,
    "reminders": reminders_flow,
    "dispatch": dispatch_flow,
    "digest": digest_flow,
    "housekeeping": housekeeping_flow,
    "publish-establishment": publish_establishment_flow,
    "publish-progress": publish_progress_flow,
    "publish-adjustments": publish_adjustments_flow,
    "publish-evaluations": publish_evaluations_flow,
    "publish-reports": publish_reports_flow,
    "publish-submit": publish_submit_flow,
}
ENTRYPOINTS = {name: f"flows/prefect_flows.py:{f.fn.__name__}" for name, f in FLOWS.items()}

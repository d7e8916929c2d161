"""``python -m grantflow.flows.runner``: serve the flows on their schedules against ``PREFECT_API_URL``.

``grantflow serve`` starts this as a child process once the Prefect server is healthy; the
runner polls the server for scheduled runs and executes each in a subprocess.
"""

from __future__ import annotations

import os
import sys

from prefect import serve

from grantflow.config import get_settings
from grantflow.flows.deployments import local_deployments


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    if not os.environ.get("PREFECT_API_URL"):
        raise SystemExit("PREFECT_API_URL is not set: start the runner through `grantflow serve`")
    serve(*local_deployments(get_settings(), args or None), print_starting_message=False)


if __name__ == "__main__":
    main()

"""grantflow: a workflow and approval engine for public grant programmes.

The installed distribution maps the repository's top-level folders under this one
namespace, so installing grantflow adds a single top-level package:

- ``grantflow.states``: the rules, pure (lifecycle tables, guards, who may act)
- ``grantflow.db``: tables, migrations, the audit chain and the one function that changes a state
- ``grantflow.services``: domain operations on a connection, one module per domain
- ``grantflow.forms``: versioned stage forms and their validation
- ``grantflow.notifications``: outbox delivery (e-mail, in-app inbox)
- ``grantflow.flows``: Prefect flows (deadlines, reminders, publication)
- ``grantflow.web``: the web page and JSON API
- ``grantflow.cli``: the ``grantflow`` command
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("grantflow")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0+unknown"

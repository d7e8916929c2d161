"""``python -m grantflow``: the same command as ``grantflow``."""

from grantflow.cli.main import app

app()

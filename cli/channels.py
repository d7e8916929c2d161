"""The channel of an act done through the command line: the CLI, with the operating-system user."""

from __future__ import annotations

import os

from grantflow.states.channels import Channel, ChannelKind


def os_user() -> str:
    """The operating-system account running this command, from the process (not from $USER)."""
    try:
        import pwd

        return pwd.getpwuid(os.getuid()).pw_name
    except (ImportError, KeyError):  # pragma: no cover - not a POSIX system, or a uid without a name
        import getpass

        return getpass.getuser()


def cli_channel() -> Channel:
    return Channel(ChannelKind.CLI, os_user())


def flows_by_hand_channel() -> Channel:
    return Channel(ChannelKind.FLOW, f"flows run by {os_user()}")

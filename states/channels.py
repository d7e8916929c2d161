"""Where an act came from: the web page, the JSON API, the command line, a flow, the demo, a migration.

Every audit event records its channel, covered by the event's keyed hash, so
``grantflow fire --as someone`` on a server's shell can be told apart from that person acting
on the page. The channel travels on the ``Actor`` and is set where the actor is resolved
(the web's dependencies, the CLI, the flows, the demo). Code that calls grantflow directly
without saying where it came from (a script, a test, a benchmark) is recorded as ``code``.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from grantflow.states.text import Text


class ChannelKind(StrEnum):
    PAGE = "page"
    API = "api"
    CLI = "cli"
    FLOW = "flow"
    DEMO = "demo"
    MIGRATION = "migration"
    CODE = "code"


CHANNEL_LABELS: dict[str, Text] = {
    ChannelKind.PAGE: Text("网页", "web page"),
    ChannelKind.API: Text("接口", "API"),
    ChannelKind.CLI: Text("命令行", "command line"),
    ChannelKind.FLOW: Text("定时任务", "flow"),
    ChannelKind.DEMO: Text("演示", "demo"),
    ChannelKind.MIGRATION: Text("数据迁移", "migration"),
    ChannelKind.CODE: Text("程序调用", "code"),
}

CHANNEL_DETAIL_MAX = 200
"""Longest detail stored (an operating-system user name, a flow run id, a note)."""


@dataclass(frozen=True)
class Channel:
    """A channel kind and what identifies the act within it (the OS user, the flow run id)."""

    kind: str
    detail: str = ""

    def __post_init__(self) -> None:
        if self.kind not in CHANNEL_LABELS:
            raise ValueError(f"unknown channel {self.kind!r}; known: {', '.join(CHANNEL_LABELS)}")
        if len(self.detail) > CHANNEL_DETAIL_MAX:
            object.__setattr__(self, "detail", self.detail[:CHANNEL_DETAIL_MAX])

    def label(self) -> Text:
        base = CHANNEL_LABELS[self.kind]
        return base if not self.detail else Text(f"{base.zh}（{self.detail}）", f"{base.en} ({self.detail})")

    def __str__(self) -> str:
        return f"{self.kind}:{self.detail}" if self.detail else self.kind


CODE = Channel(ChannelKind.CODE)
PAGE = Channel(ChannelKind.PAGE)
API = Channel(ChannelKind.API)
DEMO = Channel(ChannelKind.DEMO)

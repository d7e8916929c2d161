"""The rules of grantflow, pure: vocabularies, lifecycle tables, guards, who may act.

Imports only the standard library and ``transitions``. Everything that stores, sends or
schedules builds on this package; nothing here knows about a database.
"""

from grantflow.states.errors import (
    Conflict,
    Forbidden,
    GrantflowError,
    GuardFailed,
    InvalidTrigger,
    NotFound,
    PayloadInvalid,
    WorkflowInvalid,
)
from grantflow.states.facts import Facts, StaticFacts
from grantflow.states.permissions import SYSTEM, Actor
from grantflow.states.text import Text
from grantflow.states.workflow import Registry, TransitionDef, Workflow, registry_from_documents

__all__ = [
    "SYSTEM",
    "Actor",
    "Conflict",
    "Facts",
    "Forbidden",
    "GrantflowError",
    "GuardFailed",
    "InvalidTrigger",
    "NotFound",
    "PayloadInvalid",
    "Registry",
    "StaticFacts",
    "Text",
    "TransitionDef",
    "Workflow",
    "WorkflowInvalid",
    "registry_from_documents",
]

"""A form is data: a key, a version, sections of fields and cross-field checks.

Every published version stays in the registry for ever, because stored submissions name
the version they were made with and are shown and exported with it. Changing a form means
registering a new version next to the old one, never editing the old one in place (a test
holds a fingerprint of each published version to catch that).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from dataclasses import field as dc_field
from typing import Any

from grantflow.forms.fields import Field, OrgRef, Table
from grantflow.states.text import Text

_NAME = re.compile(r"^[a-z][a-z0-9_]{0,59}$")


@dataclass(frozen=True)
class FieldError:
    """One problem, keyed by where it is: ``("budget", 2, "amount")`` is row 3's amount."""

    path: tuple[str | int, ...]
    code: str
    message: Text

    @property
    def field(self) -> str:
        return str(self.path[0])

    @property
    def key(self) -> str:
        """The path as one string: ``budget[2].amount``; also the HTML input's error anchor."""
        out = str(self.path[0])
        for part in self.path[1:]:
            out += f"[{part}]" if isinstance(part, int) else f".{part}"
        return out

    def as_dict(self) -> dict[str, Any]:
        return {"key": self.key, "path": list(self.path), "code": self.code, **self.message.as_dict()}


Check = Callable[[Mapping[str, Any]], list[FieldError]]
"""A cross-field rule over the parsed values (fields that failed to parse are absent)."""


@dataclass(frozen=True)
class Section:
    title: Text
    fields: tuple[Field, ...]
    help: Text | None = None


@dataclass(frozen=True)
class FormDefinition:
    key: str
    version: int
    title: Text
    sections: tuple[Section, ...]
    checks: tuple[Check, ...] = ()
    # who may fill it outside a project (the public questionnaire); a project's forms are edited
    # where and by whom the workflow table's ``editable`` attribute says
    filled_by: tuple[str, ...] = ("applicant",)
    periodic: bool = False  # one submission per period (the year of an annual report)
    description: Text | None = None
    # the organisations its organisation fields name take part in the project: once submitted,
    # they are the project's partners, whose people never review it (conflict of interest)
    names_partners: bool = False
    _by_name: dict[str, Field] = dc_field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not _NAME.match(self.key):
            raise ValueError(f"form key {self.key!r} must be lower_snake_case")
        if self.version < 1:
            raise ValueError(f"{self.key}: versions start at 1")
        for f in self.fields:
            if not _NAME.match(f.name):
                raise ValueError(f"{self.key} v{self.version}: field name {f.name!r} must be lower_snake_case")
            if f.name in self._by_name:
                raise ValueError(f"{self.key} v{self.version}: field {f.name!r} appears twice")
            self._by_name[f.name] = f
            if isinstance(f, Table):
                names = [c.name for c in f.columns]
                if len(set(names)) != len(names):
                    raise ValueError(f"{self.key} v{self.version}: table {f.name!r} repeats a column")

    @property
    def fields(self) -> Iterator[Field]:
        for s in self.sections:
            yield from s.fields

    def field(self, name: str) -> Field:
        return self._by_name[name]

    def has(self, name: str) -> bool:
        return name in self._by_name

    def organisation_ids(self, data: Mapping[str, Any]) -> set[int]:
        """Every organisation id the stored values name in organisation fields (table columns too)."""
        found: set[int] = set()

        def add(value: Any) -> None:
            if isinstance(value, int) and not isinstance(value, bool):
                found.add(value)
            elif isinstance(value, str) and value.strip().isdigit():
                found.add(int(value.strip()))

        for f in self.fields:
            if isinstance(f, OrgRef):
                add(data.get(f.name))
            elif isinstance(f, Table):
                columns = [c.name for c in f.columns if isinstance(c, OrgRef)]
                for row in f.rows_of(data.get(f.name)) if columns else []:
                    for name in columns:
                        add(row.get(name))
        return found

    def describe(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "version": self.version,
            "sections": [[f.describe() for f in s.fields] for s in self.sections],
            "checks": [getattr(c, "__name__", "check") for c in self.checks],
        }

    def fingerprint(self) -> str:
        """A digest of the structure (names, kinds, limits, choices), not of the wording."""
        text = json.dumps(self.describe(), sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


class UnknownForm(LookupError):
    def __init__(self, key: str, version: int | None = None) -> None:
        what = key if version is None else f"{key} v{version}"
        super().__init__(f"no form {what}")
        self.text = Text(f"表单“{what}”不存在", f"form '{what}' does not exist")


class FormRegistry:
    """Every version of every form, by key; the newest version is what new drafts use."""

    def __init__(self, definitions: list[FormDefinition] | None = None) -> None:
        self._forms: dict[str, dict[int, FormDefinition]] = {}
        for d in definitions or []:
            self.register(d)

    def register(self, definition: FormDefinition) -> None:
        versions = self._forms.setdefault(definition.key, {})
        if definition.version in versions:
            raise ValueError(f"{definition.key} v{definition.version} is already registered")
        versions[definition.version] = definition

    def copy(self) -> FormRegistry:
        clone = FormRegistry()
        clone._forms = {k: dict(v) for k, v in self._forms.items()}
        return clone

    def keys(self) -> list[str]:
        return sorted(self._forms)

    def versions(self, key: str) -> list[int]:
        return sorted(self._forms.get(key, {}))

    def get(self, key: str, version: int | None = None) -> FormDefinition:
        versions = self._forms.get(key)
        if not versions:
            raise UnknownForm(key)
        if version is None:
            return versions[max(versions)]
        try:
            return versions[version]
        except KeyError:
            raise UnknownForm(key, version) from None

    def find(self, key: str, version: int | None = None) -> FormDefinition | None:
        try:
            return self.get(key, version)
        except UnknownForm:
            return None

    def latest(self, key: str) -> FormDefinition:
        return self.get(key)

    def __iter__(self) -> Iterator[FormDefinition]:
        for key in self.keys():
            for v in self.versions(key):
                yield self._forms[key][v]

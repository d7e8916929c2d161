"""Eligibility conditions (准入条件) of a call, pure: the rules, their parsing, every failure.

An organising unit writes a call's rules as a small JSON document (``Call.eligibility``);
the database layer loads the applicant's facts (``ApplicantFacts``) and this module says,
in both languages, every reason the applicant is refused. A refused applicant must see all
of them at once, so nothing here stops at the first failure.

Rule document keys (all optional; an empty document admits everyone):

``unit_kinds``            list of ``states.enums.OrgKind`` values the applying unit must be
``unit_types``            list of unit types (enterprise, university, institute, alliance)
``regions``               list of registered regions (e.g. "北京市")
``qualifications``        list of qualification codes the unit must hold, valid on the day
``max_active_projects_per_unit``  at most this many projects of the unit already under way
``max_active_projects_per_pi``    the same for the principal investigator
``no_overdue_reports``    true: no report on an earlier project may be overdue
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from grantflow.states.enums import LABELS, OrgKind, SelectionMode
from grantflow.states.text import Text

UNIT_TYPES: dict[str, Text] = {
    "enterprise": Text("企业", "enterprise"),
    "university": Text("高等院校", "university"),
    "institute": Text("科研院所", "research institute"),
    "alliance": Text("产业技术创新联盟", "industry technology-innovation alliance"),
}

QUALIFICATIONS: dict[str, Text] = {
    "high_tech_enterprise": Text("高新技术企业", "high-tech enterprise"),
    "independent_legal_person": Text("独立法人资格", "independent legal person"),
    "rd_centre": Text("市级以上研发机构", "municipal or higher R&D centre"),
    "iso9001": Text("ISO 9001 质量管理体系认证", "ISO 9001 quality management certification"),
    "gmp": Text("药品生产质量管理规范（GMP）认证", "GMP certification"),
    "classified_qualification": Text("保密资质", "security clearance"),
}

KNOWN_KEYS = frozenset(
    {
        "unit_kinds",
        "unit_types",
        "regions",
        "qualifications",
        "max_active_projects_per_unit",
        "max_active_projects_per_pi",
        "no_overdue_reports",
    }
)

# A project "under way" counts against the concurrency limits: the workflow table marks those
# states ``active`` (``states.attributes``); drafts do not count (they cost nobody anything).


@dataclass(frozen=True)
class EligibilityRules:
    unit_kinds: frozenset[str] = frozenset()
    unit_types: frozenset[str] = frozenset()
    regions: frozenset[str] = frozenset()
    qualifications: frozenset[str] = frozenset()
    max_active_projects_per_unit: int | None = None
    max_active_projects_per_pi: int | None = None
    no_overdue_reports: bool = False

    @property
    def empty(self) -> bool:
        return self == EligibilityRules()

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key in ("unit_kinds", "unit_types", "regions", "qualifications"):
            values = getattr(self, key)
            if values:
                out[key] = sorted(values)
        for key in ("max_active_projects_per_unit", "max_active_projects_per_pi"):
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        if self.no_overdue_reports:
            out["no_overdue_reports"] = True
        return out


@dataclass(frozen=True)
class ApplicantFacts:
    """What the rules may know about the applying unit and person, loaded by ``db.eligibility``.

    ``active_*`` counts exclude the project being submitted. ``qualifications`` maps each
    qualification the unit holds (revoked ones left out) to the end of its validity (None:
    open-ended), ``qualifications_from`` to its start (absent or None: valid from the start);
    ``reports_due`` lists each report of an earlier project not yet submitted, named so the
    refusal can say which, with its due time. Validity and lateness are judged against ``now``.
    """

    unit_id: int | None
    unit_name: str = ""
    unit_kind: str | None = None
    unit_type: str | None = None
    region: str | None = None
    qualifications: Mapping[str, datetime | None] = field(default_factory=dict)
    qualifications_from: Mapping[str, datetime | None] = field(default_factory=dict)
    active_projects_of_unit: int = 0
    active_projects_of_pi: int = 0
    has_pi: bool = True
    reports_due: tuple[tuple[Text, datetime], ...] = ()
    selection_mode: str | None = None
    designated_unit_id: int | None = None
    designated_unit_name: str = ""


class RulesInvalid(ValueError):
    """The rule document itself is wrong; each problem is bilingual."""

    def __init__(self, problems: list[Text]) -> None:
        super().__init__("; ".join(p.en for p in problems))
        self.problems = problems


def _strings(
    doc: Mapping[str, Any], key: str, problems: list[Text], allowed: Mapping[str, Any] | None
) -> frozenset[str]:
    value = doc.get(key, [])
    if value is None:
        return frozenset()
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        problems.append(Text(f"准入条件“{key}”应为非空文本列表", f"eligibility '{key}' must be a list of names"))
        return frozenset()
    values = frozenset(v.strip() for v in value)
    if allowed is not None:
        for v in sorted(values - set(allowed)):
            problems.append(Text(f"准入条件“{key}”含未知取值“{v}”", f"eligibility '{key}' has unknown value '{v}'"))
    return values


def _limit(doc: Mapping[str, Any], key: str, problems: list[Text]) -> int | None:
    value = doc.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        problems.append(
            Text(f"准入条件“{key}”应为不小于 0 的整数", f"eligibility '{key}' must be a whole number, 0 or more")
        )
        return None
    return value


def parse_rules(doc: Mapping[str, Any] | None) -> EligibilityRules:
    """The rules from a call's document; raises ``RulesInvalid`` naming every problem."""
    doc = doc or {}
    problems: list[Text] = [
        Text(f"未知的准入条件“{k}”", f"unknown eligibility condition '{k}'") for k in sorted(set(doc) - KNOWN_KEYS)
    ]
    no_overdue = doc.get("no_overdue_reports", False)
    if not isinstance(no_overdue, bool):
        problems.append(
            Text("准入条件“no_overdue_reports”应为 true 或 false", "'no_overdue_reports' must be true or false")
        )
        no_overdue = False
    rules = EligibilityRules(
        unit_kinds=_strings(doc, "unit_kinds", problems, {k.value: k for k in OrgKind}),
        unit_types=_strings(doc, "unit_types", problems, UNIT_TYPES),
        regions=_strings(doc, "regions", problems, None),
        qualifications=_strings(doc, "qualifications", problems, QUALIFICATIONS),
        max_active_projects_per_unit=_limit(doc, "max_active_projects_per_unit", problems),
        max_active_projects_per_pi=_limit(doc, "max_active_projects_per_pi", problems),
        no_overdue_reports=no_overdue,
    )
    if problems:
        raise RulesInvalid(problems)
    return rules


def _names(values: frozenset[str], table: Mapping[str, Text] | None, lang: str) -> str:
    sep = "、" if lang == "zh" else ", "
    if table is None:
        return sep.join(sorted(values))
    return sep.join(table[v].get(lang) if v in table else v for v in sorted(values))


def _kind_label(value: str) -> Text:
    return LABELS.get(value, Text(value, value.replace("_", " ")))


def post_evaluation_report_due(year: int) -> datetime:
    """The annual post-evaluation report for ``year`` is due by the end of March of the next
    year (Beijing time), when the year's figures are closed."""
    return datetime(year + 1, 3, 31, 16, 0, tzinfo=UTC)


def valid_qualifications(applicant: ApplicantFacts, now: datetime) -> frozenset[str]:
    """The qualifications that count at ``now``: started and not yet ended."""

    def started(code: str) -> bool:
        since = applicant.qualifications_from.get(code)
        return since is None or since <= now

    return frozenset(
        code for code, until in applicant.qualifications.items() if (until is None or until >= now) and started(code)
    )


def overdue_reports(applicant: ApplicantFacts, now: datetime) -> list[Text]:
    return [name for name, due in applicant.reports_due if due < now]


def problems(rules: EligibilityRules, applicant: ApplicantFacts, now: datetime) -> list[Text]:
    """Every reason the applicant may not submit to this call on ``now``; empty when eligible."""
    out: list[Text] = []
    if applicant.selection_mode == SelectionMode.DIRECTED and applicant.unit_id != applicant.designated_unit_id:
        who = applicant.designated_unit_name or str(applicant.designated_unit_id)
        out.append(
            Text(
                f"本指南为定向委托，只有指定的承担单位“{who}”可以申报",
                f"this call is a directed commission: only the designated unit ({who}) may apply",
            )
        )
    if rules.unit_kinds and applicant.unit_kind not in rules.unit_kinds:
        kinds = {k: _kind_label(k) for k in rules.unit_kinds}
        out.append(
            Text(
                f"申报单位类别不符：要求为{_names(rules.unit_kinds, kinds, 'zh')}",
                f"the applying unit is of the wrong kind: it must be {_names(rules.unit_kinds, kinds, 'en')}",
            )
        )
    if rules.unit_types and applicant.unit_type not in rules.unit_types:
        have = UNIT_TYPES.get(applicant.unit_type or "", Text("未登记", "not recorded"))
        out.append(
            Text(
                f"申报单位性质不符：要求为{_names(rules.unit_types, UNIT_TYPES, 'zh')}，本单位为{have.zh}",
                f"the applying unit's type does not qualify: it must be {_names(rules.unit_types, UNIT_TYPES, 'en')}"
                f"; yours is {have.en}",
            )
        )
    if rules.regions and applicant.region not in rules.regions:
        region = applicant.region or "—"
        out.append(
            Text(
                f"申报单位注册地不符：要求注册在{_names(rules.regions, None, 'zh')}，本单位注册在{region}",
                f"the applying unit must be registered in {_names(rules.regions, None, 'en')}; yours is in {region}",
            )
        )
    missing = rules.qualifications - valid_qualifications(applicant, now)
    if missing:
        out.append(
            Text(
                f"缺少有效资质：{_names(missing, QUALIFICATIONS, 'zh')}",
                f"missing valid qualifications: {_names(missing, QUALIFICATIONS, 'en')}",
            )
        )
    limit = rules.max_active_projects_per_unit
    if limit is not None and applicant.active_projects_of_unit >= limit:
        out.append(
            Text(
                f"本单位在研项目已有 {applicant.active_projects_of_unit} 项，达到上限 {limit} 项",
                f"your unit already has {applicant.active_projects_of_unit} projects under way; the limit is {limit}",
            )
        )
    limit = rules.max_active_projects_per_pi
    if limit is not None:
        if not applicant.has_pi:
            out.append(Text("未指定项目负责人", "no principal investigator is named"))
        elif applicant.active_projects_of_pi >= limit:
            out.append(
                Text(
                    f"项目负责人在研项目已有 {applicant.active_projects_of_pi} 项，达到上限 {limit} 项",
                    f"the principal investigator already leads {applicant.active_projects_of_pi} projects under way;"
                    f" the limit is {limit}",
                )
            )
    overdue = overdue_reports(applicant, now) if rules.no_overdue_reports else []
    if overdue:
        listed_zh = "、".join(t.zh for t in overdue)
        listed_en = ", ".join(t.en for t in overdue)
        out.append(
            Text(
                f"本单位以往项目有逾期未交的报告：{listed_zh}",
                f"earlier projects of your unit have overdue reports: {listed_en}",
            )
        )
    return out


def describe(rules: EligibilityRules) -> list[Text]:
    """The rules as sentences, for the call's page and the refusal's context."""
    out: list[Text] = []
    if rules.unit_kinds:
        kinds = {k: _kind_label(k) for k in rules.unit_kinds}
        out.append(
            Text(
                f"单位类别：{_names(rules.unit_kinds, kinds, 'zh')}",
                f"unit kind: {_names(rules.unit_kinds, kinds, 'en')}",
            )
        )
    if rules.unit_types:
        out.append(
            Text(
                f"单位性质：{_names(rules.unit_types, UNIT_TYPES, 'zh')}",
                f"unit type: {_names(rules.unit_types, UNIT_TYPES, 'en')}",
            )
        )
    if rules.regions:
        out.append(
            Text(f"注册地：{_names(rules.regions, None, 'zh')}", f"registered in: {_names(rules.regions, None, 'en')}")
        )
    if rules.qualifications:
        out.append(
            Text(
                f"资质：{_names(rules.qualifications, QUALIFICATIONS, 'zh')}",
                f"qualifications: {_names(rules.qualifications, QUALIFICATIONS, 'en')}",
            )
        )
    if rules.max_active_projects_per_unit is not None:
        n = rules.max_active_projects_per_unit
        out.append(Text(f"每个单位在研项目不超过 {n} 项", f"at most {n} projects under way per unit"))
    if rules.max_active_projects_per_pi is not None:
        n = rules.max_active_projects_per_pi
        out.append(
            Text(f"每位负责人在研项目不超过 {n} 项", f"at most {n} projects under way per principal investigator")
        )
    if rules.no_overdue_reports:
        out.append(Text("以往项目无逾期未交报告", "no overdue reports on earlier projects"))
    return out

"""S&T reports (科技报告), purely: release scope, report numbers and the formal compliance check.

A funded project's S&T report is laid out after GB/T 7713.3: front matter with the
basic-information sheet, the main text, the back matter. Its release scope is public or
deferred (延期公开) for at most five years; a deferred report publishes only its
basic-information sheet until its release date. Before anything is published the report
passes a formal check of its required sections and fields; failing it, the report goes back
to the undertaking unit with every reason. The rules here read a stored submission's values
(JSON: dates as ISO text) and return what is wrong, in both languages.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date
from typing import Any

from grantflow.states.text import Text

FORM_KEY = "st_report"

PUBLIC = "public"
DEFERRED = "deferred"
RELEASE_SCOPES: dict[str, Text] = {
    PUBLIC: Text("公开", "public"),
    DEFERRED: Text("延期公开", "deferred"),
}
SCOPE_MARKS = {PUBLIC: "GK", DEFERRED: "YQ"}
"""The release-scope mark that ends a report number (公开 GK, 延期公开 YQ)."""

MAX_DEFERRAL_YEARS = 5
MIN_KEYWORDS, MAX_KEYWORDS = 3, 8
MIN_ABSTRACT_CHARS = 100
MAX_ABSTRACT_CHARS = 1500
MIN_SECTIONS = 1

REPORT_KINDS: dict[str, Text] = {
    "progress": Text("进展报告", "progress report"),
    "final": Text("最终报告", "final report"),
    "special": Text("专题报告", "special report"),
}

_ORG_CODE = re.compile(r"^(?:[0-9A-HJ-NPQRTUWXY]{2}\d{6}[0-9A-HJ-NPQRTUWXY]{10}|[0-9A-Z]{8}-?[0-9X])$")
"""An organisation code: the 18-character unified social credit code, or the older 9-character code."""

_KEYWORD_SPLIT = re.compile(r"[;；,，、\s]+")


def keywords(value: Any) -> list[str]:
    """Keywords as typed (separated by semicolons, commas or 、), without empties and repeats."""
    parts = [str(v) for v in value] if isinstance(value, list | tuple) else _KEYWORD_SPLIT.split(str(value or ""))
    out: list[str] = []
    for p in (x.strip() for x in parts):
        if p and p not in out:
            out.append(p)
    return out


def report_number(*, org_code: str, project_code: str, seq: int, scope: str) -> str:
    """Organisation code + project number + sequence + release-scope mark, e.g.
    ``91110108MA01ABCD2X-ZX07-2026-00012-01-GK``."""
    return f"{org_code.strip().upper()}-{project_code}-{seq:02d}-{SCOPE_MARKS[scope]}"


def _date(value: Any) -> date | None:
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value)[:10]) if value else None
    except ValueError:
        return None


def add_years(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February
        return day.replace(year=day.year + years, day=28)


def release_date(data: Mapping[str, Any]) -> date | None:
    """When the full text may be published: the report date if public, else the chosen release date."""
    if data.get("release_scope") == DEFERRED:
        return _date(data.get("release_date"))
    return _date(data.get("report_date"))


def _missing(zh: str, en: str) -> Text:
    return Text(f"缺少{zh}", f"{en} is missing")


def _text(data: Mapping[str, Any], name: str) -> str:
    return str(data.get(name) or "").strip()


def compliance_problems(data: Mapping[str, Any]) -> list[Text]:
    """Every reason the report fails the formal check; empty when it passes."""
    out: list[Text] = []
    # basic-information sheet
    if not _text(data, "title"):
        out.append(_missing("报告题名", "the title"))
    authors = [a for a in data.get("authors") or [] if isinstance(a, Mapping) and str(a.get("name") or "").strip()]
    if not authors:
        out.append(_missing("作者及其单位", "the authors and their units"))
    elif any(not str(a.get("unit") or "").strip() for a in authors):
        out.append(Text("每位作者须注明所在单位", "every author needs a unit"))
    code = _text(data, "org_code").upper()
    if not code:
        out.append(_missing("单位代码", "the organisation code"))
    elif not _ORG_CODE.match(code):
        out.append(
            Text(
                f"单位代码“{code}”格式不正确（应为18位统一社会信用代码或9位组织机构代码）",
                f"organisation code '{code}' is malformed (18-character credit code or 9-character code)",
            )
        )
    scope = data.get("release_scope")
    report_day = _date(data.get("report_date"))
    if scope not in RELEASE_SCOPES:
        out.append(_missing("公开范围", "the release scope"))
    if report_day is None:
        out.append(_missing("编制日期", "the report date"))
    if scope == DEFERRED:
        release = _date(data.get("release_date"))
        if release is None:
            out.append(Text("延期公开须填写公开日期", "a deferred report needs its release date"))
        elif report_day is not None and release <= report_day:
            out.append(Text("公开日期须晚于编制日期", "the release date must be after the report date"))
        elif report_day is not None and release > add_years(report_day, MAX_DEFERRAL_YEARS):
            out.append(
                Text(
                    f"延期公开不得超过{MAX_DEFERRAL_YEARS}年（最迟 {add_years(report_day, MAX_DEFERRAL_YEARS)}）",
                    f"deferral may not exceed {MAX_DEFERRAL_YEARS} years (latest "
                    f"{add_years(report_day, MAX_DEFERRAL_YEARS)})",
                )
            )
        if not _text(data, "deferral_reason"):
            out.append(_missing("延期公开理由", "the reason for deferral"))
    words = keywords(data.get("keywords"))
    if not MIN_KEYWORDS <= len(words) <= MAX_KEYWORDS:
        out.append(
            Text(
                f"关键词应为{MIN_KEYWORDS}至{MAX_KEYWORDS}个（现有{len(words)}个）",
                f"give {MIN_KEYWORDS} to {MAX_KEYWORDS} keywords (now {len(words)})",
            )
        )
    abstract = _text(data, "abstract")
    if not abstract:
        out.append(_missing("摘要", "the abstract"))
    elif not MIN_ABSTRACT_CHARS <= len(abstract) <= MAX_ABSTRACT_CHARS:
        out.append(
            Text(
                f"摘要应为{MIN_ABSTRACT_CHARS}至{MAX_ABSTRACT_CHARS}字（现有{len(abstract)}字）",
                f"the abstract should have {MIN_ABSTRACT_CHARS} to {MAX_ABSTRACT_CHARS} characters "
                f"(now {len(abstract)})",
            )
        )
    if not _text(data, "funding_channel"):
        out.append(_missing("资助渠道", "the funding channel"))
    # main text
    if not _text(data, "introduction"):
        out.append(_missing("引言", "the introduction"))
    sections = [s for s in data.get("sections") or [] if isinstance(s, Mapping) and str(s.get("heading") or "").strip()]
    if len(sections) < MIN_SECTIONS:
        out.append(_missing("正文章节", "a chapter of the main text"))
    for i, s in enumerate(sections, start=1):
        if not str(s.get("body") or "").strip():
            out.append(Text(f"正文第{i}章“{s.get('heading')}”没有内容", f"chapter {i} '{s.get('heading')}' is empty"))
    if not _text(data, "conclusions"):
        out.append(_missing("结论", "the conclusions"))
    # back matter
    if data.get("report_kind") == "final" and not _text(data, "references"):
        out.append(Text("最终报告须列出参考文献", "a final report lists its references"))
    return out

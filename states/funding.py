"""Funding, pure: what a budget line may say, and whether its support mode fits the project's category.

Public money (the municipal and district budgets) is always given in a stated support mode, and
that mode must be one the project's category allows (docs/domain.md, rule 4); other sources may
name a mode (private capital as equity investment, for instance) and are then checked the same way.
"""

from __future__ import annotations

from decimal import Decimal

from grantflow.states.enums import LABELS, SUPPORT_MODES_BY_CATEGORY, Category, FundingSource, SupportMode
from grantflow.states.text import Text

PUBLIC_SOURCES = frozenset({FundingSource.MUNICIPAL_BUDGET, FundingSource.DISTRICT_BUDGET})
SOURCES: tuple[str, ...] = tuple(s.value for s in FundingSource)
SUPPORT_MODES: tuple[str, ...] = tuple(m.value for m in SupportMode)
CATEGORIES: tuple[str, ...] = tuple(c.value for c in Category)


def source_label(source: str) -> Text:
    return LABELS.get(source, Text(source, source))


def support_mode_label(mode: str | None) -> Text:
    if not mode:
        return Text("未注明", "not stated")
    return LABELS.get(mode, Text(mode, mode))


def compatible_modes(category: str) -> frozenset[str]:
    try:
        return frozenset(m.value for m in SUPPORT_MODES_BY_CATEGORY[Category(category)])
    except ValueError:
        return frozenset()


def line_problems(*, source: str, support_mode: str | None, amount: Decimal, category: str) -> list[Text]:
    """Everything wrong with one budget line of a project of ``category``."""
    problems: list[Text] = []
    if source not in SOURCES:
        problems.append(
            Text(f"未知经费来源“{source}”（可选：{', '.join(SOURCES)}）", f"unknown funding source '{source}'")
        )
    if support_mode is not None and support_mode not in SUPPORT_MODES:
        problems.append(Text(f"未知支持方式“{support_mode}”", f"unknown support mode '{support_mode}'"))
    elif support_mode is None and source in PUBLIC_SOURCES:
        problems.append(
            Text(
                f"{source_label(source).zh}资金须注明支持方式",
                f"money from the {source_label(source).en} must state its support mode",
            )
        )
    elif support_mode is not None:
        problems += support_mode_problems(category, [support_mode])
    if amount <= 0:
        problems.append(Text(f"金额须大于 0，收到 {amount}", f"an amount must be above 0; got {amount}"))
    return problems


def support_mode_problems(category: str, modes: list[str]) -> list[Text]:
    """Support modes the category does not allow, each named with what it does allow."""
    allowed = compatible_modes(category)
    bad = [m for m in dict.fromkeys(modes) if m not in allowed]
    if not bad:
        return []
    cat = LABELS.get(category, Text(category, category))
    ok_zh = "、".join(support_mode_label(m).zh for m in sorted(allowed))
    ok_en = ", ".join(support_mode_label(m).en for m in sorted(allowed))
    return [
        Text(
            f"支持方式“{support_mode_label(m).zh}”不适用于{cat.zh}项目（可用：{ok_zh}）",
            f"support mode '{support_mode_label(m).en}' does not fit a {cat.en} project (allowed: {ok_en})",
        )
        for m in bad
    ]

"""The domain's closed vocabularies, stored by name.

Renaming a member is a data migration: the names are what the database holds.
"""

from __future__ import annotations

from enum import StrEnum

from grantflow.states.text import Text


class Role(StrEnum):
    APPLICANT = "applicant"
    REVIEWER = "reviewer"
    ORGANISING_UNIT = "organising_unit"
    OFFICE = "office"
    LEADERSHIP_GROUP = "leadership_group"
    EVALUATOR = "evaluator"
    PUBLIC = "public"


class SubmissionStatus(StrEnum):
    """A stored form submission: a saved draft (older callers) or submitted for the next step."""

    DRAFT = "draft"
    SUBMITTED = "submitted"


class OrgKind(StrEnum):
    LEADERSHIP_GROUP = "leadership_group"
    OFFICE = "office"
    ORGANISING_UNIT = "organising_unit"
    UNDERTAKING_UNIT = "undertaking_unit"
    EVALUATOR = "evaluator"


class Category(StrEnum):
    """政府直接组织开展 / 政府支持开展 / 政府鼓励开展 (docs/domain.md, rule 4)."""

    ORGANISED = "organised"
    SUPPORTED = "supported"
    ENCOURAGED = "encouraged"


class SelectionMode(StrEnum):
    DIRECTED = "directed"  # 定向委托
    MERIT = "merit"  # 择优委托
    TENDER = "tender"  # 招标


class SupportMode(StrEnum):
    DIRECT_COMMISSION = "direct_commission"
    TENDER = "tender"
    COMPETITIVE = "competitive"
    PROCUREMENT = "procurement"
    DEMONSTRATION = "demonstration"
    COMMON_PLATFORM = "common_platform"
    POST_SUBSIDY = "post_subsidy"
    EQUITY_INVESTMENT = "equity_investment"


class FundingSource(StrEnum):
    """The many sources of a project's money (docs/domain.md, rule 9)."""

    MUNICIPAL_BUDGET = "municipal_budget"
    DISTRICT_BUDGET = "district_budget"
    CENTRAL_SOE = "central_soe"
    MUNICIPAL_SOE = "municipal_soe"
    PRIVATE_CAPITAL = "private_capital"
    OWN_FUNDS = "own_funds"


LABELS: dict[str, Text] = {
    Role.APPLICANT: Text("申报单位", "applicant"),
    Role.REVIEWER: Text("评审专家", "reviewer"),
    Role.ORGANISING_UNIT: Text("组织单位", "organising unit"),
    Role.OFFICE: Text("领导小组办公室", "office"),
    Role.LEADERSHIP_GROUP: Text("领导小组", "leadership group"),
    Role.EVALUATOR: Text("第三方评估机构", "evaluator"),
    Role.PUBLIC: Text("社会公众", "public"),
    OrgKind.UNDERTAKING_UNIT: Text("承担单位", "undertaking unit"),
    Category.ORGANISED: Text("政府直接组织开展", "government-organised"),
    Category.SUPPORTED: Text("政府支持开展", "government-supported"),
    Category.ENCOURAGED: Text("政府鼓励开展", "government-encouraged"),
    SelectionMode.DIRECTED: Text("定向委托", "directed commission"),
    SelectionMode.MERIT: Text("择优委托", "merit-based commission"),
    SelectionMode.TENDER: Text("招标", "public tender"),
    SupportMode.DIRECT_COMMISSION: Text("直接委托", "direct commission"),
    SupportMode.COMPETITIVE: Text("竞争性项目", "competitive project"),
    SupportMode.PROCUREMENT: Text("政府采购新技术新产品", "government procurement"),
    SupportMode.DEMONSTRATION: Text("成果示范推广", "demonstration and promotion"),
    SupportMode.COMMON_PLATFORM: Text("共性平台", "common platform"),
    SupportMode.POST_SUBSIDY: Text("后补助", "post-completion subsidy"),
    SupportMode.EQUITY_INVESTMENT: Text("股权投资", "equity investment"),
    FundingSource.MUNICIPAL_BUDGET: Text("市级财政", "municipal budget"),
    FundingSource.DISTRICT_BUDGET: Text("区级财政", "district budget"),
    FundingSource.CENTRAL_SOE: Text("中央企业", "central state-owned enterprise"),
    FundingSource.MUNICIPAL_SOE: Text("市属国有企业", "municipal state-owned enterprise"),
    FundingSource.PRIVATE_CAPITAL: Text("社会资本", "private capital"),
    FundingSource.OWN_FUNDS: Text("单位自筹", "own funds"),
}
# SupportMode.TENDER and SelectionMode.TENDER share the value "tender"; one label serves both.

# The category decides the support modes a project may use (docs/domain.md, rule 4).
SUPPORT_MODES_BY_CATEGORY: dict[Category, frozenset[SupportMode]] = {
    Category.ORGANISED: frozenset({SupportMode.DIRECT_COMMISSION, SupportMode.TENDER}),
    Category.SUPPORTED: frozenset({SupportMode.COMPETITIVE, SupportMode.PROCUREMENT, SupportMode.DEMONSTRATION}),
    Category.ENCOURAGED: frozenset(
        {
            SupportMode.TENDER,
            SupportMode.COMMON_PLATFORM,
            SupportMode.POST_SUBSIDY,
            SupportMode.EQUITY_INVESTMENT,
        }
    ),
}


def label(value: str, lang: str | None = None) -> str:
    text = LABELS.get(value)
    return text.get(lang) if text else str(value)

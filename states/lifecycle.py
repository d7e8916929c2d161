"""The lifecycles as tables: read these to know what can happen to a project, a call, a programme.

Reading order: states, then transitions (one row each: trigger, source, dest, who, guards),
then the guards and presets they name (``states.guards``, ``states.permissions``).

State names are stored in the database. Renaming one needs a ``renamed`` entry in the
workflow (see ``states.workflow``) so stored rows are mapped, never stranded.
"""

from __future__ import annotations

from typing import Any

from grantflow.states.adjustments import ADJUSTMENT_TRIGGER_LABELS, ADJUSTMENT_WORKFLOW
from grantflow.states.programmes import PROGRAMME_TRIGGER_LABELS, PROGRAMME_WORKFLOW

Row = dict[str, Any]

# --- the project lifecycle ------------------------------------------------------------------

# What each state allows besides its transitions (``states.attributes`` explains each key;
# docs/lifecycle.md says why). A form not listed under ``editable`` is locked in that state.
APPLICANT = ["applicant"]
ADJUSTERS = ["applicant", "organiser", "office"]
APPLYING = {"applying": True, "reminders": ["report", "review", "evaluation", "call_closing"]}
ADJUSTABLE = {"adjustment_request": ADJUSTERS}
# S&T reports are written while the work runs and after it is accepted, each for its own period
REPORTING = {"st_report": APPLICANT}

PROJECT_STATES: list[Row] = [
    {
        "name": "draft",
        "zh": "申报书填写中",
        "en": "proposal being drafted",
        "editable": {"proposal": APPLICANT},
        "bids": True,
        "ranked": False,
        **APPLYING,
    },
    {
        "name": "submitted",
        "zh": "已提交，待形式审查",
        "en": "submitted, awaiting formal check",
        "assign_stages": ["proposal"],  # panels are often formed during the formal check
        "active": True,
    },
    {
        "name": "returned",
        "zh": "退回修改",
        "en": "returned for correction",
        "editable": {"proposal": APPLICANT},
        "bids": True,
        "active": True,
        **APPLYING,
    },
    {
        "name": "under_review",
        "zh": "专家评审中",
        "en": "under expert review",
        "review_stage": "proposal",
        "active": True,
    },
    {"name": "rejected", "zh": "未立项", "en": "rejected", "terminal": True, "decided_stages": ["proposal"]},
    {"name": "withdrawn", "zh": "已撤回", "en": "withdrawn", "terminal": True, "ranked": False},
    {
        "name": "commissioning",
        "zh": "委托立项（签订任务书）",
        "en": "commissioning (task agreement)",
        "editable": {"task_agreement": APPLICANT},
        "decided_stages": ["proposal"],
        "active": True,
    },
    {
        "name": "in_execution",
        "zh": "执行中",
        "en": "in execution",
        "editable": {"midterm_report": APPLICANT, **REPORTING, **ADJUSTABLE},
        "decided_stages": ["proposal", "midterm"],
        "active": True,
    },
    {
        "name": "midterm_review",
        "zh": "中期评估中",
        "en": "mid-term review",
        "editable": {**REPORTING, **ADJUSTABLE},
        "review_stage": "midterm",
        "active": True,
    },
    {
        "name": "midterm_passed",
        "zh": "中期评估通过，继续执行",
        "en": "executing after mid-term review",
        "editable": {"acceptance_report": APPLICANT, **REPORTING, **ADJUSTABLE},
        "decided_stages": ["midterm"],
        "active": True,
    },
    {
        "name": "acceptance_review",
        "zh": "验收中",
        "en": "acceptance review",
        "editable": {**REPORTING, **ADJUSTABLE},
        "review_stage": "acceptance",
        "active": True,
    },
    {
        "name": "rectification",
        "zh": "验收整改中",
        "en": "rectification after acceptance",
        "editable": {"acceptance_report": APPLICANT, **REPORTING, **ADJUSTABLE},
        "decided_stages": ["acceptance"],
        "active": True,
    },
    {
        "name": "post_evaluation",
        "zh": "后评估期",
        "en": "post-evaluation",
        "editable": {"post_evaluation_report": APPLICANT, **REPORTING},
        "decided_stages": ["acceptance"],
    },
    {"name": "closed", "zh": "已结题", "en": "closed", "terminal": True, "decided_stages": ["acceptance"]},
    {
        "name": "suspended",
        "zh": "已暂停（动态调整）",
        "en": "suspended (dynamic adjustment)",
        "editable": ADJUSTABLE,
        "reminders": [],  # paused: nothing falls due while the project is suspended
        "active": True,
    },
    {"name": "terminated", "zh": "已终止（动态调整）", "en": "terminated (dynamic adjustment)", "terminal": True},
]

# Where dynamic adjustment may suspend a project; `resume` returns it to the same state.
SUSPENDABLE = ["in_execution", "midterm_review", "midterm_passed", "acceptance_review", "rectification"]
TERMINABLE = ["commissioning", *SUSPENDABLE, "suspended"]
WITHDRAWABLE = ["draft", "submitted", "returned", "under_review"]

DEFAULT_QUORUM = 3
"""Reviews needed per item when a call sets no quorum of its own (one constant for every reader)."""

REVIEW_STAGES: tuple[str, ...] = ("concept", "proposal", "midterm", "acceptance")
"""The review stages, in the order a project meets them."""

DECIDERS = ["office", "organiser"]
APPLICANT_NOTICE = ["applicant"]

PROJECT_TRANSITIONS: list[Row] = [
    # proposal
    {
        "trigger": "submit",
        "source": "draft",
        "dest": "submitted",
        "who": ["applicant"],
        "guards": ["call_open", "has_proposal", "eligible"],
        "notify": ["organiser", "office"],
    },
    {
        "trigger": "return_for_correction",
        "source": "submitted",
        "dest": "returned",
        "who": DECIDERS,
        "requires": ["reason"],
        "notify": APPLICANT_NOTICE,
    },
    {
        "trigger": "resubmit",
        "source": "returned",
        "dest": "submitted",
        "who": ["applicant"],
        "guards": ["has_proposal", "eligible"],
        "notify": ["organiser", "office"],
    },
    {
        "trigger": "accept_formal",
        "source": "submitted",
        "dest": "under_review",
        "who": DECIDERS,
        "guards": ["bid_opened"],
        "notify": APPLICANT_NOTICE,
    },
    {"trigger": "withdraw", "source": WITHDRAWABLE, "dest": "withdrawn", "who": ["applicant"], "notify": ["organiser"]},
    # gate decision after expert review: never by someone who scored the item
    {
        "trigger": "approve",
        "source": "under_review",
        "dest": "commissioning",
        "who": DECIDERS,
        "guards": ["quorum_reached"],
        "separate_from_scorers": True,
        "notify": APPLICANT_NOTICE,
    },
    {
        "trigger": "reject",
        "source": "under_review",
        "dest": "rejected",
        "who": DECIDERS,
        "guards": ["quorum_reached"],
        "separate_from_scorers": True,
        "requires": ["reason"],
        "notify": APPLICANT_NOTICE,
    },
    # commissioning and execution
    {
        "trigger": "sign_agreement",
        "source": "commissioning",
        "dest": "in_execution",
        "who": DECIDERS,
        "guards": ["has_task_agreement"],
        "effects": ["schedule_stage_reports"],
        "notify": APPLICANT_NOTICE,
    },
    {
        "trigger": "submit_midterm",
        "source": "in_execution",
        "dest": "midterm_review",
        "who": ["applicant"],
        "guards": ["has_midterm_report"],
        "notify": ["organiser", "office"],
    },
    {
        "trigger": "pass_midterm",
        "source": "midterm_review",
        "dest": "midterm_passed",
        "who": [*DECIDERS, "evaluator"],
        "separate_from_scorers": True,
        "notify": APPLICANT_NOTICE,
    },
    {
        "trigger": "return_midterm",
        "source": "midterm_review",
        "dest": "in_execution",
        "who": [*DECIDERS, "evaluator"],
        "requires": ["reason"],
        "notify": APPLICANT_NOTICE,
    },
    # acceptance, with rectification and re-acceptance
    {
        "trigger": "submit_acceptance",
        "source": "midterm_passed",
        "dest": "acceptance_review",
        "who": ["applicant"],
        "guards": ["has_acceptance_report"],
        "notify": ["organiser", "office"],
    },
    {
        "trigger": "pass_acceptance",
        "source": "acceptance_review",
        "dest": "post_evaluation",
        "who": DECIDERS,
        "separate_from_scorers": True,
        "effects": ["record_acceptance", "schedule_post_evaluation"],
        "notify": APPLICANT_NOTICE,
    },
    {
        "trigger": "require_rectification",
        "source": "acceptance_review",
        "dest": "rectification",
        "who": DECIDERS,
        "separate_from_scorers": True,
        "requires": ["reason"],
        "notify": APPLICANT_NOTICE,
    },
    {
        "trigger": "resubmit_acceptance",
        "source": "rectification",
        "dest": "acceptance_review",
        "who": ["applicant"],
        "guards": ["has_acceptance_report"],
        "notify": ["organiser", "office"],
    },
    # post-evaluation: the acceptance year and the three after it
    {
        "trigger": "close",
        "source": "post_evaluation",
        "dest": "closed",
        "who": DECIDERS,
        "guards": ["post_evaluation_complete"],
        "notify": APPLICANT_NOTICE,
    },
    # dynamic adjustment: only an applied adjustment request (states.adjustments) fires these,
    # in the same transaction as the request's own `apply_adjustment`
    {
        "trigger": "suspend",
        "source": SUSPENDABLE,
        "dest": "suspended",
        "who": ["adjustment"],
        "requires": ["reason"],
        "effects": ["remember_source"],
        "notify": ["applicant", "organiser"],
    },
    *[
        {
            "trigger": "resume",
            "source": "suspended",
            "dest": state,
            "who": ["adjustment"],
            "guards": [f"suspended_from_{state}"],
            "effects": ["forget_source"],
            "notify": ["applicant", "organiser"],
        }
        for state in SUSPENDABLE
    ],
    {
        "trigger": "terminate",
        "source": TERMINABLE,
        "dest": "terminated",
        "who": ["adjustment"],
        "requires": ["reason"],
        "effects": ["close_due_items"],
        "notify": ["applicant", "organiser"],
    },
    {
        # the undertaking unit withdraws from a commissioned project (an adjustment, not the
        # applicant's own withdrawal of a proposal before the decision)
        "trigger": "withdraw",
        "source": TERMINABLE,
        "dest": "withdrawn",
        "who": ["adjustment"],
        "requires": ["reason"],
        "effects": ["close_due_items"],
        "notify": ["applicant", "organiser"],
    },
]

TRIGGER_LABELS: dict[str, tuple[str, str]] = {
    "submit": ("提交申报", "submit"),
    "return_for_correction": ("退回修改", "return for correction"),
    "resubmit": ("重新提交", "resubmit"),
    "accept_formal": ("形式审查通过", "pass formal check"),
    "withdraw": ("撤回", "withdraw"),
    "approve": ("批准立项", "approve"),
    "reject": ("不予立项", "reject"),
    "sign_agreement": ("签订任务书", "sign task agreement"),
    "submit_midterm": ("提交中期报告", "submit mid-term report"),
    "pass_midterm": ("中期评估通过", "pass mid-term review"),
    "return_midterm": ("中期报告退回", "return mid-term report"),
    "submit_acceptance": ("申请验收", "apply for acceptance"),
    "pass_acceptance": ("验收通过", "pass acceptance"),
    "require_rectification": ("要求整改", "require rectification"),
    "resubmit_acceptance": ("整改后重新验收", "apply for re-acceptance"),
    "close": ("结题", "close"),
    "suspend": ("暂停", "suspend"),
    "resume": ("恢复", "resume"),
    "terminate": ("终止", "terminate"),
    "submit_concept": ("提交项目概要", "submit concept note"),
    "invite_proposal": ("邀请提交申报书", "invite full proposal"),
    "decline_concept": ("概要未通过", "decline concept note"),
    "publish": ("发布", "publish"),
    "open": ("开始征集", "open"),
    "close_call": ("截止征集", "close call"),
    "cancel": ("取消", "cancel"),
    **PROGRAMME_TRIGGER_LABELS,
    **ADJUSTMENT_TRIGGER_LABELS,
}

PROJECT_WORKFLOW: Row = {
    "name": "standard",
    "subject": "project",
    "zh": "标准项目流程",
    "en": "standard project lifecycle",
    "initial": "draft",
    "states": PROJECT_STATES,
    "transitions": PROJECT_TRANSITIONS,
}

# --- a call for proposals ----------------------------------------------------------------------

CALL_WORKFLOW: Row = {
    "name": "call",
    "subject": "call",
    "zh": "申报指南",
    "en": "call for proposals",
    "initial": "draft",
    "states": [
        {"name": "draft", "zh": "编制中", "en": "being drafted"},
        {"name": "published", "zh": "已发布，待开始", "en": "published, not yet open"},
        {"name": "open", "zh": "征集中", "en": "open", "accepting": True},
        {"name": "closed", "zh": "已截止", "en": "closed", "terminal": True},
        {"name": "cancelled", "zh": "已取消", "en": "cancelled", "terminal": True},
    ],
    "transitions": [
        {"trigger": "publish", "source": "draft", "dest": "published", "who": ["organiser", "office"]},
        {
            "trigger": "open",
            "source": "published",
            "dest": "open",
            "who": ["organiser", "office", "system"],
            "guards": ["call_opening_reached"],
            "notify": ["public"],
        },
        {
            "trigger": "close_call",
            "source": "open",
            "dest": "closed",
            "who": ["office", "system"],
            "guards": ["call_deadline_passed"],
            "notify": ["organiser"],
        },
        {
            "trigger": "cancel",
            "source": ["draft", "published", "open"],
            "dest": "cancelled",
            "who": ["organiser", "office"],
            "requires": ["reason"],
            "notify": ["organiser"],
        },
    ],
}

# A programme's own lifecycle is in ``states.programmes``; a dynamic adjustment's in
# ``states.adjustments``.

BUILTIN_WORKFLOWS: list[Row] = [PROJECT_WORKFLOW, CALL_WORKFLOW, PROGRAMME_WORKFLOW, ADJUSTMENT_WORKFLOW]

"""Form definitions and validation, without a database: every field kind, every message in two languages."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from grantflow.forms import (
    FORMS,
    AttachmentRef,
    Attachments,
    Choice,
    DateField,
    FormDefinition,
    Integer,
    LongText,
    Money,
    MultiChoice,
    Option,
    OrgRef,
    Refs,
    Section,
    ShortText,
    Table,
    parse_post,
    render_fields,
    render_readonly,
    validate,
)
from grantflow.forms.render import export_rows
from grantflow.states.text import Text
from tests.test_forms_store import proposal

ONE = Option("a", Text("甲", "A"))
TWO = Option("b", Text("乙", "B"))

KINDS = FormDefinition(
    key="all_kinds",
    version=1,
    title=Text("全部类型", "All kinds"),
    sections=(
        Section(
            Text("字段", "Fields"),
            (
                ShortText(name="short", label=Text("短文本", "Short"), required=True, max_length=5),
                LongText(name="long", label=Text("长文本", "Long"), max_length=10),
                Integer(name="count", label=Text("数量", "Count"), min_value=1, max_value=10),
                Money(name="amount", label=Text("金额", "Amount")),
                DateField(name="day", label=Text("日期", "Day"), min_value=date(2020, 1, 1)),
                Choice(name="one", label=Text("单选", "One"), choices=(ONE, TWO)),
                MultiChoice(name="many", label=Text("多选", "Many"), choices=(ONE, TWO), max_selected=1),
                OrgRef(name="org", label=Text("单位", "Organisation")),
                Attachments(name="files", label=Text("附件", "Files"), accept=("pdf",), max_files=1),
                Table(
                    name="rows",
                    label=Text("明细", "Lines"),
                    min_rows=2,
                    columns=(
                        ShortText(name="item", label=Text("事项", "Item"), required=True),
                        Money(name="cost", label=Text("费用", "Cost"), required=True),
                    ),
                ),
            ),
        ),
    ),
)
REFS = Refs(
    organisations={7: Text("京华", "Jinghua"), 8: Text("星辰甲", "Star"), 9: Text("星辰乙", "Star")},
    org_names={"京华": (7,), "Jinghua": (7,), "Star": (8, 9)},
    attachments={
        1: AttachmentRef(id=1, filename="a.pdf", size=10, sha256="0" * 64, kind="pdf"),
        2: AttachmentRef(id=2, filename="b.png", size=10, sha256="1" * 64, kind="png"),
    },
)

# (field, value typed, expected code, words expected in the Chinese and the English message)
WRONG: list[tuple[str, Any, str, str, str]] = [
    ("short", "太长的一段文字", "text_too_long", "最多 5 个字符", "at most 5 characters"),
    ("long", "x" * 11, "text_too_long", "当前 11 个", "it has 11"),
    ("count", "十二", "integer_format", "必须是整数", "whole number"),
    ("count", "1.5", "integer_format", "必须是整数", "whole number"),
    ("count", "0", "too_small", "不能小于 1", "at least 1"),
    ("count", "11", "too_large", "不能大于 10", "at most 10"),
    ("amount", "十万元", "money_format", "以元为单位的金额", "amount in yuan"),
    ("amount", "1e5", "money_format", "以元为单位的金额", "amount in yuan"),
    ("amount", "12.345", "money_places", "两位小数", "two decimals"),
    ("amount", "-5", "too_small", "不能小于 0", "at least 0"),
    ("amount", "NaN", "money_format", "以元为单位的金额", "amount in yuan"),
    ("day", "31/12/2026", "date_format", "年-月-日", "year-month-day"),
    ("day", "2026-02-30", "date_invalid", "不是一个存在的日期", "not a real calendar date"),
    ("day", "2019-12-31", "too_small", "不能小于 2020-01-01", "at least 2020-01-01"),
    ("one", "c", "choice_unknown", "给定选项", "one of the options"),
    ("many", ["a", "z"], "choice_unknown", "给定选项", "one of the options"),
    ("many", ["a", "b"], "choices_too_many", "最多选择 1 项", "at most 1 options"),
    ("org", "0", "reference_format", "引用无效", "not a valid reference"),
    ("org", "abc", "organisation_not_found", "没有名为“abc”的登记单位", "names no registered organisation ('abc')"),
    ("org", "Star", "organisation_ambiguous", "多个单位的英文名称为“Star”", "English name of several organisations"),
    ("org", "99", "organisation_unknown", "单位不存在", "does not exist"),
    ("files", ["5"], "attachment_unknown", "#5 不存在", "#5 does not exist"),
    ("files", ["2"], "attachment_kind", "只接受 PDF", "takes PDF only"),
    ("files", ["1", "1", "2"], "files_too_many", "最多上传 1 个文件", "at most 1 files"),
]


def _valid() -> dict[str, Any]:
    return {
        "short": "ok",
        "rows": [{"item": "甲", "cost": "1"}, {"item": "乙", "cost": "2"}],
    }


def test_the_valid_base_is_valid() -> None:
    result = validate(KINDS, _valid(), refs=REFS)
    assert result.ok, result.errors


@pytest.mark.parametrize(("name", "value", "code", "zh", "en"), WRONG, ids=[f"{w[0]}-{w[2]}" for w in WRONG])
def test_every_field_kind_refuses_wrong_values_in_both_languages(
    name: str, value: Any, code: str, zh: str, en: str
) -> None:
    raw = {**_valid(), name: value}
    result = validate(KINDS, raw, refs=REFS)
    mine = [e for e in result.errors if e.key == name]
    assert [e.code for e in mine] == [code], result.errors
    label = KINDS.field(name).label
    assert zh in mine[0].message.zh and label.zh in mine[0].message.zh
    assert en in mine[0].message.en and label.en in mine[0].message.en
    assert raw[name] == value  # validation never rewrites what was typed


def test_every_error_comes_back_at_once_keyed_by_field_and_row() -> None:
    raw = {
        "short": "",
        "count": "x",
        "amount": "y",
        "rows": [{"item": "", "cost": "abc"}, {"item": "b", "cost": "1"}, {"item": "", "cost": ""}],
    }
    result = validate(KINDS, raw, refs=REFS)
    assert {e.key: e.code for e in result.errors} == {
        "short": "required",
        "count": "integer_format",
        "amount": "money_format",
        "rows[0].item": "required",
        "rows[0].cost": "money_format",
    }
    row_error = next(e for e in result.errors if e.key == "rows[0].cost")
    assert "“明细”第 1 行“费用”" in row_error.message.zh
    assert "Lines, row 1, 'Cost'" in row_error.message.en


def test_missing_required_rows_are_reported_with_the_count() -> None:
    result = validate(KINDS, {"short": "ok", "rows": [{"item": "只有一行", "cost": "1"}]}, refs=REFS)
    [err] = result.errors
    assert err.key == "rows" and err.code == "rows_too_few"
    assert "至少需要 2 行（当前 1 行）" in err.message.zh
    assert "needs at least 2 rows (it has 1)" in err.message.en


def test_a_draft_reports_wrong_values_but_not_missing_ones() -> None:
    result = validate(KINDS, {"count": "x"}, refs=REFS, submit=False)
    assert [(e.key, e.code) for e in result.errors] == [("count", "integer_format")]


def test_money_is_exact_and_accepts_how_people_write_it() -> None:
    raw = {**_valid(), "amount": "¥１,２３4.5元", "count": "１０", "day": "2026年3月1日"}
    result = validate(KINDS, raw, refs=REFS)
    assert result.ok, result.errors
    assert result.values["amount"] == Decimal("1234.5")
    stored = result.as_json()
    assert stored["amount"] == "1234.50" and stored["count"] == 10 and stored["day"] == "2026-03-01"
    assert stored["rows"] == [{"item": "甲", "cost": "1.00"}, {"item": "乙", "cost": "2.00"}]


def test_task_agreement_needs_standard_ip_and_talent_targets_and_a_budget() -> None:
    form = FORMS.get("task_agreement")
    raw = {
        "start_date": "2026-01-01",
        "end_date": "2027-12-31",
        "targets": [{"kind": "technical", "description": "精度", "measure": "1 弧分"}],
        "milestones": [{"title": "样机", "due": "2029-01-01"}],
    }
    result = validate(form, raw, refs=Refs())
    codes = {(e.key, e.code) for e in result.errors}
    assert ("targets", "needs_standard") in codes
    assert ("targets", "needs_ip") in codes
    assert ("targets", "needs_talent") in codes
    assert ("budget", "rows_too_few") in codes
    assert ("milestones[0].due", "date_outside_period") in codes
    assert ("signed_copy", "required") in codes
    standard = next(e for e in result.errors if e.code == "needs_standard")
    assert "技术标准" in standard.message.zh and "technical standard" in standard.message.en


def test_proposal_totals_must_add_up() -> None:
    raw = proposal(partner_org=7)
    raw["total_budget"] = "2999999.99"
    result = validate(FORMS.get("proposal"), raw, refs=REFS)
    [err] = result.errors
    assert err.key == "total_budget" and err.code == "total_mismatch"
    assert "3,000,000.00" in err.message.zh and "CNY 3,000,000.00" in err.message.en


def test_html_inputs_show_exactly_what_was_typed_with_errors_beside() -> None:
    raw = {"short": "<b>x</b>", "count": "十二", "day": "2026/13/45", "rows": [{"item": "", "cost": "abc"}]}
    result = validate(KINDS, raw, refs=REFS)
    html = str(render_fields(KINDS, raw, lang="en", errors=result.errors, refs=REFS))
    assert 'value="十二"' in html and 'value="2026/13/45"' in html and 'value="abc"' in html
    assert "&lt;b&gt;x&lt;/b&gt;" in html and "<b>x</b>" not in html
    assert 'type="text" id="in-day"' in html  # a date picker would have hidden the typed value
    assert "&#39;Count&#39; must be a whole number" in html  # escaped quotes
    assert 'href="#f-rows-0-cost"' in html and 'id="f-rows-0-cost"' in html
    zh = str(render_fields(KINDS, raw, lang="zh", errors=result.errors, refs=REFS))
    assert "“数量”：必须是整数" in zh


def test_posted_pairs_come_back_as_the_values_that_were_drawn() -> None:
    raw = {**_valid(), "many": ["a"], "count": "3", "files": ["1"]}
    html = str(render_fields(KINDS, raw, lang="zh", refs=REFS))
    assert 'name="rows.1.cost"' in html and 'name="files__upload"' in html
    posted = [
        ("short", "ok"),
        ("count", "3"),
        ("many", "a"),
        ("files", "1"),
        ("rows.0.item", "甲"),
        ("rows.0.cost", "1"),
        ("rows.1.item", "乙"),
        ("rows.1.cost", "2"),
        ("rows.2.item", ""),
        ("rows.2.cost", ""),
        ("rows.x.evil", "ignored"),
    ]
    back = parse_post(KINDS, posted)
    assert back["many"] == ["a"] and back["files"] == ["1"] and back["count"] == "3"
    assert validate(KINDS, back, refs=REFS).ok


def test_readonly_view_uses_labels_and_lists_unknown_data() -> None:
    data = validate(KINDS, {**_valid(), "one": "b", "org": "7", "amount": "1234.5"}, refs=REFS).as_json()
    data["legacy"] = "old value"
    html = str(render_readonly(KINDS, data, lang="zh", refs=REFS))
    assert "乙" in html and "京华" in html and "1,234.50 元" in html and "old value" in html
    en = dict(export_rows(KINDS, data, lang="en", refs=REFS))
    assert en["Amount"] == "CNY 1,234.50" and en["Lines 2 · Cost"] == "CNY 2.00"


# Published versions are frozen: change a form by registering a new version, never by editing one.
PUBLISHED = {
    ("acceptance_report", 1): "4a2e4438017f1749",
    ("adjustment_request", 1): "f8ff49eae0701026",
    ("adjustment_request", 2): "6c7e7d5d99a97b44",
    ("concept_note", 1): "fb3783a244ba393e",
    ("midterm_report", 1): "f0d25640e75bb318",
    ("needs_questionnaire", 1): "feec749ec0165a5b",
    ("post_evaluation_report", 1): "e3f44406db060f01",
    ("proposal", 1): "65ebc4bdca9c22c0",
    ("st_report", 1): "bd056d8857a31a24",
    ("task_agreement", 1): "17e24b9d66548495",
}


def test_published_versions_are_never_edited_in_place() -> None:
    current = {(d.key, d.version): d.fingerprint() for d in FORMS}
    for key, fingerprint in PUBLISHED.items():
        assert current[key] == fingerprint, f"{key} was edited in place: register a new version instead"
    stages = {"proposal", "task_agreement", "midterm_report", "acceptance_report", "post_evaluation_report"}
    assert stages | {"adjustment_request", "needs_questionnaire", "concept_note"} <= set(FORMS.keys())


def test_every_label_and_message_is_bilingual() -> None:
    for form in FORMS:
        assert form.title.zh and form.title.en
        for f in form.fields:
            assert f.label.zh and f.label.en and f.label.zh != f.label.en, (form.key, f.name)
            for c in getattr(f, "columns", ()):
                assert c.label.zh and c.label.en, (form.key, f.name, c.name)


def test_an_organisation_is_typed_by_its_name_and_stored_by_its_id() -> None:
    for typed in ("京华", " Jinghua ", "7"):  # its Chinese or English name, or its id (the API's)
        result = validate(KINDS, {**_valid(), "org": typed}, refs=REFS)
        assert result.ok, result.errors
        assert result.as_json()["org"] == 7
    # the page shows a stored id as the unit's name in the reader's language, and what was typed as typed
    zh = str(render_fields(KINDS, {**_valid(), "org": 7}, lang="zh", refs=REFS))
    assert 'value="京华"' in zh and 'list="org-names"' in zh and '<datalist id="org-names">' in zh
    assert 'value="Jinghua"' in str(render_fields(KINDS, {**_valid(), "org": "7"}, lang="en", refs=REFS))
    assert 'value="京华大学"' in str(render_fields(KINDS, {**_valid(), "org": "京华大学"}, lang="zh", refs=REFS))
    # never a list of every unit: the page's size does not grow with the organisations registered
    assert "<option" not in zh.split('<datalist id="org-names">')[1]

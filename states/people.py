"""Who the office registers: organisations and people, checked before anything is stored.

Pure: each check returns the problems by field, in both languages, so a page can show each
beside its field and keep what was typed. Who may register is ``states.permissions``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from grantflow.states.enums import OrgKind, Role
from grantflow.states.text import Text

EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
DOMAIN = re.compile(r"^(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,}$")
LANGUAGES = ("zh", "en")
# roles the office hands out on the page; ``public`` is everyone signed out, never a grant
GRANTABLE_ROLES: tuple[Role, ...] = tuple(r for r in Role if r is not Role.PUBLIC)

Problems = dict[str, list[Text]]


def _add(problems: Problems, field: str, text: Text) -> None:
    problems.setdefault(field, []).append(text)


def organisation_problems(*, name: str, kind: str, domains: Iterable[str], name_taken: bool) -> Problems:
    problems: Problems = {}
    if not name:
        _add(problems, "name", Text("请填写单位名称", "give the organisation's name"))
    elif len(name) > 200:
        _add(problems, "name", Text("单位名称最多 200 个字符", "the name may have at most 200 characters"))
    elif name_taken:
        _add(problems, "name", Text(f"单位“{name}”已登记", f"an organisation named '{name}' is registered already"))
    if kind not in {k.value for k in OrgKind}:
        known = "、".join(k.value for k in OrgKind)
        _add(problems, "kind", Text(f"请选择单位类别（{known}）", f"choose the kind of organisation ({known})"))
    for d in domains:
        if not DOMAIN.match(d):
            _add(problems, "domains", Text(f"邮箱域名“{d}”格式不正确", f"'{d}' is not an e-mail domain"))
    return problems


def user_problems(
    *,
    email: str,
    name: str,
    organisation_known: bool,
    roles: Iterable[str],
    language: str,
    email_taken: bool,
) -> Problems:
    problems: Problems = {}
    if not EMAIL.match(email):
        _add(problems, "email", Text("请填写有效的电子邮箱", "give a valid e-mail address"))
    elif email_taken:
        _add(problems, "email", Text(f"邮箱 {email} 已有账号", f"{email} already has an account"))
    if not name:
        _add(problems, "name", Text("请填写姓名", "give the person's name"))
    elif len(name) > 100:
        _add(problems, "name", Text("姓名最多 100 个字符", "the name may have at most 100 characters"))
    if not organisation_known:
        _add(problems, "organisation_id", Text("请选择所属单位", "choose the person's organisation"))
    chosen = list(roles)
    grantable = {r.value for r in GRANTABLE_ROLES}
    if not chosen:
        _add(problems, "roles", Text("请至少选择一个角色", "choose at least one role"))
    for r in chosen:
        if r not in grantable:
            _add(problems, "roles", Text(f"未知角色“{r}”", f"unknown role '{r}'"))
    if language not in LANGUAGES:
        _add(problems, "language", Text("语言只能是中文或英文", "the language is Chinese or English"))
    return problems

"""The office's directory on the page: organisations and people listed page by page with
filters, registered with every problem beside its field (what was typed kept), accounts
switched off (their sign-ins end) and on again; nobody else may do any of it."""

from __future__ import annotations

from datetime import datetime

import pytest
from sqlalchemy import Engine, func, select

from grantflow.db.models import AuditEvent, Organisation, User
from grantflow.services import people as service
from grantflow.services.seed import DEMO_PASSWORD
from grantflow.states.errors import Forbidden
from grantflow.web.app import create_app
from tests.conftest import People
from tests.web import WebClient


def _client(email: str, lang: str = "zh") -> WebClient:
    client = WebClient(create_app())
    r = client.post("/login", data={"email": email, "password": DEMO_PASSWORD}, follow_redirects=False)
    assert r.status_code == 303
    if lang == "en":
        client.get("/lang/en?next=/")
    return client


def _org_id(engine: Engine, name: str) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(Organisation.id).where(Organisation.name == name)).scalar_one())


def test_the_office_registers_an_organisation_and_a_person_who_then_signs_in(engine: Engine) -> None:
    office = _client(People.SHORT["office"])
    bad = office.post("/orgs", data={"name": "", "kind": "nonsense", "region": "北京市", "domains": "not a domain"})
    assert bad.status_code == 422
    assert "请填写单位名称" in bad.text and "请选择单位类别" in bad.text and "格式不正确" in bad.text
    assert 'value="北京市"' in bad.text  # what was typed is kept
    r = office.post(
        "/orgs",
        data={
            "name": "京西光电研究院",
            "name_en": "Jingxi Photonics",
            "kind": "undertaking_unit",
            "domains": "jxgd.cn",
        },
        follow_redirects=False,
    )
    assert r.status_code == 303
    assert "京西光电研究院" in office.get("/orgs?q=光电").text
    again = office.post("/orgs", data={"name": "京西光电研究院", "kind": "undertaking_unit"})
    assert again.status_code == 422 and "已登记" in again.text
    org = _org_id(engine, "京西光电研究院")

    refused = office.post(
        "/office/people",
        data={"name": "马工", "email": "ma@jx", "organisation_id": str(org), "password": "short"},
    )
    assert refused.status_code == 422
    for problem in ("请填写有效的电子邮箱", "请至少选择一个角色", "至少需要 12 个字符"):
        assert problem in refused.text
    assert 'value="马工"' in refused.text and "short" not in refused.text  # never the password
    done = office.post(
        "/office/people",
        data={
            "name": "马工",
            "email": "Ma@JX.cn",
            "organisation_id": str(org),
            "roles": ["applicant"],
            "language": "zh",
            "password": "a-first-password-1",
        },
        follow_redirects=False,
    )
    assert done.status_code == 303
    listed = office.get(f"/office/people?org={org}").text
    assert "ma@jx.cn" in listed and "申报单位" in listed
    newcomer = _client_with("ma@jx.cn", "a-first-password-1")
    assert newcomer.get("/").status_code == 200
    with engine.connect() as conn:
        actions = set(conn.execute(select(AuditEvent.action).where(AuditEvent.action == "registered")).scalars())
    assert actions == {"registered"}


def _client_with(email: str, password: str) -> WebClient:
    client = WebClient(create_app())
    r = client.post("/login", data={"email": email, "password": password}, follow_redirects=False)
    assert r.status_code == 303, r.text
    return client


def test_switching_an_account_off_ends_its_sign_ins_and_on_again_lets_it_back(engine: Engine) -> None:
    applicant = _client(People.SHORT["applicant"])
    assert applicant.get("/").status_code == 200
    office = _client(People.SHORT["office"])
    with engine.connect() as conn:
        uid = conn.execute(select(User.id).where(User.email == People.SHORT["applicant"])).scalar_one()
    r = office.post(f"/office/people/{uid}/active", data={"enable": "0"}, follow_redirects=False)
    assert r.status_code == 303
    assert applicant.get("/", follow_redirects=False).headers["location"].startswith("/login")
    refused = WebClient(create_app()).post(
        "/login", data={"email": People.SHORT["applicant"], "password": DEMO_PASSWORD}, follow_redirects=False
    )
    assert refused.status_code != 303
    office.post(f"/office/people/{uid}/active", data={"enable": "1"})
    _client(People.SHORT["applicant"])
    with engine.connect() as conn:
        actions = list(conn.execute(select(AuditEvent.action).where(AuditEvent.subject == "user")).scalars())
    assert actions[-2:] == ["deactivated", "reactivated"]


def test_the_office_cannot_switch_itself_off(engine: Engine, people: People, now: datetime) -> None:
    office = _client(People.SHORT["office"])
    me = people["office"].user_id
    r = office.post(f"/office/people/{me}/active", data={"enable": "0"})
    assert r.status_code == 422 and "不能停用自己的账号" in r.text


@pytest.mark.parametrize("who", ["applicant", "organiser", "leader", "expert1", "evaluator"])
def test_only_the_office_manages_the_directory(engine: Engine, people: People, now: datetime, who: str) -> None:
    client = _client(People.SHORT[who])
    assert client.get("/office/people").status_code == 403
    before = _count(engine)
    r = client.post("/orgs", data={"name": "冒名单位", "kind": "undertaking_unit"})
    assert r.status_code == 422 or r.status_code == 403
    assert "登记新单位" not in client.get("/orgs").text
    assert _count(engine) == before
    with engine.begin() as conn, pytest.raises(Forbidden):
        service.add_user(
            conn,
            email="x@example.cn",
            name="x",
            organisation_id=1,
            roles=["office"],
            password="a-long-password-1",
            actor=people[who],
            now=now,
        )


def _count(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(Organisation)).scalar_one())


def test_lists_are_paged_and_filtered_in_english(engine: Engine, people: People, now: datetime) -> None:
    with engine.begin() as conn:
        for n in range(30):
            service.add_organisation(
                conn, name=f"测试单位{n:02d}", kind="undertaking_unit", actor=people["office"], now=now
            )
    office = _client(People.SHORT["office"], lang="en")
    first = office.get("/orgs?q=测试单位&sort=name").text
    assert "Page 1 of 2, 30 in all" in first and "测试单位00" in first and "测试单位29" not in first
    assert "/orgs?q=%E6%B5%8B%E8%AF%95%E5%8D%95%E4%BD%8D&amp;sort=name&amp;page=2" in first
    second = office.get("/orgs?q=测试单位&sort=name&page=2").text
    assert "测试单位29" in second and "测试单位00" not in second
    beyond = office.get("/orgs?q=测试单位&page=999").text  # past the end: the last page
    assert "Page 2 of 2" in beyond
    staff = office.get("/office/people?role=reviewer").text
    assert "expert1@yanyuan.example.edu" in staff and "pi@jinghua.example.com" not in staff
    assert "Register a person" in staff


def test_my_projects_are_paged_and_found_by_title_or_code(engine: Engine, people: People, now: datetime) -> None:
    from tests.factories import make_project

    ids = [make_project(engine, people, now, title=f"翻页项目{n:02d}") for n in range(30)]
    applicant = _client(People.SHORT["applicant"], lang="en")

    def listed(url: str) -> str:  # the projects section only (the to-do list names drafts too)
        return applicant.get(url).text.split('id="projects"', 1)[1]

    first = listed("/")
    assert "Page 1 of 2, 30 in all" in first and "翻页项目29" in first and "翻页项目00" not in first
    assert "翻页项目00" in listed("/?page=2")
    found = listed("/?q=项目07")
    assert "翻页项目07" in found and "翻页项目08" not in found and "1 in all" in found
    with engine.connect() as conn:
        from grantflow.db.models import Project

        code = conn.execute(select(Project.code).where(Project.id == ids[3])).scalar_one()
    assert "翻页项目03" in listed(f"/?q={code}")
    # another unit's applicant finds none of them, whatever is asked
    other = _client(People.SHORT["applicant3"]).get("/?q=翻页").text
    assert "翻页项目" not in other.split('id="projects"', 1)[1]

"""The content guard: ordinary official prose passes clean, tampered text fails naming each passage.

The tampered examples are our own, several per kind, in Chinese and English: each is a
sentence of ordinary official prose (or a line of a page) with spam injected or a word
swapped, and each must be reported with the passage that holds it.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from grantflow.cli.main import app
from grantflow.reports.guard import DEFAULT_RULES, GuardReport, RulesError, load_rules, scan, scan_file

ROOT = Path(__file__).resolve().parent.parent
runner = CliRunner()

# (tampered text, the passage the report must name, the rule family expected)
TAMPERED: list[tuple[str, str, str]] = [
    # gambling terms swapped into official sentences
    ("重大专项实行动态调整原则，各组织单位要加强澳门赌场，推动成果转化。", "澳门赌场", "lexicon.gambling"),
    ("组织单位发布申报指南，明确真人荷官在线发牌的准入条件。", "真人荷官", "lexicon.gambling"),
    ("项目承担单位应当按时报送六合彩特码和经费使用情况。", "六合彩", "lexicon.gambling"),
    ("The office publishes the establishment results of every casino on time.", "casino", "lexicon.gambling"),
    (
        "Organising units open calls with sports betting conditions set in advance.",
        "sports betting",
        "lexicon.gambling",
    ),
    # adult and fake pharmacy
    ("项目组按时报送执行情况和美女直播一对一裸聊。", "裸聊", "lexicon.adult"),
    ("Undertaking units file their reports and free porn videos every year.", "porn", "lexicon.adult"),
    ("本项目研制的伟哥正品网购平台已完成中试。", "伟哥", "lexicon.pharma"),
    ("Buy cheap viagra online without prescription at the programme office.", "viagra", "lexicon.pharma"),
    # illegal services and solicitation
    ("办证刻章，代开发票，联系微信 abc123456。", "代开发票", "lexicon.fraud"),
    ("咨询请加QQ：12345678，秒批贷款当天放款。", "QQ：12345678", "lexicon.contact"),
    # black-hat SEO
    ("本站提供蜘蛛池出租和百度快速排名服务。", "蜘蛛池", "lexicon.seo"),
    ("We sell cheap backlinks to rank your site on the first page.", "cheap backlinks", "lexicon.seo"),
    # links
    ("详情请访问 www.amjs8888.com 了解项目进展。", "www.amjs8888.com", "link."),
    ("See http://grant-results.xyz/list for the list of approved projects.", "http://grant-results.xyz/list", "link."),
    ("立项结果见 https://8888.com/news 。", "https://8888.com/news", "link."),
    ("项目成果展示：http://bet365-vip.top/register", "bet365-vip.top", "link."),
    # keyword stuffing
    ("赌场赌场赌场赌场赌场", "赌场赌场赌场", "stuffing.repeat"),
    ("澳门新葡京_澳门新葡京官网_澳门新葡京娱乐", "澳门新葡京", "stuffing.density"),
    (
        "今日推荐：明星八卦 娱乐新闻 免费电影 在线观看 美女图片 网络游戏 恋爱技巧 星座运势",
        "明星八卦",
        "stuffing.keyword_list",
    ),
    ("百家乐|六合彩|时时彩|北京赛车|幸运飞艇|开元棋牌|德州扑克", "百家乐", "stuffing.keyword_list"),
    # words swapped for unrelated ones (found by the language model, not a lexicon)
    ("领导小组办公室按时向社会公布重大专项的立项结果、进展成效、动态调整和香蕉牛奶等信息。", "香蕉牛奶", "model.swap"),
    ("各区要进一步加强明星八卦，推动科技创新和产业发展。", "八卦", "model.swap"),
    ("组织单位负责制定配套政策措施，推进口红香水和成果转化。", "口红香水", "model.swap"),
    (
        "The office publishes, on time, every project's establishment results, progress and celebrity gossip.",
        "celebrity gossip",
        "model.swap",
    ),
    (
        "Undertaking units carry out the projects, report progress at the agreed times and play poker online.",
        "play poker online",
        "model.swap",
    ),
]

# Legitimate official sentences that use words close to the lexicons.
CLEAN: list[str] = [
    "本项目获得体育彩票公益金资助，研究成果已在全市推广。",
    "与澳门大学合作建立联合实验室，培养博士研究生三名。",
    "澳门特别行政区有关机构参与中医药国际化研究。",
    "研制彩色显示面板，色彩还原度达到国际先进水平。",
    "详见市科委网站 http://kw.beijing.gov.cn/art/2014/5/6/art_1.html 和 https://www.most.gov.cn 。",
    "项目负责人联系邮箱 zhang@bjtu.edu.cn，联系电话 010-12345678。",
    "依法严厉打击网络赌博、色情等违法犯罪活动，净化网络环境。",
    "本项目开发的游戏化科普课程在中小学推广，累计覆盖学生两万人次。",
    "落实税收优惠政策，申报人在线注册账号、在线填报，表格可在网站免费下载。",
    "The lottery fund supported three community sports projects in 2016.",
    "Each reviewer books a time slot for the panel; the best proposals receive a performance bonus.",
    "The undertaking unit's website www.example-tech.com lists the published patents.",
    "Reviewers may not bet on the outcome: conflicts of interest are declared before scoring.",
    "Applications are free of charge and no proposal is accepted after the deadline.",
]


def _rules_of(report: GuardReport) -> list[str]:
    return [f.rule for f in report.findings]


@pytest.mark.parametrize(("text", "passage", "rule"), TAMPERED, ids=[t[1] for t in TAMPERED])
def test_each_tampered_example_fails_naming_its_passage(text: str, passage: str, rule: str):
    report = scan(text)
    assert not report.ok
    named = [f for f in report.findings if passage in f.passage or f.match in passage or passage in f.match]
    assert named, [(f.rule, f.match, f.passage) for f in report.findings]
    assert any(f.rule.startswith(rule) for f in named), [(f.rule, f.match) for f in report.findings]
    for finding in report.findings:
        assert finding.line == 1 and finding.reason.zh and finding.reason.en
        assert text[finding.start : finding.end].split() == finding.match.split()


@pytest.mark.parametrize("text", CLEAN)
def test_legitimate_official_terms_pass(text: str):
    report = scan(text)
    assert report.ok, [(f.rule, f.match, f.reason.en) for f in report.findings]


def test_tampering_inside_an_official_document_names_line_and_passage():
    reference = (ROOT / "docs" / "domain.md").read_text(encoding="utf-8")
    lines = reference.splitlines()
    at = next(i for i, line in enumerate(lines) if "Independent evaluation" in line)
    lines[at] = lines[at].replace("evaluation", "casino evaluation", 1)
    lines.insert(at + 3, "澳门赌场官网 www.amjs8888.com 注册即送彩金")
    report = scan("\n".join(lines), source="domain.md")
    assert not report.ok
    where = {(f.line, f.match) for f in report.findings}
    assert (at + 1, "casino") in where
    assert (at + 4, "www.amjs8888.com") in where
    assert any(f.line == at + 4 and "澳门赌场" in f.match for f in report.findings)
    assert all(f.location.startswith("domain.md:") for f in report.findings)


def test_typographic_disguises_are_seen_through():
    for text in (
        "各单位要加强澳 门.赌 场，推动转化。",
        "Visit our ＣＡＳＩＮＯ today.",
        "加强澳\u200b门赌\u200b场建设。",
    ):
        report = scan(text)
        assert not report.ok, text
        finding = report.findings[0]
        assert text[finding.start : finding.end] == finding.match or finding.match in text


def test_weak_terms_count_only_together():
    assert scan("本项目与澳门高校开展联合研究。").ok  # one weak word is ordinary
    assert scan("详见本项目官网的成果介绍。").ok
    assert not scan("彩票 开奖 投注 赔率，天天有惊喜。").ok


def test_a_list_of_partner_links_is_not_spam():
    text = "合作单位网站：https://www.a-tech.com.cn、https://www.b-bio.com、https://www.c-rail.com、https://www.d-energy.com"
    assert scan(text).ok


def test_html_hidden_spam_and_markdown_links_are_scanned(tmp_path: Path):
    page = tmp_path / "index.html"
    page.write_text(
        "<html><head><title>立项结果公示</title>\n"
        '<meta name="keywords" content="百家乐,六合彩,时时彩">\n'
        "<style>.x{display:none}</style></head>\n<body>\n<p>现将立项结果予以公示。</p>\n"
        '<div style="display:none"><a href="http://www.amjs8888.com">点此进入</a></div>\n'
        "</body></html>\n",
        encoding="utf-8",
    )
    report = scan_file(page)
    found = {(f.line, f.rule.split(".")[0]) for f in report.findings}
    assert (2, "lexicon") in found and (6, "link") in found
    assert not any(f.line == 5 for f in report.findings)

    note = tmp_path / "note.md"
    note.write_text("# 进展\n\n项目进展顺利，详见[成果](http://results.vip/a)。\n", encoding="utf-8")
    report = scan_file(note)
    assert [(f.line, f.rule) for f in report.findings] == [(3, "link.suspicious_tld")]


def test_the_repository_docs_and_readme_pass_clean():
    files = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    assert len(files) >= 3
    for path in files:
        report = scan_file(path)
        assert report.ok, (path, [(f.location, f.rule, f.match) for f in report.findings])


def test_the_rules_file_loads_and_each_lexicon_has_both_labels():
    rules = load_rules()
    assert rules.version == 1
    assert {"gambling", "adult", "pharma", "fraud", "seo", "contact"} <= set(rules.lexicon)
    for category in rules.lexicon.values():
        assert category.label.zh and category.label.en and (category.terms or category.patterns)


def _rules_with(tmp_path: Path, old: str, new: str) -> Path:
    text = DEFAULT_RULES.read_text(encoding="utf-8")
    assert old in text
    path = tmp_path / "rules.toml"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    (tmp_path / "corpus").symlink_to(DEFAULT_RULES.parent / "corpus")
    return path


@pytest.mark.parametrize(
    ("old", "new", "problem"),
    [
        ("version = 1", "version = 1\nthreshold = 2", "unknown key threshold"),
        ("[lexicon.gambling]\n", "[lexicon.gambling]\nwieght = 2\n", "unknown key lexicon.gambling.wieght"),
        ("min_repeats = 3", "min_repeat = 3", "unknown key stuffing.min_repeat"),
        ("passage = 1.0", "passage = -1.0", "thresholds.passage"),
        ("'(?:pk|PK)\\s?10'", "'(?:pk'", "invalid pattern"),
        ('domain = ["corpus/domain_zh.txt"', 'domain = ["corpus/missing.txt"', "missing.txt"),
    ],
)
def test_wrong_rules_are_errors_naming_the_key(tmp_path: Path, old: str, new: str, problem: str):
    path = _rules_with(tmp_path, old, new)
    with pytest.raises(RulesError) as caught:
        load_rules(path)
    assert problem in caught.value.text("en")
    assert caught.value.text("zh") != caught.value.text("en")


def test_rules_are_data_a_new_term_blocks(tmp_path: Path):
    path = _rules_with(tmp_path, '"博彩", "赌场",', '"博彩", "赌场", "量子占卜",')
    rules = load_rules(path)
    assert scan("本项目开展量子占卜研究。").ok
    report = scan("本项目开展量子占卜研究。", rules=rules)
    assert [f.match for f in report.findings] == ["量子占卜"]


# ---- the command -----------------------------------------------------------------------------


def test_cli_clean_files_exit_zero_with_a_short_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("GRANTFLOW_LANGUAGE", "en")
    result = runner.invoke(app, ["guard", str(ROOT / "docs"), str(ROOT / "README.md"), "--lang", "en"])
    assert result.exit_code == 0, result.output
    assert result.output.strip().startswith("clean:")
    zh = runner.invoke(app, ["guard", str(ROOT / "README.md"), "--lang", "zh"])
    assert zh.exit_code == 0 and "未发现可疑内容" in zh.output


def test_cli_tampered_file_exits_non_zero_naming_file_line_and_passage(tmp_path: Path):
    page = tmp_path / "disclosure.txt"
    page.write_text(
        "立项结果公示\n现将立项结果予以公示。\n各组织单位要加强澳门赌场，推动成果转化。\n详见 http://bet365-vip.top/a\n",
        encoding="utf-8",
    )
    result = runner.invoke(app, ["guard", str(page), "--lang", "en"])
    assert result.exit_code == 1, result.output
    assert f"{page}:3" in result.output and "加强澳门赌场" in result.output
    assert f"{page}:4" in result.output and "bet365-vip.top" in result.output
    assert "gambling term" in result.output and "guard failed" in result.output
    zh = runner.invoke(app, ["guard", str(page), "--lang", "zh"])
    assert zh.exit_code == 1 and "赌博、博彩用语" in zh.output and "内容检查未通过" in zh.output


def test_cli_json_and_errors(tmp_path: Path):
    bad = tmp_path / "bad.txt"
    bad.write_text("百家乐 六合彩\n", encoding="utf-8")
    result = runner.invoke(app, ["guard", str(bad), "--json"])
    assert result.exit_code == 1
    data = json.loads(result.output)
    assert data[0]["ok"] is False and data[0]["findings"][0]["line"] == 1

    binary = tmp_path / "latin1.txt"
    binary.write_bytes("caf\xe9".encode("latin-1"))
    assert runner.invoke(app, ["guard", str(binary)]).exit_code == 2
    assert runner.invoke(app, ["guard", str(tmp_path / "missing.txt")]).exit_code == 2

    rules = _rules_with(tmp_path, "version = 1", "version = 1\nbogus = true")
    result = runner.invoke(app, ["guard", str(bad), "--rules", str(rules), "--lang", "en"])
    assert result.exit_code == 2 and "unknown key bogus" in result.output

"""`grantflow doctor`: is this installation able to do its work? Each check says what it found
and, when something is wrong, how to put it right.

The checks look at what really happens, not at settings alone: the database is opened and its
Alembic revision compared with the code's; Chinese is really laid out by WeasyPrint and read
back from the PDF (a missing CJK font gives no error at all, only unreadable documents); the
SMTP server is connected to and greeted; the Prefect server is asked for its health and for
grantflow's deployments; the audit chain is verified against its key and anchors.

A check is ``ok``, ``warn`` (works, but look: e.g. e-mail not configured) or ``fail``.
"""

from __future__ import annotations

import base64
import io
import json
import os
import shutil
import smtplib
import ssl
import stat
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from grantflow.config import ConfigurationError, Settings, get_settings, production_problems
from grantflow.states.errors import GrantflowError
from grantflow.states.text import Text

NETWORK_TIMEOUT_S = 5.0
"""An answer slower than this is a problem worth naming, and doctor must not hang on it."""
MIN_FREE_BYTES = 1 << 30
SAMPLE = "重大专项验收报告"
"""Chinese laid out in a test PDF and looked for again in its text."""
CJK_FAMILIES = '"Noto Serif CJK SC", "Noto Sans CJK SC", "WenQuanYi Micro Hei", serif'
"""As reports/static/print.css asks for them."""


class Status(StrEnum):
    OK = "ok"
    WARN = "warn"
    FAIL = "fail"


@dataclass(frozen=True)
class Finding:
    check: Text
    status: Status
    detail: Text
    fix: Text | None = None


def _ok(check: Text, detail: Text) -> Finding:
    return Finding(check, Status.OK, detail)


def _warn(check: Text, detail: Text, fix: Text | None = None) -> Finding:
    return Finding(check, Status.WARN, detail, fix)


def _fail(check: Text, detail: Text, fix: Text | None = None) -> Finding:
    return Finding(check, Status.FAIL, detail, fix)


CONFIG = Text("配置", "configuration")
DATABASE = Text("数据库", "database")
KEYS = Text("密钥文件", "key files")
FONTS = Text("中文字体", "CJK font")
TRIMMED = Text("精简中文字体", "trimmed CJK fonts")
SMTP = Text("邮件（SMTP）", "e-mail (SMTP)")
PREFECT = Text("Prefect 调度", "Prefect scheduler")
DISK = Text("磁盘空间", "disk space")
AUDIT = Text("审计链", "audit chain")


# --- configuration -------------------------------------------------------------------------------


def check_config() -> tuple[Settings | None, list[Finding]]:
    try:
        s = get_settings()
    except ConfigurationError as exc:
        return None, [_fail(CONFIG, exc.message, Text("按提示修改配置", "change the configuration as it says"))]
    except Exception as exc:  # anything else that stops the settings loading: say it, do not crash
        shown = " / ".join(str(exc).strip().splitlines()[:4])
        return None, [
            _fail(
                CONFIG,
                Text(f"配置无法读取：{shown}", f"the configuration cannot be read: {shown}"),
                Text(
                    "检查 GRANTFLOW_* 环境变量和 grantflow.toml（GRANTFLOW_CONFIG）",
                    "check the GRANTFLOW_* environment variables and grantflow.toml (GRANTFLOW_CONFIG)",
                ),
            )
        ]
    problems = production_problems(s)
    if problems:
        return s, [
            _fail(CONFIG, p, Text("见 docs/security.md 的生产设置", "see the production settings in docs/security.md"))
            for p in problems
        ]
    return s, [
        _ok(
            CONFIG,
            Text(f"已读取（数据目录 {s.home_dir}，模式 {s.env}）", f"loaded (home {s.home_dir}, mode {s.env})"),
        )
    ]


# --- database ------------------------------------------------------------------------------------


def check_database(s: Settings) -> Finding:
    from sqlalchemy.engine import make_url

    from grantflow.db.migrate import alembic_config, current_heads
    from grantflow.db.session import make_engine

    url = s.url
    shown = make_url(url).render_as_string(hide_password=True)
    if url.startswith("sqlite"):
        database = make_url(url).database or ""
        if database and database != ":memory:" and not Path(database).expanduser().is_file():
            # opening it would create an empty file, which says nothing about the real one
            return _fail(
                DATABASE,
                Text(f"数据库文件 {database} 不存在", f"the database file {database} does not exist"),
                Text(
                    "新安装运行 `grantflow init`；已有数据则用 `grantflow restore` 从备份恢复",
                    "a new installation: `grantflow init`; otherwise `grantflow restore` a backup",
                ),
            )
    engine = make_engine(url, busy_timeout_ms=s.sqlite_busy_timeout_ms)
    try:
        from alembic.script import ScriptDirectory

        wanted = set(ScriptDirectory.from_config(alembic_config()).get_heads())
        heads = current_heads(engine)
    except Exception as exc:  # any driver error: unreachable, refused, bad password
        return _fail(
            DATABASE,
            Text(f"无法连接 {shown}：{_short(exc)}", f"cannot reach {shown}: {_short(exc)}"),
            Text(
                "检查 GRANTFLOW_DATABASE_URL，确认数据库服务器在运行",
                "check GRANTFLOW_DATABASE_URL and that the database server is running",
            ),
        )
    finally:
        engine.dispose()
    if heads != wanted:
        have = ", ".join(sorted(heads)) or Text("无", "none").zh
        want = ", ".join(sorted(wanted))
        return _fail(
            DATABASE,
            Text(
                f"{shown} 的迁移版本为 {have}，应为 {want}",
                f"{shown} is at revision {have or 'none'}, code wants {want}",
            ),
            Text("运行 `grantflow db upgrade`", "run `grantflow db upgrade`"),
        )
    return _ok(
        DATABASE,
        Text(f"{shown} 可连接，迁移版本 {', '.join(heads)}（最新）", f"{shown} reachable, at head {', '.join(heads)}"),
    )


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:300]


# --- keys ----------------------------------------------------------------------------------------


def _mode_problem(path: Path) -> Finding | None:
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        return _fail(
            KEYS,
            Text(f"{path} 的权限为 {mode:04o}，他人可读", f"{path} has mode {mode:04o}: others may read it"),
            Text(f"运行 `chmod 600 {path}`", f"run `chmod 600 {path}`"),
        )
    return None


def _tenders_exist(s: Settings) -> bool:
    from sqlalchemy import text

    from grantflow.db.session import make_engine

    engine = make_engine(s.url, busy_timeout_ms=s.sqlite_busy_timeout_ms)
    try:
        with engine.connect() as conn:
            return conn.execute(text("SELECT 1 FROM tenders LIMIT 1")).first() is not None
    except Exception:  # no database or no table yet: the database check names that
        return False
    finally:
        engine.dispose()


def check_keys(s: Settings) -> list[Finding]:
    out: list[Finding] = []
    audit_key = s.audit_key_path
    if not audit_key.is_file():
        out.append(
            _fail(
                KEYS,
                Text(f"审计密钥 {audit_key} 不存在", f"the audit key {audit_key} is missing"),
                Text(
                    "从备份恢复该文件（`grantflow restore`）；全新安装运行 `grantflow init`",
                    "restore it from a backup (`grantflow restore`); a new installation: `grantflow init`",
                ),
            )
        )
    elif audit_key.stat().st_size != 32:
        out.append(
            _fail(
                KEYS,
                Text(
                    f"审计密钥 {audit_key} 已损坏（应为 32 字节）",
                    f"the audit key {audit_key} is damaged (not 32 bytes)",
                ),
                Text("从备份恢复该文件", "restore it from a backup"),
            )
        )
    else:
        out.append(
            _mode_problem(audit_key)
            or _ok(KEYS, Text(f"审计密钥 {audit_key}（0600）", f"audit key {audit_key} (0600)"))
        )
    bid_key = s.bid_master_key_path
    if bid_key.is_file():
        out.append(
            _mode_problem(bid_key)
            or _ok(KEYS, Text(f"投标主密钥 {bid_key}（0600）", f"bid master key {bid_key} (0600)"))
        )
    elif _tenders_exist(s):
        out.append(
            _fail(
                KEYS,
                Text(
                    f"已有招标，但投标主密钥 {bid_key} 不存在：已封存的投标无法开启",
                    f"tenders exist but the bid master key {bid_key} is missing: sealed bids cannot be opened",
                ),
                Text("从备份恢复该文件（`grantflow restore`）", "restore it from a backup (`grantflow restore`)"),
            )
        )
    else:
        out.append(
            _ok(
                KEYS,
                Text(
                    f"投标主密钥 {bid_key} 尚未生成（第一次招标时生成）",
                    f"bid master key {bid_key} not created yet (made with the first tender)",
                ),
            )
        )
    secret = s.home_dir / "secret_key"
    if secret.is_file() and (problem := _mode_problem(secret)):
        out.append(problem)
    return out


# --- fonts ---------------------------------------------------------------------------------------


def _fc(*args: str) -> str:
    tool = shutil.which(args[0])
    if tool is None:
        raise FileNotFoundError(args[0])
    result = subprocess.run([tool, *args[1:]], capture_output=True, text=True, timeout=30, check=False)
    return result.stdout


def render_sample() -> tuple[str, list[str]]:
    """Lay out ``SAMPLE`` with WeasyPrint as the reports do; return the PDF's text and its fonts."""
    from pypdf import PdfReader
    from weasyprint import HTML
    from weasyprint.urls import URLFetcher

    html = (
        f'<html lang="zh-CN"><head><style>p {{ font-family: {CJK_FAMILIES}; }}</style></head>'
        f"<body><p>{SAMPLE}</p></body></html>"
    )
    fetcher = URLFetcher(allowed_protocols={"data"}, allow_redirects=False, fail_on_errors=True)
    pdf = HTML(string=html, url_fetcher=fetcher).write_pdf()
    assert pdf is not None
    reader = PdfReader(io.BytesIO(pdf))
    text = "".join(page.extract_text() or "" for page in reader.pages)
    fonts: list[str] = []
    for page in reader.pages:
        resources = page.get("/Resources")
        font_dict = resources.get_object().get("/Font") if resources is not None else None
        if font_dict is None:
            continue
        for ref in font_dict.get_object().values():
            base = ref.get_object().get("/BaseFont")
            if base is not None:
                fonts.append(str(base).lstrip("/").split("+", 1)[-1])
    return text, fonts


def render_sample_isolated(timeout: float = 120) -> tuple[str, list[str]]:
    """``render_sample`` in a child process: with no usable font Pango can crash the whole process
    (a segmentation fault, seen with an empty fontconfig path), and doctor must live to say so."""
    done = subprocess.run(
        [sys.executable, "-m", "grantflow.services.doctor"], capture_output=True, timeout=timeout, check=False
    )
    if done.returncode != 0:
        tail = done.stderr.decode(errors="replace").strip().splitlines()[-1:] or [f"exit status {done.returncode}"]
        raise OSError(f"the test render ended with status {done.returncode}: {tail[0][:200]}")
    body = json.loads(done.stdout.decode())
    return str(body["text"]), [str(f) for f in body["fonts"]]


def check_fonts() -> Finding:
    install = Text(
        "安装中文字体：`apt-get install fonts-noto-cjk fonts-wqy-microhei`（或运行 scripts/system-deps.sh），"
        "并确认 FONTCONFIG_FILE/FONTCONFIG_PATH 未指向缺字体的配置",
        "install a CJK font: `apt-get install fonts-noto-cjk fonts-wqy-microhei` (or scripts/system-deps.sh), "
        "and check FONTCONFIG_FILE/FONTCONFIG_PATH do not point at a configuration without fonts",
    )
    try:
        listed = [line for line in _fc("fc-list", ":lang=zh", "family").splitlines() if line.strip()]
        matched = _fc("fc-match", "Noto Sans CJK SC:lang=zh", "family").strip()
    except (FileNotFoundError, subprocess.SubprocessError) as exc:
        return _fail(FONTS, Text(f"无法运行 fontconfig：{exc}", f"fontconfig cannot be run: {exc}"), install)
    if not listed:
        return _fail(
            FONTS,
            Text(
                "fontconfig 找不到任何中文字体（fc-list :lang=zh 为空）",
                "fontconfig finds no CJK font (fc-list :lang=zh is empty)",
            ),
            install,
        )
    try:
        extracted, fonts = render_sample()
    except Exception as exc:  # WeasyPrint or its system libraries broken: say so
        return _fail(
            FONTS,
            Text(f"WeasyPrint 无法生成 PDF：{_short(exc)}", f"WeasyPrint cannot write a PDF: {_short(exc)}"),
            install,
        )
    used = ", ".join(dict.fromkeys(fonts)) or "—"
    if SAMPLE not in "".join(extracted.split()):
        return _fail(
            FONTS,
            Text(
                f"PDF 中的中文无法读回（所用字体：{used}）：文档会是乱码",
                f"Chinese in a test PDF does not read back (fonts used: {used}): documents would be garbage",
            ),
            install,
        )
    return _ok(
        FONTS,
        Text(
            f"中文可正确排版（PDF 字体：{used}；fontconfig：{matched}，共 {len(listed)} 个中文字体族）",
            f"Chinese renders and reads back (PDF font: {used}; fontconfig: {matched}, {len(listed)} CJK families)",
        ),
    )


def check_trimmed_fonts() -> Finding:
    """The public documents' trimmed faces (reports/fonts.py): without them every PDF embeds the
    full Noto faces, several hundred KiB larger and slower to write, with no error anywhere."""
    from grantflow.reports import fonts

    build = Text(
        "运行 `make fonts`（即 python -m grantflow.reports.fonts，约 1 分钟）",
        "run `make fonts` (python -m grantflow.reports.fonts, about a minute)",
    )
    installed = [(face, source) for face in fonts.FACES if (source := fonts.source_of(face)) is not None]
    if not installed:
        return _warn(
            TRIMMED,
            Text(
                "未安装 Noto CJK：文档使用后备中文字体（PDF 较大）",
                "Noto CJK is not installed: documents use the fallback CJK font (larger PDFs)",
            ),
            Text("运行 scripts/system-deps.sh（安装 fonts-noto-cjk）", "run scripts/system-deps.sh (fonts-noto-cjk)"),
        )
    missing = [face.slug for face, source in installed if not fonts.target_of(face, source).is_file()]
    where = fonts.cache_dir()
    if missing:
        names = ", ".join(missing)
        return _warn(
            TRIMMED,
            Text(
                f"{where} 中缺少 {names}：文档改用完整字体，每份 PDF 大数百 KB、生成更慢",
                f"{names} not built in {where}: documents use the full fonts, several hundred KiB larger and slower",
            ),
            build,
        )
    return _ok(TRIMMED, Text(f"{len(installed)} 个已生成（{where}）", f"{len(installed)} built ({where})"))


# --- SMTP ----------------------------------------------------------------------------------------


def check_smtp(s: Settings, timeout: float = NETWORK_TIMEOUT_S) -> Finding:
    if not s.smtp_host:
        return _warn(
            SMTP,
            Text(
                "未配置 SMTP：通知只进站内信箱，不发邮件", "SMTP not configured: notifications stay in the in-app inbox"
            ),
            Text(
                "需要邮件时设置 GRANTFLOW_SMTP_HOST 与 GRANTFLOW_SMTP_PORT",
                "to send e-mail set GRANTFLOW_SMTP_HOST and GRANTFLOW_SMTP_PORT",
            ),
        )
    where = f"{s.smtp_host}:{s.smtp_port}"
    wait = min(timeout, s.smtp_timeout_s)
    context = ssl.create_default_context()
    try:
        if s.smtp_tls:
            smtp: smtplib.SMTP = smtplib.SMTP_SSL(s.smtp_host, s.smtp_port, timeout=wait, context=context)
        else:
            smtp = smtplib.SMTP(s.smtp_host, s.smtp_port, timeout=wait)
        try:
            code, _ = smtp.ehlo()
            if code != 250:
                raise smtplib.SMTPHeloError(code, b"EHLO refused")
            if s.smtp_starttls and not s.smtp_tls:
                smtp.starttls(context=context)
                smtp.ehlo()
            if s.smtp_user:
                smtp.login(s.smtp_user, s.smtp_password.get_secret_value() if s.smtp_password else "")
        finally:
            try:
                smtp.quit()
            except (smtplib.SMTPException, OSError):
                smtp.close()
    except (smtplib.SMTPException, OSError) as exc:
        return _fail(
            SMTP,
            Text(
                f"无法连接 SMTP 服务器 {where}：{_short(exc)}", f"cannot talk to the SMTP server {where}: {_short(exc)}"
            ),
            Text(
                "检查 GRANTFLOW_SMTP_HOST / GRANTFLOW_SMTP_PORT / TLS 设置与登录信息，确认服务器在运行",
                "check GRANTFLOW_SMTP_HOST / GRANTFLOW_SMTP_PORT, the TLS settings and the login, "
                "and that the server runs",
            ),
        )
    return _ok(SMTP, Text(f"SMTP 服务器 {where} 应答 EHLO", f"the SMTP server {where} answers EHLO"))


# --- Prefect -------------------------------------------------------------------------------------


def check_prefect(timeout: float = NETWORK_TIMEOUT_S) -> list[Finding]:
    import httpx

    from grantflow.flows.jobs import SCHEDULE_SETTING  # the flow names, without importing Prefect

    api = os.environ.get("PREFECT_API_URL", "").strip().rstrip("/")
    if not api:
        return [
            _warn(
                PREFECT,
                Text(
                    "未设置 PREFECT_API_URL：`grantflow serve` 会自带本地 Prefect 服务器",
                    "PREFECT_API_URL not set: `grantflow serve` starts its own local Prefect server",
                ),
                Text(
                    "多机部署时把 PREFECT_API_URL 设为共享的 Prefect 服务器（见 docs）",
                    "for several machines set PREFECT_API_URL to the shared Prefect server (see the docs)",
                ),
            )
        ]
    start_it = Text(
        f"启动 Prefect 服务器（`prefect server start`）或改正 PREFECT_API_URL（{api}）",
        f"start the Prefect server (`prefect server start`) or correct PREFECT_API_URL ({api})",
    )
    headers: dict[str, str] = {}
    # the credentials Prefect's own client would send (Prefect Cloud, or a server behind basic auth)
    if os.environ.get("PREFECT_API_KEY"):
        headers["Authorization"] = f"Bearer {os.environ['PREFECT_API_KEY']}"
    elif os.environ.get("PREFECT_API_AUTH_STRING"):
        token = base64.b64encode(os.environ["PREFECT_API_AUTH_STRING"].encode()).decode()
        headers["Authorization"] = f"Basic {token}"
    try:
        with httpx.Client(timeout=timeout, headers=headers) as client:
            health = client.get(f"{api}/health")
            if health.status_code != 200:
                return [
                    _fail(
                        PREFECT,
                        Text(
                            f"Prefect 服务器 {api} 健康检查返回 {health.status_code}",
                            f"the Prefect server {api} answers health with {health.status_code}",
                        ),
                        start_it,
                    )
                ]
            from grantflow.flows.deployments import DEPLOYMENT_NAME

            missing = [
                name
                for name in SCHEDULE_SETTING
                if client.get(f"{api}/deployments/name/{name}/{DEPLOYMENT_NAME}").status_code != 200
            ]
    except httpx.HTTPError as exc:
        return [
            _fail(
                PREFECT,
                Text(
                    f"无法连接 Prefect 服务器 {api}：{_short(exc)}",
                    f"cannot reach the Prefect server {api}: {_short(exc)}",
                ),
                start_it,
            )
        ]
    out = [_ok(PREFECT, Text(f"Prefect 服务器 {api} 正常", f"the Prefect server {api} is healthy"))]
    if missing:
        out.append(
            _fail(
                PREFECT,
                Text(f"缺少部署：{', '.join(missing)}", f"deployments missing: {', '.join(missing)}"),
                Text(
                    "运行 `grantflow deploy`（或 `grantflow serve`）", "run `grantflow deploy` (or `grantflow serve`)"
                ),
            )
        )
    else:
        out.append(
            _ok(
                PREFECT,
                Text(
                    f"{len(SCHEDULE_SETTING)} 个 grantflow 部署均已登记",
                    f"all {len(SCHEDULE_SETTING)} grantflow deployments exist",
                ),
            )
        )
    return out


# --- disk ----------------------------------------------------------------------------------------


def check_disk(s: Settings, min_free: int = MIN_FREE_BYTES) -> Finding:
    place = s.home_dir
    while not place.exists() and place != place.parent:
        place = place.parent
    usage = shutil.disk_usage(place)
    free_mb, total_mb, want_mb = usage.free // 2**20, usage.total // 2**20, min_free // 2**20
    if usage.free < min_free:
        return _warn(
            DISK,
            Text(
                f"{s.home_dir} 所在磁盘只剩 {free_mb:,} MB（低于 {want_mb:,} MB）",
                f"only {free_mb:,} MB free for {s.home_dir} (under {want_mb:,} MB)",
            ),
            Text(
                "清理空间或把 GRANTFLOW_HOME 移到更大的磁盘", "free some space or move GRANTFLOW_HOME to a larger disk"
            ),
        )
    return _ok(
        DISK,
        Text(f"{s.home_dir}：可用 {free_mb:,} / {total_mb:,} MB", f"{s.home_dir}: {free_mb:,} of {total_mb:,} MB free"),
    )


# --- audit ---------------------------------------------------------------------------------------


def check_audit(s: Settings) -> Finding:
    from grantflow.db.audit import current_key, verify
    from grantflow.db.session import make_engine

    engine = make_engine(s.url, busy_timeout_ms=s.sqlite_busy_timeout_ms)
    try:
        with engine.connect() as conn:
            result = verify(conn, anchors=s.audit_anchor_path, key=current_key(settings=s))
    except GrantflowError as exc:
        return _fail(AUDIT, exc.message, Text("见 docs/audit.md", "see docs/audit.md"))
    except Exception as exc:  # the database check already named why it cannot be read
        return _fail(AUDIT, Text(f"无法校验：{_short(exc)}", f"cannot be verified: {_short(exc)}"))
    finally:
        engine.dispose()
    if not result.ok:
        first = result.problems[0].text
        n = len(result.problems)
        return _fail(
            AUDIT,
            Text(f"未通过校验（{n} 处问题），例如：{first.zh}", f"FAILED verification ({n} problems), e.g. {first.en}"),
            Text(
                "运行 `grantflow audit verify` 查看全部问题；处理办法见 docs/audit.md",
                "run `grantflow audit verify` for all of them; see docs/audit.md",
            ),
        )
    return _ok(
        AUDIT,
        Text(
            f"完整：{result.checked} 条事件，{result.anchors_checked} 个锚点相符",
            f"intact: {result.checked} events, {result.anchors_checked} anchors match",
        ),
    )


# --- all -----------------------------------------------------------------------------------------


def run(*, min_free: int = MIN_FREE_BYTES, on_finding: Callable[[Finding], None] | None = None) -> list[Finding]:
    """Every check, in order; ``on_finding`` sees each as soon as it is known."""
    findings: list[Finding] = []

    def add(*items: Finding) -> None:
        for f in items:
            findings.append(f)
            if on_finding is not None:
                on_finding(f)

    s, config = check_config()
    add(*config)
    if s is None:
        return findings  # nothing else can be located without the configuration
    settings = s

    def guarded(check: Text, work: Callable[[], Finding | list[Finding]]) -> list[Finding]:
        """A check that breaks in an unforeseen way is a finding too: doctor itself never crashes."""
        try:
            got = work()
        except Exception as exc:
            return [_fail(check, Text(f"检查时出错：{_short(exc)}", f"the check itself failed: {_short(exc)}"))]
        return got if isinstance(got, list) else [got]

    (database,) = guarded(DATABASE, lambda: check_database(settings))
    add(database)
    add(*guarded(KEYS, lambda: check_keys(settings)))
    add(*guarded(FONTS, check_fonts))
    add(*guarded(TRIMMED, check_trimmed_fonts))
    add(*guarded(SMTP, lambda: check_smtp(settings)))
    add(*guarded(PREFECT, check_prefect))
    add(*guarded(DISK, lambda: check_disk(settings, min_free)))
    if database.status is Status.OK:
        add(*guarded(AUDIT, lambda: check_audit(settings)))
    else:
        add(_fail(AUDIT, Text("数据库不可用，未校验", "not verified: the database is not usable"), database.fix))
    return findings


def failed(findings: list[Finding]) -> bool:
    return any(f.status is Status.FAIL for f in findings)


if __name__ == "__main__":  # the child of ``render_sample_isolated``
    _text, _fonts = render_sample()
    sys.stdout.write(json.dumps({"text": _text, "fonts": _fonts}))

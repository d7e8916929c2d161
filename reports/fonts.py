"""Trimmed CJK fonts for the public documents: common Chinese only, built once from Noto CJK.

Why: Noto Serif/Sans CJK SC hold ~65,000 glyphs, and Chinese characters sit at high glyph ids.
WeasyPrint subsets with HarfBuzz keeping glyph ids, so every embedded face keeps metrics and an
empty outline for every glyph up to the highest one used: ~750 KiB per face, three faces per
report, and ~0.2 s of subsetting and compressing per document (measured). A font of the ~8,000
glyphs of GB 2312 plus ASCII and the usual punctuation embeds as ~120 KiB and subsets in a few ms.

The trimmed faces are built by ``make install`` / ``make install-dev`` (``python -m
grantflow.reports.fonts``) or on first use by ``ensure()``, into a cache directory
(``GRANTFLOW_FONT_CACHE``, default ``$XDG_CACHE_HOME/grantflow/fonts``), never by hand. Their
file names carry a key of the source font (path, size, time) and of the character set, so an
upgraded Noto package or a changed set is rebuilt, never silently reused.

Print CSS names the trimmed family first and the full Noto family after it
(``"Grantflow Sans CJK SC", "Noto Sans CJK SC", …``): a character outside the trimmed set (龘, 䶮)
falls back to the full font, glyph by glyph, so nothing goes missing; it only costs a larger PDF.
When the trimmed faces are absent the first family simply matches nothing and the full fonts
are used, as before.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

CHARSET_VERSION = "gb2312+punct-1"
"""Changes whenever ``charset()`` does, so cached fonts built from another set are not reused."""

# Unicode blocks kept beside GB 2312: what official prose, tables and numbers use.
EXTRA_RANGES = (
    (0x0020, 0x007E),  # ASCII
    (0x00A0, 0x00FF),  # Latin-1: ×, ·, °, ±, §
    (0x2000, 0x206F),  # general punctuation: — ‘’ “” … ‰ ※
    (0x2100, 0x218F),  # letterlike and number forms: ℃ № Ⅰ Ⅱ
    (0x2190, 0x22FF),  # arrows, mathematical operators: → ≤ ≥ ≈
    (0x2460, 0x24FF),  # enclosed alphanumerics: ① ⑴ ⒈
    (0x2500, 0x25FF),  # box drawing, geometric shapes: ◇ ◆ ○ ●
    (0x3000, 0x303F),  # CJK symbols and punctuation: 、。《》「」【】〔〕 and the ideographic space
    (0xFF00, 0xFFEF),  # full-width forms: （）：；，！？％
)


@dataclass(frozen=True)
class Face:
    """One trimmed face: the CSS family it is offered as, built from the Noto face ``source``."""

    family: str
    source: str  # fontconfig family of the full font
    weight: str  # CSS font-weight
    slug: str


FACES = (
    Face("Grantflow Serif CJK SC", "Noto Serif CJK SC", "normal", "serif-regular"),
    Face("Grantflow Sans CJK SC", "Noto Sans CJK SC", "normal", "sans-regular"),
    Face("Grantflow Sans CJK SC", "Noto Sans CJK SC", "bold", "sans-bold"),
)
"""The faces print.css uses: Song-style body text, Hei-style headings and tables (regular and bold).
Bold serif is not used by the templates; were it ever needed, the full font would serve it."""


def charset() -> set[int]:
    """Code points of the trimmed fonts: GB 2312 (6,763 hanzi, punctuation, Greek, kana…) and
    ``EXTRA_RANGES``."""
    out: set[int] = set()
    for lo, hi in EXTRA_RANGES:
        out.update(range(lo, hi + 1))
    for row in range(0xA1, 0xF8):
        for cell in range(0xA1, 0xFF):
            try:
                out.add(ord(bytes((row, cell)).decode("gb2312")))
            except UnicodeDecodeError:
                continue
    return out


def cache_dir() -> Path:
    explicit = os.environ.get("GRANTFLOW_FONT_CACHE")
    if explicit:
        return Path(explicit).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "grantflow" / "fonts"


def source_of(face: Face) -> tuple[Path, int] | None:
    """The installed file and face index of ``face``'s full font, asked of fontconfig (the same
    lookup WeasyPrint does); ``None`` when that family is not installed."""
    tool = shutil.which("fc-match")
    if tool is None:
        return None
    weight = "bold" if face.weight == "bold" else "regular"
    pattern = f"{face.source}:weight={weight}"
    try:
        found = subprocess.run(
            [tool, "-f", "%{family}|%{file}|%{index}", pattern], capture_output=True, text=True, timeout=30
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    families, _, rest = found.partition("|")
    path, _, index = rest.partition("|")
    if face.source not in families.split(",") or not path or not index.isdigit():
        return None  # fontconfig offered a substitute: not the font to trim
    return Path(path), int(index)


def _key(source: Path, index: int) -> str:
    stat = source.stat()
    raw = f"{source.resolve()}|{index}|{stat.st_size}|{stat.st_mtime_ns}|{CHARSET_VERSION}"
    return hashlib.sha256(raw.encode()).hexdigest()[:12]


def target_of(face: Face, source: tuple[Path, int]) -> Path:
    return cache_dir() / f"grantflow-{face.slug}-{_key(*source)}.otf"


_FOUND: dict[str, tuple[float, tuple[tuple[Face, Path], ...]]] = {}
_RECHECK_S = 60.0


def available() -> tuple[tuple[Face, Path], ...]:
    """The trimmed faces built and current for the installed fonts (checked once a minute per
    process: fontconfig is asked only then)."""
    where = str(cache_dir())
    now = time.monotonic()
    cached = _FOUND.get(where)
    if cached is not None and now - cached[0] < _RECHECK_S:
        return cached[1]
    out = []
    for face in FACES:
        source = source_of(face)
        if source is None:
            continue
        target = target_of(face, source)
        if target.is_file():
            out.append((face, target))
    found = tuple(out)
    _FOUND[where] = (now, found)
    return found


def font_face_css(faces: tuple[tuple[Face, Path], ...]) -> str:
    """``@font-face`` rules for the trimmed faces (absolute file URLs; paths we built ourselves)."""
    return "\n".join(
        f'@font-face {{ font-family: "{face.family}"; src: url("{path.resolve().as_uri()}"); '
        f"font-weight: {face.weight}; font-style: normal; }}"
        for face, path in faces
    )


def build_face(face: Face, source: tuple[Path, int], target: Path, chars: set[int] | None = None) -> Path:
    """Subset ``source`` to ``chars`` (default ``charset()``) under the family name ``face.family``,
    written atomically."""
    from fontTools import subset
    from fontTools.ttLib import TTFont

    font = TTFont(str(source[0]), fontNumber=source[1], lazy=True)
    options = subset.Options()
    # horizontal Chinese layout needs no language variants (locl would pull in the JP/KR/TC forms)
    # and no vertical alternates; hinting is dropped by WeasyPrint when it embeds anyway
    options.layout_features = ["ccmp", "kern", "liga", "calt", "clig", "rlig", "mark", "mkmk"]
    options.hinting = False
    options.notdef_outline = True
    options.name_IDs = ["*"]
    options.name_languages = ["*"]
    subsetter = subset.Subsetter(options)
    subsetter.populate(unicodes=charset() if chars is None else chars)
    subsetter.subset(font)
    # a name of its own: fontconfig must never take this partial font for the full Noto family
    style = "Bold" if face.weight == "bold" else "Regular"
    postscript = face.family.replace(" ", "") + "-" + style
    names = font["name"]
    for record in list(names.names):
        if record.nameID in (1, 16):
            record.string = face.family
        elif record.nameID == 17:
            record.string = style
        elif record.nameID == 4:
            record.string = f"{face.family} {style}"
        elif record.nameID in (3, 6):
            record.string = postscript
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=target.name + ".", suffix=".part", dir=target.parent)
    os.close(fd)
    try:
        font.save(tmp)
        os.chmod(tmp, 0o644)  # a font, readable by whichever user renders documents
        os.replace(tmp, target)  # readers see no file or a whole one
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return target


def ensure(log: bool = False) -> tuple[tuple[Face, Path], ...]:
    """Build the trimmed faces missing for the installed fonts (about 15 s each); remove stale ones."""
    built = []
    for face in FACES:
        source = source_of(face)
        if source is None:
            if log:
                print(
                    f"fonts: 未安装 {face.source}（{face.weight}），文档使用后备字体 / "
                    f"{face.source} ({face.weight}) not installed; the documents use the fallback fonts"
                )
            continue
        target = target_of(face, source)
        if not target.is_file():
            started = time.perf_counter()
            build_face(face, source, target)
            if log:
                took = time.perf_counter() - started
                print(f"fonts: 已生成精简字体 / built {target} ({took:.1f} s)")
        for old in target.parent.glob(f"grantflow-{face.slug}-*.otf"):
            if old != target:
                old.unlink(missing_ok=True)
        built.append((face, target))
    _FOUND.clear()
    return tuple(built)


if __name__ == "__main__":  # `python -m grantflow.reports.fonts`: run by make install
    try:
        ensure(log=True)
    except Exception as exc:  # a failed build must not fail the install: the full fonts still work
        print(
            f"fonts: 精简中文字体未生成（{exc}），文档使用完整字体 / "
            f"trimmed CJK fonts not built ({exc}); documents use the full fonts",
            file=sys.stderr,
        )

"""The text the detectors read, and the way back to the text the user wrote.

Tampering hides behind typography: full-width letters (ＣＡＳＩＮＯ), zero-width characters,
spaces or dots between Chinese characters (澳 门.赌 场). The detectors read a normalised view
(NFKC, lower case, those fillers removed) and every character of the view remembers where it
came from, so a finding always points at the original passage, line and column.

Also here: markdown and HTML reduced to their text with line numbers kept.
"""

from __future__ import annotations

import html
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

ZERO_WIDTH = frozenset("\u200b\u200c\u200d\u2060\ufeff\u00ad\u180e")
# Dropped when they sit between two Chinese characters (at most three in a row).
FILLERS = frozenset(" \t\u3000*·•._-~|/\\+=")
BLOCK_BREAK = "\u2029"  # paragraph separator: ends a passage without starting a new line number
SENTENCE_END = frozenset("。!?;" + BLOCK_BREAK)  # after NFKC: ！？； have become ASCII
WRAPPED_LINE = 40  # a line at least this long that ends mid-sentence continues on the next
LIST_START = re.compile(r"\s*(?:[|>#*+-]|\d+[.)]\s)")


def is_cjk(ch: str) -> bool:
    code = ord(ch)
    return 0x4E00 <= code <= 0x9FFF or 0x3400 <= code <= 0x4DBF or 0xF900 <= code <= 0xFAFF


@dataclass(frozen=True)
class View:
    """Normalised text plus, for each of its characters, the index in the source."""

    source: str
    text: str
    origin: tuple[int, ...]

    def source_span(self, start: int, end: int) -> tuple[int, int]:
        if start >= len(self.origin):
            return len(self.source), len(self.source)
        return self.origin[start], self.origin[max(start, end - 1)] + 1


def normalise(source: str, *, squeeze: bool = True) -> View:
    """NFKC, lower case, zero-width characters removed, fillers between Chinese characters dropped
    (unless `squeeze` is false: a keyword list needs its separators)."""
    chars: list[str] = []
    origin: list[int] = []
    for index, ch in enumerate(source):
        if ch in ZERO_WIDTH:
            continue
        for out in unicodedata.normalize("NFKC", ch).lower():
            chars.append(out)
            origin.append(index)
    # Second pass: squeeze fillers (and single line breaks) between Chinese characters.
    keep = [True] * len(chars)
    line_starts: list[int] = []  # for each character, where its line starts
    start = 0
    for k, c in enumerate(chars):
        line_starts.append(start)
        if c == "\n":
            start = k + 1
    i = 0
    while squeeze and i < len(chars):
        if chars[i] in FILLERS or chars[i] == "\n":
            j = i
            while j < len(chars) and (chars[j] in FILLERS or chars[j] == "\n"):
                j += 1
            run = chars[i:j]
            if i > 0 and j < len(chars) and is_cjk(chars[i - 1]) and is_cjk(chars[j]):
                # A single line break inside a wrapped Chinese paragraph (the line before is
                # long: short lines are titles or list entries), or up to three fillers.
                wrapped = run.count("\n") == 1 and len(run) <= 4 and i - line_starts[i] >= WRAPPED_LINE
                if wrapped or ("\n" not in run and len(run) <= 3):
                    for k in range(i, j):
                        keep[k] = False
            i = j
        else:
            i += 1
    text = "".join(c for c, k in zip(chars, keep, strict=True) if k)
    kept_origin = tuple(o for o, k in zip(origin, keep, strict=True) if k)
    return View(source=source, text=text, origin=kept_origin)


def passages(text: str) -> list[tuple[int, int]]:
    """Cut the view into passages: sentences, list items, table rows, paragraphs.

    A line break inside a paragraph joins the lines (prose is often wrapped), unless the next
    line starts a list item, a table row or a heading, the line ended a sentence, or the line is
    short (a title, a menu entry, a keyword: wrapped prose fills its lines).
    """
    bounds: list[tuple[int, int]] = []
    start = 0
    n = len(text)
    i = 0
    while i < n:
        ch = text[i]
        cut = False
        end = i + 1
        if ch in SENTENCE_END or (
            ch == "." and (i + 1 == n or text[i + 1].isspace()) and i > 0 and not text[i - 1].isdigit()
        ):
            cut = True
        elif ch == "\n":
            line_end = text.rfind("\n", 0, i)
            previous = text[line_end + 1 : i].strip()
            nxt_end = text.find("\n", i + 1)
            nxt = text[i + 1 : nxt_end if nxt_end != -1 else n]
            if (
                not previous
                or not nxt.strip()
                or LIST_START.match(nxt)
                or LIST_START.match(previous)
                or previous[-1] in ":。!?;"
                or len(previous) < WRAPPED_LINE
            ):
                cut = True
                end = i
        if cut:
            if text[start:end].strip():
                bounds.append((start, end))
            start = i + 1
        i += 1
    if text[start:].strip():
        bounds.append((start, n))
    return bounds


def line_and_column(source: str, index: int) -> tuple[int, int]:
    line = source.count("\n", 0, index) + 1
    column = index - (source.rfind("\n", 0, index) + 1) + 1
    return line, column


# --------------------------------------------------------------------------------------------
# Files to text. Line breaks are kept where they were, so a line number in the extracted text
# is a line number in the file.

_TAG = re.compile(r"<(/?)([a-zA-Z][a-zA-Z0-9-]*)((?:[^>\"']|\"[^\"]*\"|'[^']*')*)>|<!--|-->|<![^>]*>|<\?[^>]*>", re.S)
_ATTR = re.compile(r"([a-zA-Z:-]+)\s*=\s*(\"[^\"]*\"|'[^']*'|[^\s>]+)")
# Attributes a reader (or a search engine) is shown: link targets, titles, image texts, meta content.
_SHOWN_ATTRS = frozenset({"href", "src", "title", "alt", "content", "action", "data-href"})
_BLOCK_TAGS = frozenset(
    {"p", "div", "br", "li", "tr", "td", "th", "h1", "h2", "h3", "h4", "h5", "h6", "section", "article", "title"}
)


def html_to_text(markup: str) -> str:
    """The text of an HTML page, with what its attributes show and its comments.

    Injected spam often hides where a visitor does not look: in a hidden block, a comment,
    a link target or a meta keyword list. All of it is kept; only style sheets are dropped.
    """
    out: list[str] = []
    pos = 0
    in_style = False
    for match in _TAG.finditer(markup):
        chunk = markup[pos : match.start()]
        if in_style:
            out.append("\n" * chunk.count("\n"))
        else:
            out.append(html.unescape(chunk))
        whole = match.group(0)
        newlines = "\n" * whole.count("\n")
        name = (match.group(2) or "").lower()
        closing = match.group(1) == "/"
        if name == "style":
            in_style = not closing
        shown: list[str] = []
        for attr, value in _ATTR.findall(match.group(3) or ""):
            if attr.lower() in _SHOWN_ATTRS:
                shown.append(html.unescape(value.strip("\"'")))
        separator = " " if name not in _BLOCK_TAGS else BLOCK_BREAK
        out.append(separator + " ".join(shown) + (" " if shown else "") + newlines)
        pos = match.end()
    out.append(html.unescape(markup[pos:]))
    return "".join(out)


_MD_LINK = re.compile(r"!?\[([^\]]*)\]\(([^)\s]*)(?:\s+\"[^\"]*\")?\)")
_MD_MARKS = re.compile(r"(\*\*|__|`+|^#{1,6}\s|^>\s?)", re.M)


def markdown_to_text(markup: str) -> str:
    """Markdown reduced to text: link texts and targets kept, emphasis and heading marks removed.

    Code blocks are kept as they are: spam hidden in one would still be published.
    """
    text = _MD_LINK.sub(lambda m: f"{m.group(1)} {m.group(2)}", markup)
    return _MD_MARKS.sub("", text)


TEXT_SUFFIXES = frozenset({".txt", ".md", ".markdown", ".html", ".htm", ".xhtml", ".csv", ".json", ".xml"})


def file_text(path: Path) -> str:
    raw = path.read_text(encoding="utf-8")
    suffix = path.suffix.lower()
    if suffix in {".html", ".htm", ".xhtml"}:
        return html_to_text(raw)
    if suffix in {".md", ".markdown"}:
        return markdown_to_text(raw)
    return raw

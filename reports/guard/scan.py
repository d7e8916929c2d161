"""The detectors and the verdict.

Each detector emits signals (a span of the source, a weight, a reason). Signals are grouped
by passage; a passage whose weights reach the threshold is suspicious and each of its
signals becomes a finding naming the passage. See docs/content-guard.md.
"""

from __future__ import annotations

import ipaddress
import itertools
import re
import statistics
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from grantflow.reports.guard.model import PairModel, Scored, best_span, tokenize
from grantflow.reports.guard.rules import GuardRules, default_rules
from grantflow.reports.guard.textview import View, file_text, line_and_column, normalise, passages
from grantflow.states.text import Text

Kind = Literal["spam", "link", "stuffing", "swap"]


@dataclass(frozen=True)
class Finding:
    """One suspicious passage: what matched, where, and why (in both languages)."""

    rule: str  # "lexicon.gambling", "link.suspicious_tld", "stuffing.repeat", "model.swap", ...
    kind: Kind
    match: str  # the suspicious text as written in the source
    passage: str  # the match with some context, on one line
    start: int  # offsets in the scanned text
    end: int
    line: int
    column: int
    weight: float
    reason: Text
    source: str | None = None  # the file, when one was scanned

    @property
    def location(self) -> str:
        return f"{self.source}:{self.line}" if self.source else f"line {self.line}"

    def as_dict(self) -> dict[str, object]:
        return {
            "rule": self.rule,
            "kind": self.kind,
            "match": self.match,
            "passage": self.passage,
            "start": self.start,
            "end": self.end,
            "line": self.line,
            "column": self.column,
            "weight": round(self.weight, 3),
            "reason": self.reason.as_dict(),
            "source": self.source,
        }


@dataclass(frozen=True)
class GuardReport:
    findings: list[Finding] = field(default_factory=list)
    source: str | None = None

    @property
    def ok(self) -> bool:
        return not self.findings

    def summary(self) -> Text:
        where = f"{self.source}：" if self.source else ""
        where_en = f"{self.source}: " if self.source else ""
        if self.ok:
            return Text(f"{where}未发现可疑内容", f"{where_en}clean")
        n = len(self.findings)
        return Text(f"{where}发现 {n} 处可疑内容", f"{where_en}{n} suspicious passage{'s' if n != 1 else ''}")

    def as_dict(self) -> dict[str, object]:
        return {"ok": self.ok, "source": self.source, "findings": [f.as_dict() for f in self.findings]}


@dataclass(frozen=True)
class _Signal:
    rule: str
    kind: Kind
    start: int  # source offsets
    end: int
    weight: float
    reason: Text


# --------------------------------------------------------------------------------------------
# Compiled rules (regular expressions, the language model), built once per rules object.


def _norm(term: str) -> str:
    return normalise(term).text.strip()


def _term_pattern(term: str) -> str:
    body = r"\s+".join(re.escape(part) for part in term.split())
    if term[:1].isascii() and term[:1].isalnum():
        body = r"(?<![a-z0-9])" + body
    if term[-1:].isascii() and term[-1:].isalnum():
        body += r"(?![a-z0-9])"
    return body


@dataclass
class _Lexicon:
    """Terms indexed by their first character: one pass over the text, longest term first.
    (One regular expression alternating hundreds of terms is ten times slower in `re`.)"""

    info: dict[str, tuple[str, float, bool]]  # term -> (category, weight, strong)
    patterns: list[tuple[re.Pattern[str], str, float]]
    by_first: dict[str, list[str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for term in sorted(self.info, key=len, reverse=True):
            self.by_first.setdefault(term[0], []).append(term)

    def finditer(self, text: str) -> list[tuple[int, int, str]]:
        found: list[tuple[int, int, str]] = []
        i, n = 0, len(text)
        while i < n:
            candidates = self.by_first.get(text[i])
            if candidates is not None:
                for term in candidates:
                    if text.startswith(term, i) and _bounded(text, i, i + len(term), term):
                        found.append((i, i + len(term), term))
                        i += len(term) - 1
                        break
            i += 1
        return found

    def search(self, text: str) -> bool:
        return bool(self.finditer(text))


def _word_char(ch: str) -> bool:
    return ch.isascii() and ch.isalnum()


def _bounded(text: str, start: int, end: int, term: str) -> bool:
    """English terms match whole words only ("bet" is not in "alphabet")."""
    if _word_char(term[0]) and start > 0 and _word_char(text[start - 1]):
        return False
    return not (_word_char(term[-1]) and end < len(text) and _word_char(text[end]))


@dataclass
class _Compiled:
    lexicon: _Lexicon
    allowed: re.Pattern[str] | None
    negations: list[str]
    model: PairModel


def _alternation(terms: list[str]) -> re.Pattern[str] | None:
    unique = sorted({t for t in terms if t}, key=len, reverse=True)
    return re.compile("|".join(_term_pattern(t) for t in unique)) if unique else None


def _compile(rules: GuardRules) -> _Compiled:
    info: dict[str, tuple[str, float, bool]] = {}
    patterns: list[tuple[re.Pattern[str], str, float]] = []
    for name, category in rules.lexicon.items():
        for term in category.terms:
            info.setdefault(_norm(term), (name, category.weight, True))
        for term in category.weak_terms:
            info.setdefault(_norm(term), (name, category.weak_weight, False))
        for pattern in category.patterns:
            patterns.append((re.compile(pattern), name, category.weight))
    return _Compiled(
        lexicon=_Lexicon(info=info, patterns=patterns),
        allowed=_alternation([_norm(p) for p in rules.allow.phrases]),
        negations=[_norm(n) for n in rules.allow.negations if n.strip()],
        model=PairModel.from_files(
            rules.corpus_paths(rules.model.domain),
            rules.corpus_paths(rules.model.offtopic),
            rules.model.order,
            rules.model.prior,
        ),
    )


_compiled: list[tuple[GuardRules, _Compiled]] = []


def _compiled_for(rules: GuardRules) -> _Compiled:
    for known, compiled in _compiled:
        if known is rules:
            return compiled
    compiled = _compile(rules)
    _compiled.append((rules, compiled))
    del _compiled[:-4]  # a few rule sets at most (tests load their own)
    return compiled


# --------------------------------------------------------------------------------------------
# Detectors. Each works on the normalised view and reports source offsets.


class _Scan:
    def __init__(self, text: str, rules: GuardRules) -> None:
        self.rules = rules
        self.compiled = _compiled_for(rules)
        self.view: View = normalise(text)
        self.view_passages = passages(self.view.text)
        self.signals: list[_Signal] = []
        self.category_labels = {name: c.label.text for name, c in rules.lexicon.items()}
        self.allowed: list[tuple[int, int]] = []
        if self.compiled.allowed is not None:
            self.allowed = [m.span() for m in self.compiled.allowed.finditer(self.view.text)]

    def add(self, rule: str, kind: Kind, vstart: int, vend: int, weight: float, reason: Text) -> None:
        start, end = self.view.source_span(vstart, vend)
        self.signals.append(_Signal(rule, kind, start, end, weight, reason))

    def passage_of(self, vpos: int) -> tuple[int, int]:
        for start, end in self.view_passages:
            if start <= vpos < end:
                return start, end
        return vpos, vpos

    # -- lexicon ----------------------------------------------------------------------------
    def lexicon(self) -> None:
        text = self.view.text
        allowed = self.allowed
        hits: list[tuple[int, int, str, float, bool]] = []
        for start, end, term in self.compiled.lexicon.finditer(text):
            category, weight, strong = self.compiled.lexicon.info[term]
            hits.append((start, end, category, weight, strong))
        for pattern, category, weight in self.compiled.lexicon.patterns:
            for m in pattern.finditer(text):
                if m.end() > m.start():
                    hits.append((m.start(), m.end(), category, weight, True))
        for start, end, category, weight, strong in hits:
            if any(a <= start and end <= b for a, b in allowed) or self._negated(start):
                continue
            word = self.view.source[slice(*self.view.source_span(start, end))]
            label = self.category_labels[category]
            if strong:
                reason = Text(f"{label.zh}用语“{word}”", f"{label.en} term “{word}”")
            else:
                reason = Text(
                    f"“{word}”（{label.zh}相关用语，与同一段的其他可疑内容合计达到阈值）",
                    f"“{word}” ({label.en} word, counted together with the other signals of its passage)",
                )
            self.add(f"lexicon.{category}", "spam", start, end, weight, reason)

    def _negated(self, start: int) -> bool:
        pstart, _ = self.passage_of(start)
        before = self.view.text[max(pstart, start - self.rules.allow.negation_window) : start]
        return any(word in before for word in self.compiled.negations)

    # -- links ------------------------------------------------------------------------------
    _URL = re.compile(r"(?:(?:https?|ftp)://|www\.)[a-z0-9\-._~:/?#\[\]@!$&*+,;=%]+")
    _EMAIL = re.compile(r"[a-z0-9._%+-]+@([a-z0-9.-]+\.[a-z]{2,})")

    def links(self) -> None:
        text = self.view.text
        rules = self.rules.links
        covered: list[tuple[int, int]] = []
        for m in self._URL.finditer(text):
            raw = m.group(0).rstrip(".,;:!?]")
            host = re.sub(r"^(?:[a-z]+://)?", "", raw).split("/")[0].split("?")[0].split("#")[0]
            host = host.rsplit("@", 1)[-1].split(":")[0]
            covered.append((m.start(), m.start() + len(raw)))
            self._judge_host(host, m.start(), m.start() + len(raw))
        for m in self._EMAIL.finditer(text):
            if not any(a <= m.start() < b for a, b in covered):
                covered.append(m.span())
                # A contact address is ordinary in a notice: only a spam host counts.
                self._judge_host(m.group(1), m.start(), m.end(), unknown_counts=False)
        tlds = "|".join(sorted({re.escape(t.lower()) for t in rules.bare_tlds}, key=len, reverse=True))
        if tlds:
            bare = re.compile(rf"(?<![\w@./-])((?:[a-z0-9](?:[a-z0-9-]{{0,61}}[a-z0-9])?\.)+(?:{tlds}))(?![\w-])")
            for m in bare.finditer(text):
                if not any(a <= m.start() < b for a, b in covered):
                    self._judge_host(m.group(1), m.start(), m.end())

    def _judge_host(self, host: str, vstart: int, vend: int, *, unknown_counts: bool = True) -> None:
        rules = self.rules.links
        host = host.strip(".").lower()
        if not host or self._allowed_host(host):
            return
        link = self.view.source[slice(*self.view.source_span(vstart, vend))]
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            address = None
        if address is not None:
            if address.is_private or address.is_loopback or address.is_unspecified:
                return
            self.add(
                "link.ip_host",
                "link",
                vstart,
                vend,
                rules.weight_ip,
                Text(f"以IP地址指向外部的链接“{link}”", f"link to a bare IP address “{link}”"),
            )
            return
        labels = host.split(".")
        tld = labels[-1] if len(labels) > 1 else ""
        names = labels[:-1] if len(labels) > 1 else labels
        if tld and tld in {t.lower() for t in rules.suspicious_tlds}:
            reason = Text(
                f"链接“{link}”使用垃圾网站常用的域名后缀 .{tld}",
                f"link “{link}” uses the spam-prone TLD .{tld}",
            )
            self.add("link.suspicious_tld", "link", vstart, vend, rules.weight_suspicious, reason)
            return
        if any(label.isdigit() and len(label) >= rules.min_digits for label in names):
            reason = Text(f"链接“{link}”是纯数字域名，常见于赌博网站", f"link “{link}” has an all-digit host name")
            self.add("link.numeric_host", "link", vstart, vend, rules.weight_suspicious, reason)
            return
        joined = ".".join(names)
        fragment = next((f for f in rules.spam_host_fragments if f.lower() in joined), None)
        if fragment is None:
            fragment = next(
                (
                    f
                    for f in rules.spam_host_short
                    for label in names
                    if f.lower() in label and any(c.isdigit() for c in label.replace(f.lower(), "", 1))
                ),
                None,
            )
        if fragment is not None:
            reason = Text(
                f"链接“{link}”的域名含有垃圾网站特征“{fragment}”",
                f"link “{link}” has the spam marker “{fragment}” in its host",
            )
            self.add("link.spam_host", "link", vstart, vend, rules.weight_suspicious, reason)
            return
        if rules.weight_unknown > 0 and unknown_counts:
            reason = Text(
                f"不在白名单中的链接“{link}”（单独出现不算，与同一段的其他可疑内容合计达到阈值）",
                f"link “{link}” to a host not on the allow-list "
                "(counted together with the other signals of its passage)",
            )
            self.add("link.unknown", "link", vstart, vend, rules.weight_unknown, reason)

    def _allowed_host(self, host: str) -> bool:
        return any(host == d or host.endswith("." + d) for d in (d.lower() for d in self.rules.allow.domains))

    # -- keyword stuffing ---------------------------------------------------------------------
    def repeats(self) -> None:
        s = self.rules.stuffing
        unit = rf"(?P<unit>[^\W\d_][^\W_]{{1,{s.max_unit - 1}}}?)"
        regex = re.compile(rf"{unit}(?:[\s_|/,、.·-]{{0,3}}(?P=unit)){{{s.min_repeats - 1},}}")
        text = self.view.text
        for m in regex.finditer(text):
            word = m.group("unit")
            if word.isascii():
                # English: whole words only ("banana" is not "an" repeated), separated by something.
                before = text[m.start() - 1] if m.start() else " "
                after = text[m.end()] if m.end() < len(text) else " "
                if before.isalnum() or after.isalnum() or (word + word) in m.group(0):
                    continue
            count = len(re.findall(re.escape(word), m.group(0)))
            passage = self.view.source[slice(*self.view.source_span(m.start(), m.end()))]
            self.add(
                "stuffing.repeat",
                "stuffing",
                m.start(),
                m.end(),
                s.repeat_weight,
                Text(
                    f"“{word}”连续重复 {count} 次：“{passage}”",
                    f"“{word}” repeated {count} times in a row: “{passage}”",
                ),
            )

    def density(self) -> None:
        s = self.rules.stuffing
        text = self.view.text
        for pstart, pend in self.view_passages:
            body = text[pstart:pend]
            size = sum(1 for c in body if not c.isspace() and c.isalnum())
            if size < s.density_min_count * s.density_min_len:
                continue
            best: tuple[float, str] | None = None
            grams: Counter[str] = Counter()
            for run in re.findall(r"[\u3400-\u4dbf\u4e00-\u9fff]+", body):
                for n in range(s.density_min_len, min(8, len(run)) + 1):
                    grams.update(run[i : i + n] for i in range(len(run) - n + 1))
            # Overlapping counts bound the real ones from above: only promising terms are counted again.
            candidates = {g for g, c in grams.items() if c >= s.density_min_count and c * len(g) / size >= s.density}
            # English: two-word phrases ("cheap pills"); one word repeated is ordinary in a
            # table or a diagram ("submitted<br/>submitted ... as submitted").
            words = re.findall(r"[a-z]{3,}", body)
            candidates.update(f"{a} {b}" for a, b in itertools.pairwise(words))
            for word in candidates:
                count = body.count(word)
                if count < s.density_min_count:
                    continue
                coverage = count * len(word.replace(" ", "")) / size
                if coverage >= s.density and (best is None or coverage > best[0]):
                    best = (coverage, word)
            if best is not None:
                coverage, word = best
                first = text.index(best[1], pstart)
                shown = self.view.source[slice(*self.view.source_span(pstart, pend))].strip()
                self.add(
                    "stuffing.density",
                    "stuffing",
                    first,
                    pend,
                    s.density_weight,
                    Text(
                        f"“{word}”占这一段的 {coverage:.0%}，是堆砌的关键词：“{shown}”",
                        f"“{word}” fills {coverage:.0%} of the passage, a stuffed keyword: “{shown}”",
                    ),
                )

    _ITEM_SEPARATORS = re.compile(r"[|_/,、·\s]+|(?<=[\u4e00-\u9fff])\s+")

    def keyword_lists(self) -> None:
        """Lines of many short items, mostly off-topic: planted "hot keyword" lists."""
        s = self.rules.stuffing
        text = self.view.text
        line_start = 0
        bias = self.rules.model.bias
        # Split on the unsqueezed, normalised source lines (the view has merged "|"-separated items).
        for line in self.view.source.split("\n"):
            offset = line_start
            line_start += len(line) + 1
            if len(self._ITEM_SEPARATORS.split(line)) < s.list_min_items:
                continue  # cheap test on the raw line: most lines are not lists
            normal = normalise(line, squeeze=False).text
            items = [i for i in self._ITEM_SEPARATORS.split(normal) if i]
            if len(items) < s.list_min_items:
                continue
            short = [i for i in items if len(i) <= s.list_max_item]
            if len(short) < 0.8 * len(items):
                continue
            # English prose splits into many short words too; a list's items are not words of a sentence.
            if sum(1 for i in items if i.isascii()) > len(items) / 2 and "|" not in line and "," not in line:
                continue
            offtopic = 0
            for item in items:
                scored = self.compiled.model.score(tokenize(normalise(item).text))
                known = [x.ratio for x in scored if x.ratio != 0.0]
                hit = self.compiled.lexicon.search(item)
                if hit or (known and statistics.fmean(known) > bias * 2):
                    offtopic += 1
            if offtopic / len(items) >= s.list_offtopic_share:
                vstart = next((i for i, o in enumerate(self.view.origin) if o >= offset), len(text))
                vend = next((i for i, o in enumerate(self.view.origin) if o >= offset + len(line)), len(text))
                if vend <= vstart:
                    continue
                self.add(
                    "stuffing.keyword_list",
                    "stuffing",
                    vstart,
                    vend,
                    s.list_weight,
                    Text(
                        f"一行 {len(items)} 个短词，其中 {offtopic} 个与公文无关：像是为搜索引擎堆砌的热门关键词",
                        f"a line of {len(items)} short items, {offtopic} of them off-topic: a planted keyword list",
                    ),
                )

    # -- language model -------------------------------------------------------------------------
    def language_model(self) -> None:
        m = self.rules.model
        text = self.view.text
        for pstart, pend in self.view_passages:
            tokens = tokenize(text[pstart:pend], pstart)
            if not tokens:
                continue
            scored: list[Scored] = self.compiled.model.score(tokens)
            # An allowed phrase ("体育彩票", "澳门特别行政区") is never evidence of tampering.
            ratios = [
                min(x.ratio, 0.0) if any(a <= x.token.start and x.token.end <= b for a, b in self.allowed) else x.ratio
                for x in scored
            ]
            # A Chinese character is about half a word: it pays a larger toll per token.
            biases = [m.bias if x.token.text.isascii() else m.char_bias for x in scored]
            found: set[int] = set()
            for _ in range(3):
                span = best_span(ratios, biases, skip=found)
                if span is None or span.score < m.swap_threshold:
                    break
                inside = set(range(span.first, span.last + 1))
                rest = [r for i, r in enumerate(ratios) if i not in inside and i not in found]
                found |= inside
                vstart, vend = tokens[span.first].start, tokens[span.last].end
                words = self.view.source[slice(*self.view.source_span(vstart, vend))]
                if self._negated(vstart):
                    continue
                if len(rest) >= m.min_context and statistics.fmean(rest) <= m.context_max_mean:
                    self.add(
                        "model.swap",
                        "swap",
                        vstart,
                        vend,
                        m.weight,
                        Text(
                            f"“{words}”与所在句子的公文语境不符，像是被替换进来的词（评分 {span.score:.1f}）",
                            f"“{words}” does not belong in this otherwise official sentence: "
                            f"a swapped-in word? (score {span.score:.1f})",
                        ),
                    )
                elif span.score >= m.offtopic_threshold:
                    self.add(
                        "model.offtopic",
                        "spam",
                        vstart,
                        vend,
                        m.weight,
                        Text(
                            f"这段文字与公文无关，读起来像插入的广告或垃圾信息（评分 {span.score:.1f}）",
                            f"this passage is off-topic, like injected advertising or spam (score {span.score:.1f})",
                        ),
                    )
                else:
                    break

    # -- verdict ------------------------------------------------------------------------------
    def findings(self, source: str | None) -> list[Finding]:
        threshold = self.rules.thresholds.passage
        ctx = self.rules.thresholds.context
        src = self.view.source
        groups: dict[tuple[int, int], list[_Signal]] = {}
        source_passages = [self.view.source_span(a, b) for a, b in self.view_passages]
        for signal in self.signals:
            home = next(((a, b) for a, b in source_passages if a <= signal.start < b), (signal.start, signal.end))
            groups.setdefault(home, []).append(signal)
        out: list[Finding] = []
        for (pstart, pend), signals in sorted(groups.items()):
            if _weight(signals, src) < threshold - 1e-9:
                continue
            kept: list[_Signal] = []
            for signal in sorted(signals, key=lambda s: (s.rule.startswith("model."), s.start)):
                # The model repeating what a lexicon or link rule said adds nothing; a weak word
                # it explains (poker in "play poker online") keeps its own line.
                same = [k for k in kept if k.start < signal.end and signal.start < k.end]
                if signal.rule.startswith("model.") and any(
                    k.weight >= threshold or k.rule.startswith("model.") for k in same
                ):
                    continue
                if any(k.rule == signal.rule and not k.rule.startswith("model.") for k in same):
                    continue
                kept.append(signal)
            for signal in kept:
                a = max(min(pstart, signal.start), signal.start - ctx)
                b = min(max(pend, signal.end), signal.end + ctx)
                passage = " ".join(src[a:b].split())
                passage = ("…" if a > pstart else "") + passage + ("…" if b < pend else "")
                line, column = line_and_column(src, signal.start)
                out.append(
                    Finding(
                        rule=signal.rule,
                        kind=signal.kind,
                        match=" ".join(src[signal.start : signal.end].split()),
                        passage=passage,
                        start=signal.start,
                        end=signal.end,
                        line=line,
                        column=column,
                        weight=signal.weight,
                        reason=signal.reason,
                        source=source,
                    )
                )
        return sorted(out, key=lambda f: (f.start, f.rule))


def _weight(signals: list[_Signal], src: str) -> float:
    """A passage's weight: each distinct signal once (a weak word repeated is still one word);
    links to unknown hosts count once together (a list of partners' sites is not spam)."""
    distinct: dict[tuple[str, str], float] = {}
    for signal in signals:
        key = (signal.rule, "" if signal.rule == "link.unknown" else src[signal.start : signal.end].lower())
        distinct[key] = max(distinct.get(key, 0.0), signal.weight)
    return sum(distinct.values())


def scan(text: str, *, rules: GuardRules | None = None, source: str | None = None) -> GuardReport:
    """Check a text for tampering. `source` (a file name) is only used to label the findings."""
    rules = rules or default_rules()
    job = _Scan(text, rules)
    job.lexicon()
    job.links()
    job.repeats()
    job.density()
    job.keyword_lists()
    job.language_model()
    return GuardReport(findings=job.findings(source), source=source)


def scan_file(path: Path | str, *, rules: GuardRules | None = None) -> GuardReport:
    """Check a text file (UTF-8; markdown and HTML are reduced to their text, line numbers kept)."""
    path = Path(path)
    return scan(file_text(path), rules=rules, source=str(path))

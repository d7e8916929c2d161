"""Which spans of a text read like off-topic or spam text rather than official prose.

Two corpora ship with the guard: ordinary official prose about the programmes, and
off-topic and spam text. Tokens are single Chinese characters and lower-case English words
(numbers become one token), which needs no word segmenter and suits corpora of a few tens of
thousands of characters. Every n-gram of tokens (up to `order` long) is a feature; for a
feature seen k_o times in the off-topic corpus and k_d times in the official one, the guard
estimates the share of its occurrences that fall in the off-topic corpus with a Beta prior
centred on that corpus's overall share pi and worth `prior` pseudo-occurrences:

    theta = (k_o + prior * pi) / (k_o + k_d + prior)
    r     = log(theta / pi) - log((1 - theta) / (1 - pi))

the log-odds with an informative Dirichlet prior of Monroe, Colaresi and Quinn (2008,
"Fightin' words"). A feature seen once says little (r is small), one seen often and only in
spam says a lot, one neither corpus holds says nothing (r = 0): a technical term must not
look suspicious only because it is new. A token's evidence is the sum over the n-grams that
end at it; the guard then looks for a span whose tokens are consistently off-topic.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from grantflow.reports.guard.textview import normalise

_TOKEN = re.compile(r"[a-z]+(?:'[a-z]+)?|[0-9]+(?:[.,][0-9]+)*|[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
NUMBER = "<num>"


@dataclass(frozen=True)
class Token:
    text: str
    start: int  # offsets in the normalised view
    end: int


def tokenize(text: str, offset: int = 0) -> list[Token]:
    """Tokens of a normalised view (see `textview.normalise`)."""
    tokens: list[Token] = []
    for m in _TOKEN.finditer(text):
        word = m.group(0)
        if word[0].isdigit():
            word = NUMBER
        tokens.append(Token(word, offset + m.start(), offset + m.end()))
    return tokens


def _sentences(raw: str) -> Iterable[list[str]]:
    # Lines starting with "#" are the corpus files' own comments.
    raw = "\n".join(line for line in raw.splitlines() if not line.startswith("#"))
    view = normalise(raw)
    for chunk in re.split(r"[。!?;\n]+|\.(?=\s)", view.text):
        words = [t.text for t in tokenize(chunk)]
        if words:
            yield words


@dataclass
class NgramCounts:
    """How often each n-gram of tokens (1 to `order` long) occurs in one corpus."""

    order: int
    counts: Counter[tuple[str, ...]] = field(default_factory=Counter)
    tokens: int = 0

    @classmethod
    def train(cls, texts: Iterable[str], order: int) -> NgramCounts:
        model = cls(order=order)
        for raw in texts:
            for words in _sentences(raw):
                model.tokens += len(words)
                for i in range(len(words)):
                    for n in range(1, order + 1):
                        if i - n + 1 >= 0:
                            model.counts[tuple(words[i - n + 1 : i + 1])] += 1
        return model


@dataclass(frozen=True)
class Scored:
    token: Token
    ratio: float  # evidence that the token belongs to off-topic text (log-odds, nats)


@dataclass
class PairModel:
    official: NgramCounts
    offtopic: NgramCounts
    prior: float = 4.0
    share: float = field(init=False)
    _cache: dict[tuple[str, ...], float] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        self.share = self.offtopic.tokens / max(1, self.offtopic.tokens + self.official.tokens)

    @classmethod
    def from_files(cls, official: list[Path], offtopic: list[Path], order: int, prior: float) -> PairModel:
        return cls(
            official=NgramCounts.train((p.read_text(encoding="utf-8") for p in official), order),
            offtopic=NgramCounts.train((p.read_text(encoding="utf-8") for p in offtopic), order),
            prior=prior,
        )

    def log_odds(self, gram: tuple[str, ...]) -> float:
        cached = self._cache.get(gram)
        if cached is None:
            cached = self._cache[gram] = self._log_odds(gram)
        return cached

    def _log_odds(self, gram: tuple[str, ...]) -> float:
        k_o = self.offtopic.counts.get(gram, 0)
        k_d = self.official.counts.get(gram, 0)
        if k_o + k_d == 0:
            return 0.0
        pi = self.share
        theta = (k_o + self.prior * pi) / (k_o + k_d + self.prior)
        return math.log(theta / pi) - math.log((1 - theta) / (1 - pi))

    def score(self, tokens: list[Token]) -> list[Scored]:
        words = [t.text for t in tokens]
        out: list[Scored] = []
        for i, token in enumerate(tokens):
            ratio = 0.0
            if token.text != NUMBER:
                for n in range(1, self.official.order + 1):
                    if i - n + 1 < 0:
                        break
                    gram = tuple(words[i - n + 1 : i + 1])
                    if NUMBER in gram:
                        break
                    ratio += self.log_odds(gram)
            out.append(Scored(token, ratio))
        return out


@dataclass(frozen=True)
class Span:
    first: int  # index of the first token
    last: int  # index of the last token (inclusive)
    score: float


def best_span(ratios: list[float], biases: list[float], skip: set[int] | None = None) -> Span | None:
    """The contiguous run with the largest sum of (ratio - bias) (Kadane), avoiding `skip`."""
    best: Span | None = None
    running = 0.0
    start = 0
    for i, (r, bias) in enumerate(zip(ratios, biases, strict=True)):
        if skip and i in skip:
            running, start = 0.0, i + 1
            continue
        if running <= 0:
            running, start = 0.0, i
        running += r - bias
        if running > 0 and (best is None or running > best.score):
            best = Span(start, i, running)
    return best

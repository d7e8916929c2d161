"""The guard's rules, loaded from TOML (``rules.toml`` beside this file by default).

The schema forbids unknown keys: a misspelt key would otherwise switch a rule off without a
word, and a guard that silently stops guarding is worse than none.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from grantflow.states.errors import GrantflowError
from grantflow.states.text import Text

DEFAULT_RULES = Path(__file__).with_name("rules.toml")


class RulesError(GrantflowError):
    code = "guard_rules"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Label(_Strict):
    zh: str
    en: str

    @property
    def text(self) -> Text:
        return Text(self.zh, self.en)


def _check_patterns(patterns: list[str]) -> list[str]:
    for pattern in patterns:
        try:
            re.compile(pattern)
        except re.error as exc:
            raise ValueError(f"invalid pattern {pattern!r}: {exc}") from exc
    return patterns


class Category(_Strict):
    label: Label
    weight: float = Field(default=1.0, gt=0)
    terms: list[str] = []
    weak_weight: float = Field(default=0.4, gt=0)
    weak_terms: list[str] = []
    patterns: list[str] = []

    _check = field_validator("patterns")(_check_patterns)


class Thresholds(_Strict):
    passage: float = Field(default=1.0, gt=0)
    context: int = Field(default=28, ge=0)


class Allow(_Strict):
    phrases: list[str] = []
    negations: list[str] = []
    negation_window: int = Field(default=8, ge=0)
    domains: list[str] = []


class Links(_Strict):
    suspicious_tlds: list[str] = []
    bare_tlds: list[str] = []
    spam_host_fragments: list[str] = []
    spam_host_short: list[str] = []
    min_digits: int = Field(default=4, ge=1)
    weight_suspicious: float = Field(default=1.0, gt=0)
    weight_ip: float = Field(default=0.8, gt=0)
    weight_unknown: float = Field(default=0.4, ge=0)


class Stuffing(_Strict):
    min_repeats: int = Field(default=3, ge=2)
    max_unit: int = Field(default=12, ge=2)
    repeat_weight: float = Field(default=1.0, gt=0)
    density: float = Field(default=0.45, gt=0, le=1)
    density_min_count: int = Field(default=3, ge=2)
    density_min_len: int = Field(default=3, ge=1)
    density_weight: float = Field(default=1.0, gt=0)
    list_min_items: int = Field(default=6, ge=2)
    list_max_item: int = Field(default=10, ge=1)
    list_offtopic_share: float = Field(default=0.5, gt=0, le=1)
    list_weight: float = Field(default=1.0, gt=0)


class ModelRules(_Strict):
    domain: list[str]
    offtopic: list[str]
    order: int = Field(default=2, ge=1, le=4)
    prior: float = Field(default=4.0, gt=0)
    bias: float = 1.0
    char_bias: float = 2.0
    swap_threshold: float = Field(default=4.0, gt=0)
    offtopic_threshold: float = Field(default=8.0, gt=0)
    min_context: int = Field(default=6, ge=0)
    context_max_mean: float = 0.0
    weight: float = Field(default=1.0, gt=0)


class GuardRules(_Strict):
    version: int
    thresholds: Thresholds = Thresholds()
    allow: Allow = Allow()
    lexicon: dict[str, Category] = {}
    links: Links = Links()
    stuffing: Stuffing = Stuffing()
    model: ModelRules
    # Where relative corpus paths are read from; not a key of the file.
    base_dir: Path = Field(default=DEFAULT_RULES.parent, exclude=True)

    def corpus_paths(self, names: list[str]) -> list[Path]:
        return [(self.base_dir / name).resolve() for name in names]


def _location(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(part) for part in loc)


def load_rules(path: Path | str | None = None) -> GuardRules:
    """Read and check a rules file. Raises `RulesError` naming the file and each wrong key."""
    source = Path(path) if path is not None else DEFAULT_RULES
    try:
        data: dict[str, Any] = tomllib.loads(source.read_text(encoding="utf-8"))
    except OSError as exc:
        raise RulesError(
            Text(
                f"无法读取内容检查规则文件 {source}：{exc.strerror}",
                f"cannot read guard rules {source}: {exc.strerror}",
            ),
        ) from exc
    except tomllib.TOMLDecodeError as exc:
        raise RulesError(
            Text(f"内容检查规则文件 {source} 不是合法的 TOML：{exc}", f"guard rules {source} are not valid TOML: {exc}")
        ) from exc
    if "base_dir" in data:
        data.pop("base_dir")
        raise RulesError(Text(f"{source}：未知的键 base_dir", f"{source}: unknown key base_dir"))
    try:
        rules = GuardRules.model_validate({**data, "base_dir": source.parent})
    except ValidationError as exc:
        problems_zh: list[str] = []
        problems_en: list[str] = []
        for error in exc.errors():
            where = _location(error["loc"])
            if error["type"] == "extra_forbidden":
                problems_zh.append(f"未知的键 {where}")
                problems_en.append(f"unknown key {where}")
            elif error["type"] == "missing":
                problems_zh.append(f"缺少键 {where}")
                problems_en.append(f"missing key {where}")
            else:
                problems_zh.append(f"{where}：{error['msg']}")
                problems_en.append(f"{where}: {error['msg']}")
        raise RulesError(
            Text(
                f"内容检查规则文件 {source} 有误：" + "；".join(problems_zh),
                f"guard rules {source} are wrong: " + "; ".join(problems_en),
            ),
            details={"problems": problems_en},
        ) from exc
    for corpus in rules.corpus_paths(rules.model.domain + rules.model.offtopic):
        if not corpus.is_file():
            raise RulesError(
                Text(f"{source}：找不到语料文件 {corpus}", f"{source}: corpus file {corpus} not found"),
            )
    return rules


_default: GuardRules | None = None


def default_rules() -> GuardRules:
    global _default
    if _default is None:
        _default = load_rules()
    return _default

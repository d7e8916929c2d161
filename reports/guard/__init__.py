"""The content guard: checks text for tampering before anything is published.

It looks for what hacked public sites show: injected gambling, adult, fake-pharmacy or
black-hat SEO spam (lexicons, links, keyword stuffing) and words swapped for unrelated ones
inside otherwise ordinary official prose (a pair of n-gram language models). The rules are
data (``rules.toml``); docs/content-guard.md explains them.

    report = scan(text)            # GuardReport(ok, findings)
    report = scan_file(path)       # .txt, .md, .html
"""

from grantflow.reports.guard.rules import DEFAULT_RULES, GuardRules, RulesError, default_rules, load_rules
from grantflow.reports.guard.scan import Finding, GuardReport, scan, scan_file
from grantflow.reports.guard.textview import TEXT_SUFFIXES

__all__ = [
    "DEFAULT_RULES",
    "TEXT_SUFFIXES",
    "Finding",
    "GuardReport",
    "GuardRules",
    "RulesError",
    "default_rules",
    "load_rules",
    "scan",
    "scan_file",
]

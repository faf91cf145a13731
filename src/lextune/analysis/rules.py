"""Apply a playbook to the clauses found: each broken rule becomes a Flag with the spans involved."""

from __future__ import annotations

import re

from .extract import normalize_jurisdiction
from .playbook import Playbook
from .records import SEVERITY_ORDER, Clause, Flag, Span

RENEWAL_TYPES = ("Renewal Term", "Notice Period to Terminate Renewal")


def _spans(clauses: list[Clause], indexes: list[int]) -> list[Span]:
    return [Span(start=clauses[i].start, end=clauses[i].end, clause=i) for i in indexes]


def _of(clauses: list[Clause], types: tuple[str, ...] | str) -> list[int]:
    types = (types,) if isinstance(types, str) else types
    return [i for i, c in enumerate(clauses) if c.type in types]


def _or(names: list[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + f" or {names[-1]}"


def apply_playbook(playbook: Playbook, clauses: list[Clause], text: str) -> list[Flag]:
    """Every flag the document earns, most severe first, then in document order."""
    flags: list[Flag] = []
    for rule in playbook.required:
        if not _of(clauses, rule.clause):
            flags.append(Flag(rule=f"required:{rule.clause}", severity=rule.severity,
                              message=f"{rule.clause} missing: no {rule.clause} clause was found",
                              recommendation=rule.recommendation))
    for rule in playbook.forbidden:
        if found := _of(clauses, rule.clause):
            flags.append(Flag(rule=f"forbidden:{rule.clause}", severity=rule.severity,
                              message=f"{rule.clause} present ({len(found)} clause(s)); the playbook forbids it",
                              spans=_spans(clauses, found), recommendation=rule.recommendation))
    if playbook.governing_law:
        flags.extend(_governing_law(playbook, clauses))
    if playbook.renewal_notice_days:
        flags.extend(_renewal(playbook, clauses))
    for rule in playbook.phrases:
        hits = [Span(start=m.start(), end=m.end()) for m in re.finditer(rule.pattern, text, re.IGNORECASE)
                if m.end() > m.start()]
        if hits:
            name = rule.name or rule.pattern
            flags.append(Flag(rule=f"phrase:{name}", severity=rule.severity,
                              message=f"'{name}' appears {len(hits)} time(s)", spans=hits,
                              recommendation=rule.recommendation))
    return sorted(flags, key=lambda f: (SEVERITY_ORDER[f.severity], f.spans[0].start if f.spans else -1))


def _governing_law(playbook: Playbook, clauses: list[Clause]) -> list[Flag]:
    rule = playbook.governing_law
    assert rule is not None
    allowed = {normalize_jurisdiction(a) for a in rule.allowed}
    wanted = _or(rule.allowed)
    found = _of(clauses, "Governing Law")
    read = [i for i in found if "governing_law" in clauses[i].extracted]
    other = [i for i in read if normalize_jurisdiction(str(clauses[i].extracted["governing_law"].value)) not in allowed]
    if other:
        names = list(dict.fromkeys(str(clauses[i].extracted["governing_law"].value) for i in other))
        return [Flag(rule="governing_law", severity=rule.severity,
                     message=f"governing law not {wanted}: the contract chooses {', '.join(names)}",
                     spans=_spans(clauses, other), recommendation=rule.recommendation)]
    if found and not read and rule.flag_unknown:
        return [Flag(rule="governing_law", severity=rule.severity,
                     message=f"governing law not {wanted}: the jurisdiction could not be read from the clause",
                     spans=_spans(clauses, found), recommendation=rule.recommendation)]
    return []


def _renewal(playbook: Playbook, clauses: list[Clause]) -> list[Flag]:
    rule = playbook.renewal_notice_days
    assert rule is not None
    auto = [i for i in _of(clauses, RENEWAL_TYPES) if "auto_renewal" in clauses[i].extracted]
    if not auto:
        return []
    with_notice = [i for i in _of(clauses, RENEWAL_TYPES) if "renewal_notice_days" in clauses[i].extracted]
    if with_notice:
        short = [i for i in with_notice if int(clauses[i].extracted["renewal_notice_days"].value) < rule.min]
        if not short:
            return []
        days = min(int(clauses[i].extracted["renewal_notice_days"].value) for i in short)
        return [Flag(rule="renewal_notice_days", severity=rule.severity,
                     message=f"auto-renewal with notice under {rule.min} days ({days} days' notice)",
                     spans=_spans(clauses, sorted(set(auto) | set(short))), recommendation=rule.recommendation)]
    if rule.flag_unknown:
        return [Flag(rule="renewal_notice_days", severity=rule.severity,
                     message=f"auto-renewal with no notice period found (the playbook asks for at least "
                             f"{rule.min} days)",
                     spans=_spans(clauses, auto), recommendation=rule.recommendation)]
    return []

"""The analysis in words: a deterministic paragraph, recommendations, and an optional model-written summary."""

from __future__ import annotations

from collections import Counter

from lextune.data import prompts

from .records import SEVERITY_ORDER, Clause, Flag

SUMMARY_INPUT_CHARS = 3000


def summary_text(document: str, clauses: list[Clause], flags: list[Flag], playbook: str) -> str:
    """What was found and what the playbook says about it, in a few sentences built from the findings."""
    counts = Counter(c.type for c in clauses)
    parts = []
    if counts:
        listed = ", ".join(f"{t} ({n})" if n > 1 else t for t, n in sorted(counts.items()))
        parts.append(f"{document}: {len(clauses)} clause(s) of {len(counts)} type(s) found: {listed}.")
    else:
        parts.append(f"{document}: no clauses of the asked types were found.")
    facts = []
    for c in clauses:
        if "governing_law" in c.extracted:
            facts.append(f"governed by the law of {c.extracted['governing_law'].value}")
            break
    for c in clauses:
        if "auto_renewal" in c.extracted:
            notice = c.extracted.get("renewal_notice_days")
            facts.append("renews automatically" + (f" ({notice.value} days' notice to stop it)" if notice else ""))
            break
    for c in clauses:
        if "liability_cap" in c.extracted:
            facts.append(f"caps liability at {c.extracted['liability_cap'].value}")
            break
    if facts:
        parts.append("The contract is " + "; ".join(facts) + ".")
    if flags:
        by = Counter(f.severity for f in flags)
        counted = ", ".join(f"{by[s]} {s}" for s in SEVERITY_ORDER if by[s])
        top = "; ".join(f.message for f in flags if f.severity == flags[0].severity)
        parts.append(f"Playbook '{playbook}': {len(flags)} flag(s) ({counted}). Most severe: {top}.")
    else:
        parts.append(f"Playbook '{playbook}': no flags.")
    return " ".join(parts)


def recommendations(flags: list[Flag]) -> list[str]:
    """The flags' recommendations, most severe first, each once."""
    return list(dict.fromkeys(f.recommendation for f in flags if f.recommendation))


def summary_conversation(text: str) -> list[dict[str, str]]:
    excerpt = text[:SUMMARY_INPUT_CHARS] + (" ..." if len(text) > SUMMARY_INPUT_CHARS else "")
    return [{"role": "system", "content": prompts.SYSTEM},
            {"role": "user", "content": f"Contract:\n{excerpt}\n\nSummarize this contract in three sentences: "
                                        "the parties, what it is for, and its key terms."}]

"""From Presidio's candidate spans to one decision per document: which spans are names, which name is
which entity, and every place each entity occurs.

1. Filter: a candidate is kept when its source vouches for it (a legal suffix, a party definition)
   or it holds a name-like word; roles, defined terms, headings and public bodies are dropped.
2. Link: mentions of one company ("THERAVANCE, INC.", "Theravance, Inc.", alias "Theravance") or one
   person ("William M. Parent", "William Parent") become one entity.
3. Propagate: every occurrence of an entity's forms anywhere in the text is a mention, with
   ALL-CAPS variants, and "CONFORMIS INC" where the core "Conformis" meets a suffix.
4. Overlaps: longer spans win; the loser keeps its uncovered part.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from presidio_analyzer import RecognizerResult

from lextune.vault.pii.dictionary import FIRST_NAMES
from lextune.vault.pii.names import (
    CONN,
    SEP,
    SUFFIX_AFTER,
    TOK,
    content_words,
    has_coined_word,
    has_fixed_name_word,
    has_non_role_word,
    is_name_like,
    is_person_shaped,
    is_public_body,
    is_vocab_word,
    split_suffix,
    suffix_strength,
)
from lextune.vault.pii.vocab import ORG_HEADS, is_role_phrase, words, wordset

NAME_TYPES = ("PARTY", "PERSON")
_TYPE_MAP = {"ORGANIZATION": "PARTY"}
_WEB = re.compile(r"@|https?://|www\.", re.IGNORECASE)  # an e-mail address or URL is not a name
_QUOTED = re.compile(r"[\"“]([A-Z][^\"“”\n]{0,60}?)[,.]?[\"”]")


@dataclass
class Mention:
    start: int
    end: int
    entity_type: str
    source: str
    entity: int | None = None  # index into the entity list, for PARTY and PERSON


@dataclass
class Entity:
    entity_type: str
    strong: bool = False  # found by a legal recognizer, not only by the NER model
    forms: set[str] = field(default_factory=set)  # surface forms to search for
    keys: set[str] = field(default_factory=set)  # normalized keys that identify the entity


def norm(text: str) -> str:
    return " ".join(re.sub(r"[^\w&'’/\- ]+", " ", text).split()).casefold()


def core_key(text: str) -> str:
    """"theravance" for "THERAVANCE, INC." and "The Theravance Inc"."""
    core, _ = split_suffix(text)
    k = norm(core)
    return k.removeprefix("the ")


def person_key(text: str) -> str:
    """First and last name, initials and suffixes dropped: "william parent" for "William M. Parent"."""
    ws = [w for w in words(text) if len(w) > 1 and w not in ("jr", "sr", "ii", "iii", "iv")]
    return f"{ws[0]} {ws[-1]}" if len(ws) >= 2 else (ws[0] if ws else "")


def _acronyms(name: str) -> set[str]:
    core, suffix = split_suffix(name)
    toks = [t for t in re.findall(r"[A-Za-z][\w'’&\-]*", core) if not (t.islower() and t in ("of", "and", "the", "de"))]
    if len(toks) < 2:
        return set()
    base = "".join(t[0].upper() for t in toks)
    out = {base}
    if suffix.strip(" ,."):
        out.add(base + suffix.strip(" ,.")[0].upper())
    return {a for a in out if len(a) >= 3}


def initial_key(text: str) -> str:
    """"y mashima" for "Yukihiko Mashima" and "Y. Mashima"."""
    ws = [w for w in words(text) if w not in ("jr", "sr", "ii", "iii", "iv")]
    return f"{ws[0][0]} {ws[-1]}" if len(ws) >= 2 else ""


def _clean(text: str, start: int, end: int) -> tuple[int, int]:
    """Trim whitespace, trailing punctuation, a possessive and a leading lower-case "the"."""
    while start < end and text[start] in " \t\n,;:\"“'(":
        start += 1
    while end > start and text[end - 1] in " \t\n,;:\"”')":
        if text[end - 1] == ")" and text.count("(", start, end) > text.count(")", start, end - 1):
            break  # a bracket the name opened: "TELIA AB (publ)"
        end -= 1
    if text[end - 2:end] in ("'s", "’s"):
        end -= 2
    if text.startswith("the ", start):
        start += 4
    lead = _LEAD_CONNECTOR.match(text, start, end)  # "DBA IMNTV", "c/o CRIC Holdings Limited"
    if lead:
        start = lead.end()
    return start, end


_LEAD_CONNECTOR = re.compile(r"(?i:d/b/a|dba|t/a|f/s/o|c/o)\s+")


class Resolver:
    """Turns analyzer results for one document into linked, non-overlapping mentions."""

    def __init__(self, text: str, protected_terms: set[str]):
        self.text = text
        # Words the document writes in lower case, URLs and e-mail addresses aside ("cyril.dupuy@atr.fr").
        prose = re.sub(r"\S*[\w][.@][\w]\S*", " ", text)
        self.lower_words = set(re.findall(r"\b[a-z][a-z'\-]+\b", prose))
        quoted = {m.group(1).strip().casefold() for m in _QUOTED.finditer(text)}
        self.protected = {t.casefold() for t in protected_terms} | quoted
        self.entities: list[Entity] = []
        self.key_index: dict[tuple[str, str], int] = {}

    # -- 1. filter ---------------------------------------------------------------------------------
    def accept(self, r: RecognizerResult) -> Mention | None:
        etype = _TYPE_MAP.get(r.entity_type, r.entity_type)
        meta = r.recognition_metadata or {}
        source = meta.get("source", "spacy" if r.entity_type in ("ORGANIZATION", "PERSON") else "pattern")
        start, end = r.start, r.end
        if etype not in NAME_TYPES:
            return Mention(start, end, etype, source)
        start, end = _clean(self.text, start, end)
        if "\n" in self.text[start:end]:  # NER spans that run over a line break join two fields
            first = self.text.index("\n", start)
            start, end = _clean(self.text, start, first) if first > start else (start, end)
        if etype == "PERSON":
            start, end = _trim_person(self.text, start, end)
        span = self.text[start:end]
        if not span or "\n" in span or len(span.split()) > 10 or is_public_body(span) or _WEB.search(span):
            return None
        if span.casefold() in self.protected and source != "definition" and not (
                etype == "PERSON" and len(content_words(span)) >= 2 and content_words(span)[0] in FIRST_NAMES
                and has_coined_word(span, self.lower_words)):
            # A quoted term is a defined term, except a person's name in quotes ("Paul Zuzelo" is
            # deleted and replaced with "General Counsel").
            return None
        _, suffix = split_suffix(span)
        if is_role_phrase(span) and suffix_strength(suffix) != "strong":
            return None
        n_words = len(content_words(span))
        if source in ("definition", "dba"):
            ok = has_fixed_name_word(span) or bool(suffix)
        elif source == "suffix":
            # "Operating Company", "Holding Company": a weak suffix after prose words is a phrase.
            ok = has_non_role_word(span) if meta.get("suffix") == "strong" else (
                is_name_like(span, self.lower_words) and has_coined_word(span, self.lower_words))
        elif source == "spacy":
            # A bare NER guess needs two words, none of them prose, and for an organization a coined
            # word: single capitalized words, headings and capitalized terms of art ("Custom
            # Reagents") are where the small model errs; real one-word names arrive as aliases.
            if etype == "PERSON":
                ok = n_words >= 2 and is_person_shaped(span) and self._no_prose_word(span)
            else:
                ok = n_words >= 2 and is_name_like(span, self.lower_words, strict=True) and has_coined_word(
                    span, self.lower_words)
        elif source == "preamble":
            ok = is_name_like(span, self.lower_words) and (bool(suffix) or has_coined_word(span, self.lower_words))
        elif source == "institution":  # "The University of Iowa"
            ok = True
        elif source == "behalf":  # "For and on behalf of StarHub": the label vouches for an organization
            ok = bool(suffix) or is_name_like(span, self.lower_words)
        else:  # signature, titled, honorific: the label vouches for a person unless the words are prose
            # "Y. Mashima": an initial and a coined surname is a name too.
            initial = n_words == 1 and re.search(r"\b[A-Z]\.", span) is not None and has_fixed_name_word(span)
            ok = (is_person_shaped(span) or initial) and is_name_like(span, self.lower_words) and (
                n_words >= 2 or source == "honorific" or initial)
            if source == "conformed" and not ok:
                # "/s/ Bud Ward", "Name: Bus Ward": a conformed signature or a Name: line holds a person,
                # so a name of common words counts too; a title or department there ("Name: Authorized
                # Signatory", "Attention: Legal Department") has no word outside the legal vocabulary.
                # Two-letter surnames count here ("Xianglong Li").
                ok = len(re.findall(r"[A-Za-z]{2,}", span)) >= 2 and all(
                    w[:1].isupper() for w in span.split() if w.isalpha()) and is_name_like(span, set())
        if etype == "PERSON" and suffix:
            etype = "PARTY"
        return Mention(start, end, etype, source) if ok else None

    def _no_prose_word(self, span: str) -> bool:
        """No word of the name is written in lower case elsewhere, given names aside ("Mark", "Grant")."""
        return not any(w in self.lower_words and w not in FIRST_NAMES for w in content_words(span))

    # -- 2. link -----------------------------------------------------------------------------------
    def link(self, m: Mention, aliases: list[str] = ()) -> None:
        span = self.text[m.start:m.end]
        keys = {("PARTY", core_key(span)), ("PARTY", norm(span))} if m.entity_type == "PARTY" else {
            ("PERSON", person_key(span)), ("PERSON", norm(span))}
        keys |= {("PARTY" if m.entity_type == "PARTY" else "PERSON", norm(a)) for a in aliases}
        keys = {k for k in keys if k[1]}
        # A name found as PERSON by spaCy but defined as a party's alias is that party.
        lookup = keys | {("PARTY", norm(span)), ("PARTY", core_key(span))}
        if m.entity_type == "PERSON":
            # "Y. Mashima" finds "Yukihiko Mashima"; a full name only offers that key, so that
            # "John Smith" and "Jane Smith" stay two people.
            short = initial_key(span)
            if re.match(r"[A-Z]\.", span):
                lookup.add(("PERSON", short))
            keys.add(("PERSON", short))
        found = [self.key_index[k] for k in lookup if k in self.key_index]
        idx = min(found) if found else None
        if idx is None:
            idx = len(self.entities)
            self.entities.append(Entity(m.entity_type))
        ent = self.entities[idx]
        m.entity_type = ent.entity_type
        ent.strong = ent.strong or m.source != "spacy"
        ent.forms.add(span)
        ent.forms.update(a for a in aliases)
        core, suffix = split_suffix(span)
        if suffix and ent.entity_type == "PARTY" and is_name_like(core, self.lower_words):
            ent.forms.add(core.strip(" ,"))
        repeated = len(re.findall(re.escape(span), self.text)) >= 2
        if not (ent.strong or repeated):  # short forms for names a pattern vouched for or that recur
            pass
        elif ent.entity_type == "PERSON" and len(content_words(span)) > 1:
            # A person is later called by a given name or surname no dictionary has ("Schwarzenegger",
            # "Tarek"); a common one ("Smith", "John") only with an honorific.
            for part in (content_words(span)[0], content_words(span)[-1]):
                found = re.search(rf"\b{re.escape(part)}\b", span, re.IGNORECASE)
                if len(part) >= 4 and found and has_coined_word(part, self.lower_words):
                    ent.forms.add(found.group())
        if ent.entity_type == "PARTY" and ent.strong:
            # "DCL" for "Dairy Crest Limited", "BSP" for "Bank South Pacific Limited": an ALL-CAPS
            # word made of the name's initials, where the document uses one.
            for acro in _acronyms(span):
                if re.search(rf"(?<![\w&]){acro}(?![\w&])", self.text):
                    ent.forms.add(acro)
        first = core.split()[0] if ent.entity_type == "PARTY" and ent.strong and len(core.split()) > 1 else ""
        if (len(first) >= 4 or len(first) == 3 and first.isupper()) and has_coined_word(first, self.lower_words):
            # "MobileVision" for "MobileVision Communications Ltd.": a coined first word is the short
            # name; it is searched for, not used to merge entities ("Sucampo Pharma" is not
            # "Sucampo Pharmaceuticals").
            ent.forms.add(first.strip(" ,"))
        for k in keys:
            self.key_index.setdefault((ent.entity_type, k[1]), idx)
            ent.keys.add(k[1])
        m.entity = idx

    # -- 3. propagate ------------------------------------------------------------------------------
    def propagate(self) -> list[Mention]:
        out = []
        for idx, ent in enumerate(self.entities):
            for form in sorted(ent.forms, key=len, reverse=True):
                form = form.strip()
                if len(form) < 2 or is_role_phrase(form) or (
                        form.casefold() in self.protected and norm(form) not in ent.keys):
                    continue
                body = r"\s+".join(re.escape(w) for w in form.split())
                for m in re.finditer(rf"(?<![\w&]){body}(?![\w&])", self.text, re.IGNORECASE):
                    got = m.group()
                    if not _same_case(form, got):
                        continue
                    end = m.end()
                    tail = SUFFIX_AFTER.match(self.text, end)
                    if tail and ent.entity_type == "PARTY":
                        end = tail.end()
                    out.append(Mention(m.start(), end, ent.entity_type, "propagated", idx))
        return out + self.family()

    def family(self) -> list[Mention]:
        """Organizations named after a party: "Federated Municipal Cash Trust" beside "FEDERATED
        INVESTMENT MANAGEMENT COMPANY", "Nationwide Mutual Funds" beside "Nationwide Fund Management
        LLC": a run that starts with a party's distinctive first word and ends in an organization noun."""
        heads = {}
        for ent in self.entities:
            if ent.entity_type != "PARTY" or not ent.strong:
                continue
            for form in ent.forms:
                core = split_suffix(form)[0].split()
                w = core[0].strip(",") if len(core) > 1 else ""
                lw = w.lower()
                if (len(w) >= 3 and w[0].isupper() and w.isalpha() and not is_vocab_word(lw) and lw not in FIRST_NAMES
                        and lw not in self.lower_words):
                    heads[w[0] + w[1:].lower()] = heads[w.upper()] = None
        out, index = [], {}
        for w in heads:
            run = re.compile(rf"{re.escape(w)}(?:{SEP}(?:{CONN}{SEP})*{TOK}){{1,7}}")
            for start in re.finditer(rf"(?<![\w&]){re.escape(w)}(?![\w&])", self.text):
                m = run.match(self.text, start.start())
                if not m:
                    continue
                toks = list(re.finditer(r"[^\s]+", m.group()))
                # A list without commas ("Acme Bond Fund Acme Cash Trust") starts a new name at the word.
                stop = next((i for i, t in enumerate(toks) if i > 0 and t.group() == w), len(toks))
                last = max((i for i, t in enumerate(toks[:stop])
                            if i > 0 and t.group().lower().strip(",.") in _FAMILY_HEADS), default=0)
                if not last:
                    continue
                end = m.start() + toks[last].end()
                key = norm(self.text[m.start():end])
                if key not in index:
                    index[key] = len(self.entities)
                    self.entities.append(Entity("PARTY", forms={self.text[m.start():end]}, keys={key}))
                out.append(Mention(m.start(), end, "PARTY", "family", index[key]))
        return out


_FAMILY_HEADS = ORG_HEADS | wordset("funds portfolio series trusts")


_SIGNATURE_LABELS = wordset("""
name title by date signature print printed its witness attention attn per signed sign position function s
/s/ president ceo cfo coo cto chief executive officer director secretary treasurer manager counsel general
vice chairman founder member partner managing address tel fax phone email e-mail facsimile telephone
telecopy telecopier mobile cell copy with legal representative authorized
""")


_PARTY_LABEL = re.compile(r"\s+(?:Party|PARTY)\s+[A-Z]\b\.?:?\s*$")


def _trim_person(text: str, start: int, end: int) -> tuple[int, int]:
    """Drop the labels around a signatory's name: "Name: Jane Doe Title" -> "Jane Doe"."""
    party = _PARTY_LABEL.search(text, start, end)  # "Ting Chen Party B": the next field's label
    end = party.start() if party else end
    toks = [(m.start() + start, m.end() + start) for m in re.finditer(r"\S+", text[start:end])]

    def label(t: tuple[int, int]) -> bool:
        return text[t[0]:t[1]].strip(".,:;()").lower() in _SIGNATURE_LABELS

    while toks and label(toks[-1]):
        toks.pop()
    while toks and label(toks[0]):
        toks.pop(0)
    return (toks[0][0], toks[-1][1]) if toks else (start, start)


def _same_case(form: str, got: str) -> bool:
    """Accept the form as written, in ALL CAPS, or capitalized; never all lower case ("fitness")."""
    if got == form or got.isupper():
        return True
    letters = len(re.sub(r"\W", "", form))
    if letters <= 3 or (letters == 4 and not form.isupper()):  # "BP", "EIT": as written or in capitals
        return False
    return got[0].isupper() and not got.islower()


def resolve_overlaps(mentions: list[Mention], text: str) -> list[Mention]:
    """Longest first; a shorter span overlapping kept ones keeps its largest uncovered part."""
    kept: list[Mention] = []
    covered = [False] * len(text)
    for m in sorted(mentions, key=lambda m: (-(m.end - m.start), m.start, m.source != "propagated")):
        free = [i for i in range(m.start, m.end) if not covered[i]]
        if not free:
            continue
        if len(free) < m.end - m.start:
            runs, run = [], [free[0]]
            for i in free[1:]:
                if i == run[-1] + 1:
                    run.append(i)
                else:
                    runs.append(run)
                    run = [i]
            runs.append(run)
            best = max(runs, key=len)
            s, e = _clean(text, best[0], best[-1] + 1)
            if sum(c.isalnum() for c in text[s:e]) < 3:
                continue
            m = Mention(s, e, m.entity_type, m.source, m.entity)
        for i in range(m.start, m.end):
            covered[i] = True
        kept.append(m)
    return sorted(kept, key=lambda m: m.start)

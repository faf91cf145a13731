"""The structure of a legal document, found in one pass over its lines: where each unit starts, its kind.

A unit is a section's body, the preamble that names the parties, a recital, a definition or the
signature block. Headings (headings.py) open nested sections, so every unit knows its heading path,
outermost heading first, and a label. The chunker (chunker.py) cuts these units to size.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from dataclasses import dataclass

from lextune.core.records import ChunkKind
from lextune.vault.definitions import chained_definitions, is_definitions_heading, opens_definition
from lextune.vault.headings import STRUCTURAL, Line, is_title, read_lines

MAX_SECTION_LABEL = 120

_WHEREAS = re.compile(r"(?i:(?:witness(?:es|eth)\s+that[:,]?\s+)?whereas)\b")
# The words of agreement that close the recitals.
_NOW_THEREFORE = re.compile(r"(?i:now,?\s+therefore|in\s+consideration\s+of)\b")
_WITNESS = re.compile(r"(?<!\S)(?:IN WITNESS WHERE(?:OF|FORE)|In [Ww]itness [Ww]here(?:of|fore))")
# Where a run of recitals goes on inside one line ("...; and WHEREAS, ..."), in flattened text.
_RECITAL_INLINE = re.compile(
    r"(?<=[;.:])\s+(?:and\s+)?(?P<at>WHEREAS|(?P<now>NOW,?\s+THEREFORE|Now,?\s+[Tt]herefore))\b"
)
_SENTENCE_END = re.compile(r"[.:](?=\s)")
_FIELD = re.compile(
    r"(?i:by|name|title|its|date|signature|print(?:ed)?\s+name|authori[sz]ed\s+signatory)[^\S\n]*:"
)
_SIGNER_FIELD = re.compile(r"(?i:by|name|signature|print(?:ed)?\s+name)[^\S\n]*:")
_RECITALS_HEADING = re.compile(
    r"(?i:recitals?|preliminary\s+statements?|w\s?i\s?t\s?n\s?e\s?s\s?s\s?e\s?t\s?h)[\W_]*$"
)
_BACKGROUND_HEADING = re.compile(r"(?i:background)[\W_]*$")
# Lines between a title and the party paragraph that do not end the preamble ("BY AND BETWEEN").
_BETWEEN_HEADING = re.compile(r"(?i:(?:by\s+and\s+)?between|among)[\W_]*$")
_PARTIES_HEADING = re.compile(r"(?i:(?:the\s+)?parties|(?:by\s+and\s+)?between|among|and)[\W_]*$")
_PARTY_WORDS = re.compile(
    r"(?i)\b(?:between|among|entered\s+into|made|dated|effective\s+as\s+of)\b"
)
_DOCUMENT_WORDS = re.compile(
    r"(?i)^\W*(?:this|the)\b|\b(?:agreement|contract|lease|licen[cs]e|amendment|deed|addendum|indenture"
    r"|memorandum|plan|note|order|terms)\b"
)
_SUB_ITEM = re.compile(r"\((?:[a-z]{1,2}|[ivx]{1,5}|\d{1,2})\)")
_DEFINITIONS_LEAD = re.compile(r"(?i:defin|meaning|as follows|following terms)")
_PREAMBLE_EXTRA_LINES = 8
_PREAMBLE_EXTRA_CHARS = 1500
_PREAMBLE_MAX_LINE = 2000
# A sentence end: a period after a word, then a capital; the word is checked against abbreviations.
_PARTY_SENTENCE_END = re.compile(r"\b(\w++)[)\"\u201d]?\.(?=\s+[A-Z\"\u201c])")
_ABBREVIATIONS = {"Inc", "Ltd", "Corp", "Co", "No", "Mr", "Ms", "Mrs", "Dr", "St", "Jr", "Sr"}
_TITLE_DOCUMENT = re.compile(
    r"(?i)\b(?:agreement|contract|lease|amendment|addendum|deed|indenture|memorandum"
    r"|terms\s+(?:and|of)\s+\w+)\b"
)


@dataclass(slots=True)
class _Section:
    label: str
    path: tuple[int, ...]  # section ids from the outermost heading to this one
    rank: int
    definitions: bool  # a definitions section, or inside one
    number: tuple[int, ...] = ()


def _is_plain_paragraph(text: str) -> bool:
    """A long paragraph that is neither a definition nor a (short) sub-item "(a) ..." of one."""
    if len(text) < 150 or text[0] in "\"\u201c" or " mean" in text[:150]:
        return False
    return len(text) >= 300 or not _SUB_ITEM.match(text)


def _is_prose(text: str) -> bool:
    return len(text) >= 100 and sum(1 for word in text.split() if word[0].islower()) >= 8


class Structure:
    """Where each unit starts (a section's body, the preamble, a recital, a definition, the signature
    block) and the heading sections the units belong to, found in one pass over the lines."""

    def __init__(self, text: str):
        self.text = text
        self.lines = read_lines(text)
        self.sections = [_Section("", (), -1, False)]  # section 0: text under no heading
        self.marks: list[tuple[int, ChunkKind, int]] = [(0, "body", 0)]  # (position, kind, section)
        self.stack: list[int] = []  # the open headings, outermost first
        caps = Counter(line.text for line in self.lines if line.style == "caps")
        # The same ALL-CAPS line three times is a running page header ("CONFIDENTIAL"), not a heading.
        self.page_headers = {line for line, count in caps.items() if count >= 3}
        self.body_start = 0
        self._body(self._front())

    def units(self) -> list[tuple[int, int, ChunkKind, int]]:
        """(start, end, kind, section) regions that tile the text."""
        ends = [position for position, _, _ in self.marks[1:]] + [len(self.text)]
        return [(start, end, kind, section)
                for (start, kind, section), end in zip(self.marks, ends, strict=True) if end > start]

    def label(self, sections: list[int]) -> tuple[str, list[str]]:
        """Display label and heading path of a chunk covering these sections (in text order)."""
        known = self.sections
        ancestors = {parent for section in sections for parent in known[section].path[:-1]}
        leaves = [section for section in sections if section not in ancestors]
        if len(leaves) == 1:
            # The other sections are headings above this one, already named by its path.
            leaf = known[leaves[0]]
            return leaf.label, [known[section].label for section in leaf.path]
        common = os.path.commonprefix([known[section].path for section in leaves])
        named = [known[s].label for s in sections if s not in common and known[s].label]
        return _join_labels(named), [known[section].label for section in common]

    def _mark(self, position: int, kind: ChunkKind, section: int) -> None:
        """Start a unit at position; a unit already starting there or later gives way to it."""
        while self.marks and self.marks[-1][0] >= position:
            self.marks.pop()
        self.marks.append((position, kind, section))

    def _section(
        self, label: str, rank: int, parent: int | None, definitions: bool = False,
        number: tuple[int, ...] = (),
    ) -> int:
        section = len(self.sections)
        path = (self.sections[parent].path if parent is not None else ()) + (section,)
        self.sections.append(_Section(label[:MAX_SECTION_LABEL].rstrip(), path, rank, definitions, number))
        return section

    def _front(self) -> int:
        """Mark the title lines, the preamble and the recitals; return the index of the first body line."""
        lines = self.lines
        titles = 0
        while titles < len(lines) and lines[titles].style in ("caps", "attach"):
            titles += 1
        party = self._party_line()
        # The title is among the heading lines before the party paragraph ("RESELLER AGREEMENT").
        heads = [line for line in lines[: titles if party is None else party] if line.rank is not None]
        title = self._section(_pick_title(heads), -1, None) if heads else 0
        if party is None:
            if not any(_TITLE_DOCUMENT.search(line.text) for line in lines[:titles]):
                # Leading caps lines that name no document ("PAYMENT TERMS") are headings, not a title.
                titles, title = 0, 0
            i = titles
            while i < len(lines) and not self._ends_preamble(lines[i], False):
                i += 1
            # Without a party paragraph only title lines right before recitals count as a preamble; text
            # before the first heading is plain body, as in memos and opinions.
            opens_recitals = i == titles < len(lines) and self._opens_recitals(lines[i], False)
            self._mark(0, "preamble" if titles and opens_recitals else "body", title)
            return self._recitals(i, False)
        self._mark(0, "preamble", title)
        i = party + 1
        if len(lines[party].text) > _PREAMBLE_MAX_LINE:
            # Text without line breaks: the preamble is the sentence that names the parties.
            cut = _party_sentence_end(lines[party])
            if cut is not None:
                self._mark(cut, "body", 0)
            return self._recitals(i, True)
        # After the party paragraph the preamble takes in a few short lines at most ("NOW, THEREFORE, the
        # parties agree as follows:"), so that a document without headings does not become all preamble.
        while i < len(lines) and not self._ends_preamble(lines[i], True):
            if i - party > _PREAMBLE_EXTRA_LINES or lines[i].end - lines[party].end > _PREAMBLE_EXTRA_CHARS:
                break
            i += 1
        return self._recitals(i, True)

    def _party_line(self) -> int | None:
        """Index of the paragraph naming the parties ("This Agreement is made ... between A and B")."""
        after_between = False
        for index in range(min(40, len(self.lines))):
            line = self.lines[index]
            text = line.text
            if line.start > 20_000 or line.style in STRUCTURAL:
                return None
            if _BETWEEN_HEADING.match(text):
                after_between = True
                continue
            names_parties = _PARTY_WORDS.search(text, 0, 600) and _DOCUMENT_WORDS.search(text, 0, 300)
            if line.rank is not None:
                # A title line may run on into the preamble ("Exhibit 10.4 LEASE This Lease is made ...").
                if len(text) >= 40 and names_parties:
                    return index
                continue
            if _WHEREAS.match(text) or self._signature_at(index) is not None:
                return None
            # After a "BETWEEN" title line the next paragraph names the first party.
            if after_between or (len(text) >= 20 and names_parties):
                return index
        return None

    def _ends_preamble(self, line: Line, party: bool) -> bool:
        if line.rank is not None:
            return not (party and _PARTIES_HEADING.match(line.text))
        return self._opens_recitals(line, party) or _SIGNER_FIELD.match(line.text) is not None

    @staticmethod
    def _opens_recitals(line: Line, party: bool) -> bool:
        text = line.text
        return bool(_WHEREAS.match(text) or _RECITALS_HEADING.match(text)
                    or (party and _BACKGROUND_HEADING.match(text)))

    def _recitals(self, i: int, party: bool) -> int:
        """Mark WHEREAS clauses and the paragraphs of a RECITALS section, each a unit of its own."""
        lines = self.lines
        section, seen, in_section = 0, False, False
        while i < len(lines):
            line = lines[i]
            text = line.text
            if _RECITALS_HEADING.match(text) or (party and _BACKGROUND_HEADING.match(text)):
                section = self._section(text, -1, None)
                self._mark(line.start, "recital", section)
                seen = in_section = True
            elif _WHEREAS.match(text):
                seen = True
                self._mark(line.start, "recital", section)
                if self._recital_inline(line, section):
                    return i + 1
            elif not seen:
                break
            elif _NOW_THEREFORE.match(text):
                # "NOW, THEREFORE, ... agree as follows:" closes the recitals.
                self._mark(line.start, "recital", section)
                self._after_sentence(line, line.start, 0)
                return i + 1
            elif line.rank is not None or self._signature_at(i) is not None:
                break
            elif line.paragraph and not _SUB_ITEM.match(text):
                if not in_section:
                    break  # a WHEREAS clause is one paragraph; the next plain one starts the body
                self._mark(line.start, "recital", section)
            i += 1
        return i

    def _recital_inline(self, line: Line, section: int) -> bool:
        """Recitals run together in one line; True when a NOW THEREFORE in it ends them."""
        text = line.text
        if "WHEREAS" not in text[1:] and "herefore" not in text and "HEREFORE" not in text:
            return False
        for match in _RECITAL_INLINE.finditer(text, 1):
            position = line.start + match.start("at")
            self._mark(position, "recital", section)
            if match.group("now"):
                self._after_sentence(line, position, 0)
                return True
        return False

    def _after_sentence(self, line: Line, position: int, section: int) -> None:
        """What follows the NOW THEREFORE sentence on its line (flattened text) is body again."""
        match = _SENTENCE_END.search(line.text, position - line.start + 12)
        if match is not None and line.start + match.end() < line.end:
            cut = line.start + match.end()
            self._mark(cut, "body", section)
            self._inline_definitions(line, cut, section)

    def _inline_definitions(self, line: Line, position: int, section: int) -> bool:
        """Definitions chained in one line (`"A" means ...; "B" means ...`) become units of their own."""
        text = line.text
        if '"' not in text and "\u201c" not in text:
            return False
        found = False
        for offset in chained_definitions(text, position - line.start + 1):
            quote = line.start + offset
            last_start, kind, _ = self.marks[-1]
            if kind != "definition":
                # Only after a lead-in such as "the following terms have these meanings:".
                lead_start = max(last_start, line.start)
                if quote - lead_start > 500 or not _DEFINITIONS_LEAD.search(self.text, lead_start, quote):
                    continue
                self._mark(lead_start, "definition", section)
            self._mark(quote, "definition", section)
            found = True
        return found

    def _body(self, i: int) -> None:
        lines = self.lines
        self.body_start = lines[i].start if i < len(lines) else len(self.text)
        section, base = self.marks[-1][2] if self.marks[-1][1] == "body" else 0, "body"
        prose_run = 0  # long paragraphs in a row that define nothing, inside a definitions section
        while i < len(lines):
            line = lines[i]
            text = line.text
            kind = self.marks[-1][1]
            signature = self._signature_at(i)
            if signature is not None:
                end = self._signature_end(i)
                self._mark(signature, "signature", 0)
                # The signature block closes every open section: what follows it belongs to none of them.
                self.stack.clear()
                section, base = 0, "body"
                if end < len(lines):
                    self._mark(lines[end].start, "body", 0)
                i = end
                continue
            if _WHEREAS.match(text):
                self._mark(line.start, "recital", section)
                self._recital_inline(line, section)
            elif kind == "recital" and _NOW_THEREFORE.match(text):
                self._mark(line.start, "recital", section)
                self._after_sentence(line, line.start, section)
            elif line.rank is not None and text not in self.page_headers:
                i = self._heading(i)
                section = self.marks[-1][2]
                base = "definition" if self.sections[section].definitions else "body"
                prose_run = 0
            elif opens_definition(text):
                self._mark(line.start, "definition", section)
                prose_run = 0
            elif line.paragraph:
                if base == "definition" and _is_plain_paragraph(text):
                    prose_run += 1
                    # Long paragraphs in a row that define nothing: the definitions ended at a heading
                    # that is not on a line of its own (text whose line breaks were lost).
                    base = "body" if prose_run >= 3 else base
                if kind != base or (base == "definition" and not _SUB_ITEM.match(text)):
                    # A new paragraph ends a lone definition or recital; in a definitions section each
                    # paragraph but a sub-item "(a) ..." is a definition of its own.
                    self._mark(line.start, base, section)
            if self._inline_definitions(line, max(self.marks[-1][0], line.start), section):
                prose_run = 0
            i += 1

    def _heading(self, i: int) -> int:
        """Open the section of heading line i; return the index of its last line (a title may follow)."""
        lines = self.lines
        line = lines[i]
        label = line.text
        following = lines[i + 1] if i + 1 < len(lines) else None
        if line.bare and following and is_title(following) and following.text not in self.page_headers:
            i += 1
            label = f"{label} {following.text}"  # "ARTICLE I" + "DEFINITIONS"
        assert line.rank is not None
        stack, sections = self.stack, self.sections
        while stack and sections[stack[-1]].rank >= line.rank:
            stack.pop()
        if len(line.number) > 1:
            # "2.2" cannot sit under "ARTICLE I" or "1. DEFINITIONS": close numbered headings whose number
            # is not its prefix (a heading in between was not on a line of its own).
            while stack and (number := sections[stack[-1]].number) and line.number[: len(number)] != number:
                stack.pop()
        parent = stack[-1] if stack else None
        definitions = is_definitions_heading(label) or (parent is not None and sections[parent].definitions)
        section = self._section(label, line.rank, parent, definitions, line.number)
        self.stack.append(section)
        kind: ChunkKind = "definition" if definitions or opens_definition(line.text) else "body"
        self._mark(line.start, kind, section)
        return i

    def _signature_at(self, i: int) -> int | None:
        """Where a signature block starts on line i: IN WITNESS WHEREOF, or "By:" with more fields near."""
        line = self.lines[i]
        text = line.text
        if text[0] in "Ii" and _WITNESS.match(text):
            return line.start
        # "By:" starts a block only with another field on its line or within the next six lines.
        if text[0] in "BbNnSsPp" and _SIGNER_FIELD.match(text) and (
            _FIELD.search(text, 3) or any(_FIELD.match(other.text) for other in self.lines[i + 1 : i + 7])
        ):
            return self._signature_lead(i)
        if "itness" in text or "ITNESS" in text:
            match = _WITNESS.search(text, 1)
            if match is not None:
                return line.start + match.start()
        return None

    def _signature_lead(self, i: int) -> int:
        """Take in up to three short lines naming the signing party ("ACME CORP.", "LICENSOR:")."""
        k = i
        while k > 0 and i - k < 3:
            previous = self.lines[k - 1]
            text = previous.text
            if len(text) > 60 or previous.style in STRUCTURAL or previous.start < self.body_start:
                break
            if not (text.upper() == text or text.endswith((":", ","))):
                break
            k -= 1
        return self.lines[k].start

    def _signature_end(self, i: int) -> int:
        """Index of the first line after the signature block that starts on line i."""
        lines = self.lines
        last = i  # the last line with a signature field
        for j in range(i + 1, len(lines)):
            line = lines[j]
            if line.style in STRUCTURAL or line.style == "attach":
                return j
            if _FIELD.match(line.text) or _WITNESS.match(line.text):
                last = j
            elif _is_prose(line.text):
                # A heading right above the prose titles it, not the signatures.
                while j - 1 > last and lines[j - 1].rank is not None:
                    j -= 1
                return j
            elif j - last > 8:
                return last + 4  # names and titles printed under the last field, then the block ends
        return len(lines)


def _party_sentence_end(line: Line) -> int | None:
    """In a very long party line (text without line breaks), where the sentence naming the parties ends."""
    if len(line.text) <= _PREAMBLE_MAX_LINE:
        return None
    for match in _PARTY_SENTENCE_END.finditer(line.text, 200):
        if match.group(1) not in _ABBREVIATIONS:
            return line.start + match.end()
    return None


def _pick_title(lines: list[Line]) -> str:
    """The document's title among its leading heading lines: the one naming an agreement, else the first."""
    for line in lines:
        if line.style == "caps" and _TITLE_DOCUMENT.search(line.text):
            return line.text
    return next((line.text for line in lines if line.style == "caps"), lines[0].text)


def _join_labels(labels: list[str]) -> str:
    """One label naming every section of a merged chunk, shortened to fit MAX_SECTION_LABEL."""
    if len(labels) <= 1:
        return labels[0] if labels else ""
    joined = "; ".join(" ".join(label.split()) for label in labels)
    if len(joined) <= MAX_SECTION_LABEL:
        return joined
    short = [_short_label(label) for label in labels]
    joined = "; ".join(short)
    if len(joined) <= MAX_SECTION_LABEL:
        return joined
    return f"{short[0]} \u2026 {short[-1]} ({len(labels)} sections)"


def _short_label(label: str, limit: int = 40) -> str:
    """A heading cut to its number and title: "1.1 LICENSE." from "1.1 LICENSE. Subject to ..."."""
    label = " ".join(label.split())
    if len(label) <= limit:
        return label
    first_space = label.find(" ")
    title_end = _SENTENCE_END.search(label, first_space + 1, limit + 1) if first_space > 0 else None
    if title_end is not None:
        return label[: title_end.end()]
    cut = label.rfind(" ", 0, limit)
    return (label[:cut] if cut > 0 else label[:limit]).rstrip(" ,;:") + "\u2026"

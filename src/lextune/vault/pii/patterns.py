"""Pattern recognizers for addresses and labelled identifiers (accounts, passports, SSNs, birth dates).

Numbers are recognized only next to their label ("Account No.: 1234-5678", "born on May 2, 1961"):
contracts are full of section numbers, amounts and dates that are not personal data.
"""

from __future__ import annotations

import re

from presidio_analyzer import LocalRecognizer, Pattern, PatternRecognizer, RecognizerResult
from presidio_analyzer.nlp_engine import NlpArtifacts

from lextune.vault.pii.names import SUFFIX_TAIL
from lextune.vault.pii.vocab import wordset

_STATES = (
    "Alabama|Alaska|Arizona|Arkansas|California|Colorado|Connecticut|Delaware|Florida|Georgia|Hawaii|Idaho|"
    "Illinois|Indiana|Iowa|Kansas|Kentucky|Louisiana|Maine|Maryland|Massachusetts|Michigan|Minnesota|"
    "Mississippi|Missouri|Montana|Nebraska|Nevada|New[ \t]+Hampshire|New[ \t]+Jersey|New[ \t]+Mexico|New[ \t]+York|"
    "North[ \t]+Carolina|North[ \t]+Dakota|Ohio|Oklahoma|Oregon|Pennsylvania|Rhode[ \t]+Island|"
    "South[ \t]+Carolina|South[ \t]+Dakota|Tennessee|Texas|Utah|Vermont|Virginia|Washington|West[ \t]+Virginia|"
    "Wisconsin|Wyoming|District[ \t]+of[ \t]+Columbia|Ontario|Quebec|British[ \t]+Columbia|Alberta"
)
_STATE_CODES = (
    "A[LKZR]|C[AOT]|D[EC]|FL|GA|HI|I[DLNA]|K[SY]|LA|M[EDAINSOT]|N[EVHJMYCD]|O[HKR]|PA|RI|S[CD]|T[NX]|UT|V[TA]|"
    "W[AVIY]|PR|ON|QC|BC|AB"
)
_COUNTRIES = (
    r"USA|U\.S\.A\.?|United[ \t]+States(?:[ \t]+of[ \t]+America)?|Canada|Mexico|Brazil|France|Germany|Spain|SPAIN|"
    r"Italy|Israel|Japan|China|P\.R\.[ \t]?China|People's[ \t]+Republic[ \t]+of[ \t]+China|Hong[ \t]+Kong|Singapore|"
    r"India|Australia|Switzerland|Netherlands|Belgium|Sweden|Denmark|Norway|Finland|Ireland|"
    r"United[ \t]+Kingdom|England|UK|Costa[ \t]+Rica|South[ \t]+Africa|Korea|Taiwan|Vanuatu|Malaysia|Austria"
)
_STREET = (
    r"(?i:Street|Avenue|Road|Boulevard|Drive|Lane|Court|Place|Parkway|Highway|Circle|Square|Plaza|Terrace|Trail|"
    r"Center|Centre|Expressway|Freeway|Turnpike|Pike|Alley|Loop|Crescent|Close|Mews|Wharf|Quay|Broadway|Lanes?)"
    # Abbreviations only capitalized: "1 st day of May" is a date.
    r"|St|ST|Ave|AVE|Rd|RD|Blvd|BLVD|Dr|DR|Ln|LN|Ct|CT|Pl|PL|Pkwy|PKWY|Hwy|HWY|Cir|Sq|Expy|Fwy|Way|WAY|Row|Walk|Park|"
    r"PARK|Green|Gardens?"
)
_UNIT = (
    r"(?:(?i:Suite|Ste\.?|Floor|Fl\.?|Room|Rm\.?|Unit|Building|Bldg\.?|Apt\.?|Apartment)|#|No\.)"
    r"[ \t]*[\w\-]+|\d+(?:st|nd|rd|th)[ \t]+[Ff]loor"
)
_SP = r"[ \t]{1,3}"
_CITY = r"[A-Z][A-Za-z.'\-]+(?:[ \t]{1,2}[A-Z][A-Za-z.'\-]+){0,3}"
# Between the parts of an address: a comma, spaces (column layouts pad with dozens) or one line break.
_GAP = r"(?:,?(?:[ \t]{1,40}|[ \t]*\n[ \t]*)|,)"
# The postcode makes the state safe to match in any case ("Pa. 19460"); Australia's states too.
_CITY_STATE_ZIP = (
    rf"{_CITY},?{_SP}(?:(?i:{_STATES}|{_STATE_CODES})\.?,?(?:{_SP}|[ \t]*\n[ \t]*)\d{{5}}(?:-\d{{4}})?"
    rf"|(?:VIC|NSW|QLD|TAS|ACT|Victoria|Queensland|Tasmania|New[ \t]South[ \t]Wales){_SP}\d{{4}})"
)
_TAIL = rf"(?:{_GAP}(?:{_UNIT}))*(?:{_GAP}{_CITY_STATE_ZIP})?(?:,?(?:{_SP}|[ \t]*\n[ \t]*)(?i:{_COUNTRIES})\b)?"
_CITY_COUNTRY = rf"(?:,?{_SP}{_CITY})?[,.]?{_SP}(?:{_COUNTRIES})\b"
_NUMBER = r"\b\d{1,6}(?:[ \t]?-[ \t]?\d{1,5}(?:st|nd|rd|th)?)?[A-Za-z]?"
_NAME_WORDS = r"(?:(?:[NSEW]\.|[NS][EW]\.?|North|South|East|West|of|the|de|la|[A-Z0-9][\w'’.\-]*)[ \t]{1,3}){0,5}?"

US_STREET = re.compile(
    rf"{_NUMBER},?{_SP}{_NAME_WORDS}(?:(?:{_STREET})\b\.?(?:,?{_SP}(?:[NSEW]\.?[EW]?\.?|North|South|East|West)\b\.?)?"
    rf"{_TAIL}|[A-Z][\w'’.\-]*(?:{_GAP}(?:{_UNIT}))*{_GAP}{_CITY_STATE_ZIP}(?:,?{_SP}(?i:{_COUNTRIES})\b)?)"
)
# "2nd Floor, Transpacific Haus Lini Highway, Port Vila. Vanuatu", "Unit 05, 4F, Energy Plaza No. 92,
# Granville Road ... Hong Kong": a unit first, then the street, then city and country.
UNIT_FIRST = re.compile(
    rf"(?:{_UNIT})(?:[ \t]*,?[ \t]{{1,3}}[A-Z0-9][\w.°'’\-]*){{1,10}}[ \t]{{1,3}}(?:{_STREET})\b\.?"
    rf"(?:(?:{_SP}[A-Z][a-z]+){{0,4}}{_CITY_COUNTRY}|{_TAIL})"
)
ROUTE = re.compile(rf"{_NUMBER}{_SP}(?:Route|Rte\.?|Highway|Hwy\.?|Interstate){_SP}\d+[A-Za-z]?\b(?:{_SP}(?:East|West|North|South)\b)?{_TAIL}")
CITY_STATE_ZIP = re.compile(rf"\b{_CITY_STATE_ZIP}")
PO_BOX = re.compile(rf"\b(?:P\.?[ \t]?O\.?[ \t]?B(?:ox|OX)\.?|Post[ \t]+Office[ \t]+Box|POB|PO[ \t]+Box)[ \t]*\d+{_TAIL}")
# European and Latin-American street lines: "Friedrich-Ebert-Str. 68, 51429 Bergisch Gladbach, Germany",
# "1 allée Pierre Nadot, 31712 Blagnac", "Avenida Marcos Penteado de Ulhoa Rodrigues, 939".
_POSTAL_TAIL = rf"(?:,?[ \t]{{1,3}}(?:CEP[ \t]+)?\d{{4,6}}(?:-\d{{3}})?,?[ \t]{{1,3}}{_CITY})?(?:,?[ \t]{{1,3}}(?:{_COUNTRIES})\b)?"
EURO_STREET = re.compile(
    rf"\b[A-Z][\w\-]*(?:[Ss]tr\.|straße|strasse|Strasse|[Ww]eg|[Pp]latz|[Aa]llee|[Gg]asse|laan|straat|gade|vej|gatan|parken){_SP}\d+[a-z]?{_POSTAL_TAIL}"
    rf"|\b\d{{1,5}},?{_SP}(?:rue|allée|avenue|boulevard|chemin|place|quai|impasse|via|viale|piazza|calle|rua)"
    rf"(?:{_SP}(?:de|du|des|la|le|di|del|da|do)?[ \t]*[A-Z][\w'’\-]+){{1,5}}{_POSTAL_TAIL}"
    rf"|\b(?:Avenida|Av\.|Rua|Calle|Paseo|P°|Via|Viale|Piazza|Rue)(?:{_SP}(?:de|da|do|del|la|di)?[ \t]*[A-Z][\w'’\-ôéá]+){{1,6}},?"
    rf"{_SP}(?:N°[ \t]*)?\d{{1,5}}{_POSTAL_TAIL}"
)
# Free-form addresses after "located at", "offices at", "Address:": up to the first word in lower case
# that is not an address particle, a bracket, or a semicolon; must hold a digit (number or postcode).
_LEAD = re.compile(
    r"(?:\b(?:address(?:es)?|located|offices?|business|residing|resides|domiciled|situated|facilit(?:y|ies)|premises)"
    r"(?:[ \t]+is)?[ \t]+(?:at|in)"
    r"|\bAddress[ \t]*:)[ \t]*:?[ \t]*",
    re.IGNORECASE,
)
# Lower-case words that occur inside addresses ("9° andar", "suite 201", "Off Jalan Klang Lama").
_PARTICLES = wordset("""
de la du des del da do di of the van von der le y e off and andar piso planta sala étage etage bis floor
suite unit room no box h th st nd rd
""")
# Labels that end a free-form address ("... Costa Rica Attention: Luis Gutierrez").
_STOP_LABELS = wordset("""
attention attn tel telephone phone fax facsimile email e-mail by name title with copy
""")
# Notice blocks and preambles put the address right after the company: "ACME LIMITED of 4 Adelaide
# Street, ...", "Acme AG, Friedrich-Ebert-Allee 140, ...". The span must then look like an address.
_AFTER_COMPANY = re.compile(
    rf"(?<=[\w)]){SUFFIX_TAIL}(?:[ \t]+(?:of|at)[ \t]+|,[ \t]*|[ \t]*\n[ \t]*|[ \t]{{2,}})(?=[A-Z0-9])"
)
_ADDRESS_SHAPED = re.compile(
    rf"^\d{{1,6}}\b.*\b(?:{_STREET})\b|\b\d{{4,6}}\b.*\b(?:{_COUNTRIES})\s*$|\b(?:{_COUNTRIES})\s*$"
    rf"|{_CITY_STATE_ZIP}",
)
_NOT_ADDRESS = re.compile(r"^(?:Section|Article|Exhibit|Schedule|Clause|Paragraph|Annex)\b|\*\*\*|Agreement", re.IGNORECASE)
_FREE_TOKEN = re.compile(r"[^\s,;()]+")


class AddressRecognizer(LocalRecognizer):
    """Street addresses: US street lines with city/state/ZIP, P.O. boxes, European street lines, and
    any address written after "located at" / "offices at" / "Address:"."""

    def __init__(self):
        super().__init__(supported_entities=["ADDRESS"], name="AddressRecognizer")

    def load(self) -> None:
        pass

    def analyze(self, text: str, entities, nlp_artifacts: NlpArtifacts | None = None):
        out = []
        for pattern, score in ((US_STREET, 0.7), (UNIT_FIRST, 0.6), (ROUTE, 0.7), (PO_BOX, 0.7), (EURO_STREET, 0.6), (CITY_STATE_ZIP, 0.6)):
            for m in pattern.finditer(text):
                end = m.end()
                while end > m.start() and text[end - 1] in ", \t\n":
                    end -= 1
                out.append(RecognizerResult("ADDRESS", m.start(), end, score))
        for m in _LEAD.finditer(text):
            span = _free_address(text, m.end())
            if span:
                out.append(RecognizerResult("ADDRESS", span[0], span[1], 0.6))
        for m in _AFTER_COMPANY.finditer(text):
            span = _free_address(text, m.end())
            if span and _ADDRESS_SHAPED.search(text[span[0]:span[1]]):
                out.append(RecognizerResult("ADDRESS", span[0], span[1], 0.6))
        return out


def _free_address(text: str, start: int) -> tuple[int, int] | None:
    pos, end, limit = start, start, min(len(text), start + 220)
    while pos < limit:
        gap = re.match(r"[ \t,\-]*(?:\n[ \t]*)?", text[pos:limit])
        nxt = pos + gap.end()
        if "\n\n" in text[pos:nxt] or nxt >= limit or text[nxt] in "();\"“[":
            break
        tok = _FREE_TOKEN.match(text, nxt)
        if not tok:
            break
        word = tok.group()
        if word[0].islower() and word.strip(".") not in _PARTICLES or word.strip(".:").lower() in _STOP_LABELS:
            break
        pos = tok.end()
        if word.strip(".") not in _PARTICLES:  # "... Japan, and its": a trailing particle is not the address
            end = pos
    span = text[start:end].rstrip(" ,.-")
    if len(span) < 8 or not re.search(r"\d", span) or not re.search(r"[A-Za-z]{3}", span) or _NOT_ADDRESS.search(span):
        return None
    return start, start + len(span)


_DATE = (
    r"(?:\d{1,2}[/.\-]\d{1,2}[/.\-]\d{2,4}|\d{4}-\d{2}-\d{2}|(?:January|February|March|April|May|June|July|August|"
    r"September|October|November|December|Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec)\.?[ \t]+\d{1,2}(?:st|nd|rd|th)?,?"
    r"[ \t]+\d{4}|\d{1,2}(?:st|nd|rd|th)?[ \t]+(?:of[ \t]+)?(?:January|February|March|April|May|June|July|August|"
    r"September|October|November|December)[ \t,]+\d{4})"
)
_NO = r"(?:[ \t]+(?:[Nn]o\.?|[Nn]umber|NUMBER|NO\.?|#|[Nn]um\.?))?[ \t]*[:#.]?[ \t]*"


def _labelled(name: str, entity: str, label: str, value: str, score: float = 0.85) -> PatternRecognizer:
    # The value is the only capture group; PatternRecognizer reports the whole match, so the label is
    # put in a look-behind-free prefix and trimmed in `LabelledValueRecognizer`.
    return LabelledValueRecognizer(name, entity, re.compile(rf"(?:{label}){_NO}(?P<value>{value})"), score)


class LabelledValueRecognizer(LocalRecognizer):
    """A value that follows its label ("Passport No. X1234567"); only the value is reported."""

    def __init__(self, name: str, entity: str, pattern: re.Pattern, score: float):
        super().__init__(supported_entities=[entity], name=name)
        self.pattern, self.score, self.entity = pattern, score, entity

    def load(self) -> None:
        pass

    def analyze(self, text: str, entities, nlp_artifacts: NlpArtifacts | None = None):
        return [RecognizerResult(self.entity, m.start("value"), m.end("value"), self.score)
                for m in self.pattern.finditer(text) if sum(c.isdigit() for c in m.group("value")) >= 4
                or self.entity == "DATE_OF_BIRTH"]


def pattern_recognizers() -> list[LocalRecognizer]:
    ci = "(?i:{})".format
    return [
        AddressRecognizer(),
        _labelled("AccountNumberRecognizer", "ACCOUNT_NUMBER",
                  ci(r"\b(?:bank[ \t]+)?(?:account|acct\.?|a/c)|\brouting|\bABA(?:[ \t]+routing)?|\bsort[ \t]+code"),
                  r"[0-9][0-9 \-]{3,30}[0-9]\b"),
        _labelled("PassportRecognizer", "PASSPORT", ci(r"\bpassport"), r"[A-Z0-9]{6,10}\b"),
        _labelled("SsnLabelRecognizer", "US_SSN", ci(r"\bsocial[ \t]+security|\bSSN|\bS\.S\.N\.?|\bSS#"),
                  r"\d{3}[- ]?\d{2}[- ]?\d{4}\b"),
        _labelled("DateOfBirthRecognizer", "DATE_OF_BIRTH",
                  ci(r"\bborn(?:[ \t]+on)?|\bdate[ \t]+of[ \t]+birth|\bbirth[ \t]*date|\bDOB|\bD\.O\.B\.?"), _DATE),
        _labelled("PhoneLabelRecognizer", "PHONE_NUMBER",
                  ci(r"\b(?:tel(?:ephone)?|phone|fax|facsimile|telecopier|telecopy|telefax|mobile|cell|direct)\.?"),
                  r"\+?[ \t]?\(?\d[\d \t().\-/]{5,22}\d"),
    ]


__all__ = ["Pattern", "pattern_recognizers"]

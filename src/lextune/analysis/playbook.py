"""A firm's review playbook in YAML: which clauses must be there, which must not, and what their terms may be.

Validated strictly (unknown keys are errors, clause types must be CUAD categories) so a typo fails loudly
instead of silently turning a rule off. The shipped example lives in lextune/demo_data/playbook.yaml.
"""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from lextune.core.errors import ConfigError, DatasetError
from lextune.core.yaml_config import describe_validation, read_yaml_mapping
from lextune.data import cuad_categories

from .records import Severity

DEFAULT_PLAYBOOK = "playbook.yaml"


def _clause_type(name: str) -> str:
    try:
        return cuad_categories.resolve([name])[0]
    except DatasetError as e:  # pydantic reports a ValueError as an error of the field
        raise ValueError(str(e).replace("CUAD clause type(s)", "clause type")) from None


class _Rule(BaseModel):
    model_config = ConfigDict(extra="forbid")
    severity: Severity = Field("medium", description="high, medium or low.")
    recommendation: str = Field("", description="What the reviewer should do when the rule fires.")


class ClauseRule(_Rule):
    """A clause type that must be present (`required`) or must not be (`forbidden`)."""

    clause: str = Field(description="A CUAD clause type, e.g. 'Cap on Liability' (case-insensitive).")

    @field_validator("clause")
    @classmethod
    def _known(cls, v: str) -> str:
        return _clause_type(v)


class GoverningLawRule(_Rule):
    """The governing law must be one of `allowed`; 'unknown' (no jurisdiction read) fires too unless off."""

    allowed: list[str] = Field(min_length=1, description="Jurisdictions, e.g. ['New York'].")
    flag_unknown: bool = Field(True, description="Also flag a governing-law clause whose jurisdiction "
                                                 "cannot be read.")


class RenewalNoticeRule(_Rule):
    """An automatic renewal must let a party stop it with at least `min` days' notice."""

    min: int = Field(ge=0, description="Fewest days of notice to stop an automatic renewal.")
    flag_unknown: bool = Field(True, description="Also flag an automatic renewal whose notice period "
                                                 "cannot be read.")


class PhraseRule(_Rule):
    """Words that need a reviewer's eye wherever they appear (a case-insensitive regular expression)."""

    pattern: str = Field(min_length=1, description="Regular expression, matched case-insensitively.")
    name: str = Field("", description="How flags call it (default: the pattern).")

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, v: str) -> str:
        try:
            re.compile(v)
        except re.error as e:
            raise ValueError(f"not a valid regular expression: {e}") from None
        return v


def _shorthand(items: Any) -> Any:
    """`required: [Governing Law]` means `required: [{clause: Governing Law}]`."""
    if isinstance(items, list):
        return [{"clause": i} if isinstance(i, str) else i for i in items]
    return items


class Playbook(BaseModel):
    """A named set of review rules; every section is optional."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, description="Shown in reports, e.g. 'Acme standard MSA playbook'.")
    description: str = ""
    required: list[ClauseRule] = Field(default_factory=list, description="Clause types that must be present.")
    forbidden: list[ClauseRule] = Field(default_factory=list, description="Clause types that must be absent.")
    governing_law: GoverningLawRule | None = None
    renewal_notice_days: RenewalNoticeRule | None = None
    phrases: list[PhraseRule] = Field(default_factory=list, description="Words that always need a look.")

    @field_validator("required", "forbidden", mode="before")
    @classmethod
    def _expand(cls, v: Any) -> Any:
        return _shorthand(v)

    def clause_types(self) -> list[str]:
        """Every clause type the rules look at, in rule order, without repeats."""
        names = [r.clause for r in self.required] + [r.clause for r in self.forbidden]
        if self.governing_law:
            names.append("Governing Law")
        if self.renewal_notice_days:
            names.append("Renewal Term")
        return list(dict.fromkeys(names))


def playbook_from_dict(data: dict[str, Any], source: str = "playbook") -> Playbook:
    """Validate a parsed playbook; ConfigError naming `source` and every bad field otherwise."""
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: a playbook is a mapping of keys to values, got {type(data).__name__}")
    try:
        return Playbook.model_validate(data)
    except ValidationError as e:
        raise ConfigError(describe_validation(e, source, "playbook")) from None


def load_playbook(path: Path | str | None = None) -> Playbook:
    """The playbook in the YAML file `path`, or the shipped default for None."""
    if path is None:
        return default_playbook()
    path = Path(path)
    return playbook_from_dict(read_yaml_mapping(path, "playbook"), str(path))


def default_playbook() -> Playbook:
    """The example playbook shipped in lextune/demo_data/playbook.yaml."""
    return load_playbook(Path(str(resources.files("lextune") / "demo_data" / DEFAULT_PLAYBOOK)))

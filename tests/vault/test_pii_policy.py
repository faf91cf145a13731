"""PiiPolicy: defaults, precise errors, and a hash that changes with the policy."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from lextune.core.errors import ConfigError
from lextune.vault.pii import DEFAULT_ACTIONS, ENTITY_TYPES, PiiPolicy
from lextune.vault.pii import policy as policy_module


def test_defaults_pseudonymize_names_and_mask_the_rest():
    p = PiiPolicy()
    assert p.action("PARTY") == "pseudonym" and p.action("PERSON") == "pseudonym"
    assert {p.action(t) for t in ENTITY_TYPES if t not in ("PARTY", "PERSON")} == {"mask"}
    assert set(ENTITY_TYPES) >= {"PARTY", "PERSON", "ADDRESS", "EMAIL_ADDRESS", "PHONE_NUMBER", "IBAN_CODE", "US_SSN",
                                 "PASSPORT", "ACCOUNT_NUMBER", "DATE_OF_BIRTH", "CREDIT_CARD"}


def test_an_override_keeps_the_other_defaults():
    p = PiiPolicy(actions={"ADDRESS": "keep"})
    assert p.action("ADDRESS") == "keep"
    assert p.action("PARTY") == DEFAULT_ACTIONS["PARTY"]


def test_unknown_entity_type_is_a_precise_error():
    with pytest.raises(ValidationError, match="unknown entity type.*'PARTIES'"):
        PiiPolicy(actions={"PARTIES": "mask"})


def test_unknown_action_and_unknown_field_are_errors():
    with pytest.raises(ValidationError, match="actions.PARTY"):
        PiiPolicy(actions={"PARTY": "hash"})
    with pytest.raises(ValidationError, match="extra"):
        PiiPolicy(actions={}, mode="strict")


def test_parse_turns_bad_config_into_one_config_error_line():
    with pytest.raises(ConfigError, match=r"^PII policy: actions.*unknown entity type") as e:
        PiiPolicy.parse({"actions": {"SSN": "mask"}})
    assert "\n" not in str(e.value)
    assert PiiPolicy.parse({"actions": {"PERSON": "mask"}}).action("PERSON") == "mask"
    assert PiiPolicy.from_actions({"ADDRESS": "keep"}).action("ADDRESS") == "keep"
    with pytest.raises(ConfigError, match="PARTY"):
        PiiPolicy.from_actions({"PARTY": "erase"})


def test_config_hash_follows_policy_and_recognizer_version(monkeypatch):
    base = PiiPolicy().config_hash()
    assert base == PiiPolicy(actions=dict(DEFAULT_ACTIONS)).config_hash()  # defaults count as stated
    assert base != PiiPolicy(actions={"PERSON": "mask"}).config_hash()
    monkeypatch.setattr(policy_module, "RECOGNIZERS_VERSION", "test-bump")
    assert PiiPolicy().config_hash() != base

"""Personal data in documents: find it (Presidio + legal recognizers), decide its replacement, apply it.

    from lextune.vault.pii import Anonymizer, PiiPolicy, anonymize
    anon = Anonymizer(PiiPolicy(actions={"ADDRESS": "keep"}))
    reds = anon.redactions(text)          # list[Redaction], one document
    safe = anonymize(text, reds)          # "[PARTY_1] ("Licensee") shall ..."
"""

from lextune.vault.pii.anonymizer import Anonymizer, anonymize
from lextune.vault.pii.policy import DEFAULT_ACTIONS, ENTITY_TYPES, PiiPolicy

__all__ = ["DEFAULT_ACTIONS", "ENTITY_TYPES", "Anonymizer", "PiiPolicy", "anonymize"]

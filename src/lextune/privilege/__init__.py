"""Privilege review for discovery: recall-first triage, a precision stage with uncertainty, the review
queue and the privilege log (`lextune privilege run|log|eval`)."""

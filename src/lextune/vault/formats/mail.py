"""E-mail (.eml): one document of headers and body, and one document per attachment linked to it.

Attachments are loaded by the loader of their own suffix (PDF, DOCX, text, HTML, nested e-mail...);
one that fails is a warning naming the e-mail and the attachment, and the rest goes on.
"""

from __future__ import annotations

import mimetypes
from pathlib import Path
from typing import Any

from lextune.core.errors import IngestError
from lextune.core.records import LoadedDocument, LoadResult
from lextune.vault.formats.common import file_kind, require_text, stem
from lextune.vault.formats.encoding import BINARY, charset_codec, decode_text

# (header, label in the text, metadata key); the text starts with these lines in this order.
_HEADERS = (("from", "From", "from"), ("to", "To", "to"), ("cc", "Cc", "cc"), ("date", "Date", "date"),
            ("subject", "Subject", "subject"))
# Suffixes for attachments without a file name; mimetypes misses some office types on minimal systems.
_SUFFIXES = {
    "message/rfc822": ".eml",
    "text/plain": ".txt",
    "text/html": ".html",
    "text/markdown": ".md",
    "application/pdf": ".pdf",
    "application/json": ".json",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": ".docx",
}


def load_eml(path: Path, raw: bytes) -> LoadResult:
    """The e-mail (document 0) then its attachments (parent_index=0, part="attachment:NAME")."""
    from email import policy
    from email.parser import BytesParser

    nul = raw.find(b"\x00", 0, 4096)
    if nul >= 0:
        raise IngestError(path, f"{BINARY} (NUL byte at offset {nul})")
    message = BytesParser(policy=policy.default).parsebytes(raw)
    headers = {key: _header(message, name) for name, _, key in _HEADERS}
    message_id = _header(message, "message-id")
    if not any(headers.values()) and not message_id:
        raise IngestError(path, "not an e-mail message: no From, To, Cc, Date or Subject header")

    result = LoadResult()
    body_part = _body_part(message)
    body = _body_text(path, body_part, result.warnings) if body_part is not None else ""
    lines = [f"{label}: {headers[key]}" for _, label, key in _HEADERS if headers[key]]
    text = require_text(path, "\n".join(lines) + ("\n\n" + body if body else ""))

    metadata: dict[str, Any] = {key: value for key, value in headers.items() if value}
    if headers["date"]:
        metadata["date"] = _iso_date(message) or headers["date"]
    if message_id:
        metadata["message_id"] = message_id
    email_doc = LoadedDocument(title=headers["subject"] or stem(path), text=text, format="eml",
                               source_path=str(path), metadata=metadata)
    result.documents.append(email_doc)

    try:
        parts = _attachments(message, body_part)
    except Exception as exc:  # noqa: BLE001 - a damaged MIME tree loses its attachments, not the e-mail
        result.warnings.append(f"{path}: attachments unreadable ({exc or type(exc).__name__}); skipped")
        parts = []
    names: list[str] = []
    for number, part in enumerate(parts, start=1):
        name = _unique(_attachment_name(part, number), names)
        names.append(name)
        _add_attachment(path, name, part, result)
    if names:
        email_doc.metadata["attachments"] = names
    return result


def _header(message: Any, name: str) -> str:
    """A header's decoded value with whitespace collapsed ("" if absent); raw if it cannot be parsed."""
    try:
        value = message[name]
    except Exception:  # noqa: BLE001 - a malformed header must not lose the e-mail; fall back to its raw text
        value = next((v for k, v in message.raw_items() if k.lower() == name), None)
    return " ".join(str(value).split()) if value is not None else ""


def _iso_date(message: Any) -> str | None:
    try:
        when = message["date"].datetime
    except Exception:  # noqa: BLE001 - unparseable dates stay as written
        return None
    return when.isoformat() if when is not None else None


def _body_part(message: Any) -> Any:
    try:
        return message.get_body(preferencelist=("plain", "html"))
    except Exception:  # noqa: BLE001 - a broken MIME tree still has headers worth keeping
        return None


def _body_text(path: Path, part: Any, warnings: list[str]) -> str:
    """The body as text: declared charset, else detected; HTML converted like an .html file."""
    from lextune.vault.formats.html import html_to_text

    label = f"{path}: body"
    try:
        payload = part.get_payload(decode=True) or b""
        if not payload.strip():
            return ""
        decoded = decode_text(label, payload, declared=charset_codec(part.get_content_charset()))
        text = decoded.text
        if part.get_content_subtype() == "html":
            text = html_to_text(label, text)[1]
    except Exception as exc:  # noqa: BLE001 - a broken body still leaves headers worth keeping
        reason = exc.reason if isinstance(exc, IngestError) else str(exc) or type(exc).__name__
        warnings.append(f"{path}: body unreadable ({reason}); only the headers are kept")
        return ""
    warnings.extend(decoded.warnings)
    return text.strip()


def _attachments(message: Any, body_part: Any) -> list[Any]:
    """Attachment leaves: nested multiparts are opened, attached e-mails stay whole."""
    if not message.is_multipart():
        # A message that is a bare file (e.g. only a PDF) has no body: the file is its attachment.
        return [message] if body_part is None and message.get_payload(decode=True) else []
    found: list[Any] = []
    pending = list(message.iter_attachments())
    while pending:
        part = pending.pop(0)
        if part.get_content_maintype() == "multipart":
            pending[:0] = [p for p in part.iter_parts()]
        else:
            found.append(part)
    return found


def _attachment_name(part: Any, number: int) -> str:
    try:
        name = part.get_filename() or ""
    except Exception:  # noqa: BLE001 - an undecodable file name should not lose the attachment
        name = ""
    # Keep only the last path component: names like "C:\\Users\\x\\deal.pdf" or "../x" occur in the wild.
    name = name.replace("\\", "/").rsplit("/", 1)[-1].strip()
    if name and file_kind(Path(name)):
        return name
    # No name, or one without an extension ("Vertrag"): the content type says which loader applies.
    content_type = part.get_content_type()
    suffix = _SUFFIXES.get(content_type) or mimetypes.guess_extension(content_type) or ""
    return f"{name or f'attachment-{number}'}{suffix}"


def _unique(name: str, taken: list[str]) -> str:
    if name not in taken:
        return name
    suffix = file_kind(Path(name))
    base = name[: len(name) - len(suffix)] if suffix else name
    counter = 2
    while f"{base} ({counter}){suffix}" in taken:
        counter += 1
    return f"{base} ({counter}){suffix}"


def _attachment_bytes(part: Any) -> bytes:
    from email import errors

    if part.get_content_type() == "message/rfc822":
        return part.get_payload(0).as_bytes()
    data = part.get_payload(decode=True) or b""
    if any(isinstance(d, errors.InvalidBase64LengthDefect) for d in part.defects):
        raise ValueError("broken base64 encoding")
    return data


def _add_attachment(path: Path, name: str, part: Any, result: LoadResult) -> None:
    """Load one attachment with its own suffix's loader into `result`, or warn why not."""
    from lextune.vault.loaders import load_bytes  # imported here: loaders imports this module

    where = f"{path}: attachment {name!r}"
    try:
        loaded = load_bytes(Path(name), _attachment_bytes(part))
    except IngestError as exc:
        result.warnings.append(f"{where}: {exc.reason}; skipped")
        return
    except Exception as exc:  # noqa: BLE001 - one broken attachment must not lose the e-mail or the others
        result.warnings.append(f"{where}: {exc or type(exc).__name__}; skipped")
        return
    inner_prefix = f"{name}: "
    result.warnings.extend(f"{where}: {w.removeprefix(inner_prefix)}" for w in loaded.warnings)
    offset = len(result.documents)
    for doc in loaded.documents:
        part_label = f"attachment:{name}" + (f"/{doc.part}" if doc.part else "")
        parent = 0 if doc.parent_index is None else offset + doc.parent_index
        result.documents.append(doc.model_copy(update={"source_path": str(path), "part": part_label,
                                                       "parent_index": parent}))

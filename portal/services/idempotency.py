"""Idempotency keys: a POST applied once, however many times a weak link makes it arrive.

Each form carries a random key (``new_key()``, 22 URL-safe characters). The first request
with a ``(user, key)`` *claims* it: a row inserted in the same transaction as its change,
so the change and the claim commit together or not at all. Its answer (status, the
headers worth replaying, the body) is stored on the row, in that transaction when the view
can render before committing (``record`` then commit). A retry with the same key finds the
row and gets that answer; nothing is applied again. Two copies of a request arriving at
once: the second one's claim waits on the unique ``(user_id, key)`` and fails when the
first commits, and it then answers with the first one's result.

A key names one request: the same key with other fields (``fingerprint``) is refused
(``KeyReused``). Keys are kept ``KEEP`` (7 days) and deleted by a later claim
(``cleanup``). No request objects here: the view side is ``portal/idempotent.py``.
"""
import hashlib
import re
import secrets
import zlib
from datetime import timedelta

from sqlalchemy import delete, select

from ..extensions import db
from ..models import IdempotencyKey, utcnow

KEEP = timedelta(days=7)
KEY_RE = re.compile(r"[A-Za-z0-9_-]{16,64}")
COMPRESS_OVER = 1024  # bytes of body from which it is stored compressed
IGNORED_FIELDS = ("csrf_token", "idempotency_key")  # a fresh CSRF token is no other request


class KeyReused(Exception):
    """The key was used for another request (another path or other fields)."""


def new_key():
    """A fresh random key: 16 bytes, URL-safe base64 (22 characters)."""
    return secrets.token_urlsafe(16)


def valid_key(key):
    """True for a key the portal accepts: 16–64 of ``A-Z a-z 0-9 _ -``."""
    return bool(key) and KEY_RE.fullmatch(key) is not None


def fingerprint(path, fields):
    """sha256 (hex) of ``path`` and the submitted ``fields`` (an iterable of
    ``(name, value)``, order ignored), leaving out the CSRF token and the key."""
    h = hashlib.sha256(path.encode())
    for name, value in sorted((n, v) for n, v in fields if n not in IGNORED_FIELDS):
        h.update(b"\0" + name.encode() + b"=" + str(value).encode())
    return h.hexdigest()


def find(user_id, key, path, fp, now=None):
    """The stored claim of ``(user_id, key)``, else ``None``. An expired claim is deleted
    (flushed) and counts as none. Raises ``KeyReused`` when the claim is of another
    request (``path`` or fingerprint ``fp`` differ)."""
    row = db.session.scalar(select(IdempotencyKey).where(
        IdempotencyKey.user_id == user_id, IdempotencyKey.key == key))
    if row is None:
        return None
    if row.created_at < (now or utcnow()) - KEEP:
        db.session.delete(row)
        db.session.flush()
        return None
    if row.path != path or row.fingerprint != fp:
        raise KeyReused(key)
    return row


def claim(user_id, key, path, fp, now=None):
    """Insert (and flush) the claim of ``(user_id, key)`` in the current transaction.

    Raises ``sqlalchemy.exc.IntegrityError`` when another transaction holds it (the caller
    rolls back and answers with ``find``)."""
    row = IdempotencyKey(user_id=user_id, key=key, path=path[:200], fingerprint=fp,
                         created_at=now or utcnow())
    db.session.add(row)
    db.session.flush()
    return row


def record(row, status, headers, body):
    """Store the answer on a claim: ``status`` (int), ``headers`` (dict of str → str),
    ``body`` (bytes, compressed with zlib above ``COMPRESS_OVER`` bytes). Not committed."""
    row.status = status
    row.headers = dict(headers)
    if body is not None and len(body) > COMPRESS_OVER:
        row.body, row.body_encoding = zlib.compress(body, 6), "zlib"
    else:
        row.body, row.body_encoding = body, None


def stored_body(row):
    """The stored body, uncompressed (bytes; ``b""`` when none)."""
    if row.body is None:
        return b""
    return zlib.decompress(row.body) if row.body_encoding == "zlib" else row.body


def cleanup(now=None):
    """Delete the claims older than ``KEEP``; returns how many. Not committed."""
    cutoff = (now or utcnow()) - KEEP
    return db.session.execute(delete(IdempotencyKey).where(IdempotencyKey.created_at < cutoff)).rowcount

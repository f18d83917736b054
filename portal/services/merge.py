"""Merging two records of one person (a double registration, "trùng lĩnh"), field by field.

Nothing is lost: the merged record keeps its row, its history and its findings, with the
status ``merged`` and a pointer to the survivor; the survivor takes, for each field, the
value the officer chose; every change is an ``Event`` (source ``merge``); and ``undo``
puts both back as they were. Imports never merge: only an officer with rights over both
records does (the caller checks the scope).
"""
from datetime import date, datetime

from sqlalchemy import select

from ..extensions import db
from ..models import Account, Beneficiary, Finding, Merge, utcnow
from . import history

FIELDS = ("full_name", "sex", "birth_date", "birth_year", "national_id", "legacy_id", "village_id",
          "category", "coefficient", "monthly_amount", "phone", "note")
ACCOUNT_FIELDS = ("bank_bin", "number", "holder_name", "holder_national_id", "recipient_type")
REVIEW_FIELDS = ("account_status", "payment_method", "no_account_reason", "reviewed_at")


class MergeError(ValueError):
    """Two records that cannot be merged; the message says why (Vietnamese)."""


def _json(value):
    return value.isoformat() if isinstance(value, date) else value


def _unjson(field, value):
    if value is None:
        return None
    if field == "birth_date":
        return date.fromisoformat(value)
    if field == "reviewed_at":
        return datetime.fromisoformat(value)
    return value


def differences(a, b):
    """The fields (and ``account``, ``review``) on which ``a`` and ``b`` differ, with both
    values: ``[(field, a_value, b_value)]``."""
    out = [(f, getattr(a, f), getattr(b, f)) for f in FIELDS if getattr(a, f) != getattr(b, f)]
    acc = lambda r: tuple(getattr(r.account, f) for f in ACCOUNT_FIELDS) if r.account else None  # noqa: E731
    if acc(a) != acc(b):
        out.append(("account", acc(a), acc(b)))
    rev = lambda r: tuple(getattr(r, f) for f in REVIEW_FIELDS)  # noqa: E731
    if rev(a) != rev(b):
        out.append(("review", rev(a), rev(b)))
    return out


def check(a, b):
    """Raise ``MergeError`` when ``a`` and ``b`` cannot be merged: only records that may be
    one person (:func:`partners`: the same ID, or the same name and birth year in the
    commune) are merged, and never across programs."""
    if a.id == b.id:
        raise MergeError("Chọn hai hồ sơ khác nhau.")
    if "merged" in (a.status, b.status):
        raise MergeError("Một trong hai hồ sơ đã được gộp.")
    if a.program != b.program:
        raise MergeError("Hai hồ sơ thuộc hai chương trình khác nhau: đó là hai khoản trợ cấp, không gộp.")
    if b.id not in {p.id for p in partners(a)}:
        raise MergeError("Hai hồ sơ không cùng số định danh, cũng không cùng họ tên và năm sinh: "
                         "không phải hồ sơ trùng.")


def merge(a, b, user, choices):
    """Merge ``b`` into ``a``. ``choices``: field → ``"survivor"`` or ``"merged"`` for each
    field of :func:`differences` (missing means the survivor's). Returns the ``Merge``;
    the caller commits. Raises ``MergeError``."""
    check(a, b)
    taken = {f for f, side in choices.items() if side == "merged"}
    # Only what the merge changes is kept, so that undoing it leaves later edits alone.
    changed = [f for f in FIELDS if f in taken] + (list(REVIEW_FIELDS) if "review" in taken else [])
    before = {"survivor": {f: _json(getattr(a, f)) for f in changed},
              "survivor_account": ({f: getattr(a.account, f) for f in ACCOUNT_FIELDS}
                                   if a.account and "account" in taken else None),
              "merged": {"status": b.status, "merged_into_id": b.merged_into_id},
              "merged_findings": [f.id for f in b.findings if f.resolved_at is None]}
    history.set_fields(a, {f: getattr(b, f) for f in FIELDS if f in taken}, user, "merge")
    if "review" in taken:
        history.set_fields(a, {f: getattr(b, f) for f in REVIEW_FIELDS}, user, "merge")
    if "account" in taken and b.account is not None:
        if a.account is None:
            a.account = Account(recipient_type="self")
            db.session.add(a.account)
        history.set_fields(a.account, {f: getattr(b.account, f) for f in ACCOUNT_FIELDS}, user,
                           "merge", beneficiary_id=a.id)
    history.set_fields(b, {"status": "merged", "merged_into_id": a.id}, user, "merge")
    now = utcnow()
    from .registry import FINDINGS_OF_FIELD
    settled = {code for f in taken for code in FINDINGS_OF_FIELD.get(f, ())}
    before["survivor_findings"] = [f.id for f in a.findings if f.resolved_at is None and f.code in settled]
    for f in a.findings:
        if f.id in before["survivor_findings"]:
            f.resolved_at = now
    for f in b.findings:
        if f.resolved_at is None:
            f.resolved_at = now
    m = Merge(survivor_id=a.id, merged_id=b.id, choices=choices, before=before, user_id=user.id)
    db.session.add(m)
    db.session.flush()
    return m


def undo(m, user):
    """Put both records back as they were before ``m`` (caller commits). A field edited
    since the merge keeps its newer value. Returns the fields so kept."""
    if m.undone_at is not None:
        raise MergeError("Lần gộp này đã được hoàn tác.")
    a, b = m.survivor, m.merged
    # The merge gave a each chosen field b's value (b, merged, has not changed since).
    kept = [f for f in m.before["survivor"] if f in FIELDS + REVIEW_FIELDS
            and getattr(a, f) != getattr(b, f)]
    history.set_fields(a, {f: _unjson(f, v) for f, v in m.before["survivor"].items() if f not in kept},
                       user, "merge")
    saved = m.before.get("survivor_account")
    if saved is None and a.account is not None and m.choices.get("account") == "merged":
        history.set_fields(a.account, {f: None for f in ACCOUNT_FIELDS if f != "recipient_type"}, user,
                           "merge", beneficiary_id=a.id)
    elif saved is not None:
        history.set_fields(a.account, saved, user, "merge", beneficiary_id=a.id)
    history.set_fields(b, m.before["merged"], user, "merge")
    ids = (m.before.get("merged_findings") or []) + (m.before.get("survivor_findings") or [])
    if ids:
        for f in db.session.scalars(select(Finding).where(Finding.id.in_(ids))):
            f.resolved_at = None
    m.undone_at, m.undone_by_id = utcnow(), user.id
    db.session.flush()
    return kept


def partners(b):
    """Records that may be the same person as ``b``: the same ID, or the same folded name
    and birth year in the same commune and program (active, not merged)."""
    q = select(Beneficiary).where(Beneficiary.id != b.id, Beneficiary.status != "merged",
                                  Beneficiary.program == b.program)
    same_id = db.session.scalars(q.where(Beneficiary.national_id == b.national_id)).all() \
        if b.national_id else []
    same_name = db.session.scalars(q.where(
        Beneficiary.commune_id == b.commune_id, Beneficiary.name_folded == b.name_folded,
        Beneficiary.birth_year == b.birth_year)).all()
    seen, out = set(), []
    for p in same_id + same_name:
        if p.id not in seen:
            seen.add(p.id)
            out.append(p)
    return out


def merges_of(b):
    return db.session.scalars(select(Merge).where(
        (Merge.survivor_id == b.id) | (Merge.merged_id == b.id)).order_by(Merge.id)).all()

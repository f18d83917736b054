"""Door-to-door review (rà soát): record a visit, the account and the payment method.

A save carries the record's ``version`` as the officer saw it; when someone else saved in
between, ``Conflict`` is raised with both values and nothing is written.
"""
from datetime import date, datetime

from flask_babel import lazy_gettext as _l
from sqlalchemy import and_, case, func, select

from ..extensions import db
from ..models import Account, Beneficiary, Event, Household, Review, utcnow
from ..vn.banks import by_bin, check_account_number, normalise_account
from ..vn.ids import parse_national_id
from ..vn.text import fold, nfc, same_name
from . import counts, outreach
from .history import set_fields
from .scope import visible

# The refusal's coded reason and the planned revisit (services/outreach.py) ride with the
# status: one Event each when they change.
REVIEW_FIELDS = ("account_status", "no_account_reason", "payment_method", "refusal_reason", "revisit_on")
EARLIEST_VISIT = date(2020, 1, 1)
ACCOUNT_CODES = ("account_not_digits", "account_bad_length", "account_is_card_number",
                 "account_scientific_notation", "unknown_bank", "holder_not_self")
ACCOUNT_MESSAGES = {
    "account_not_digits": _l("Số tài khoản chỉ gồm chữ số."),
    "account_bad_length": _l("Độ dài số tài khoản không đúng (ngân hàng 6–19 chữ số; ví điện tử là số "
                             "điện thoại 10 chữ số bắt đầu bằng 0)."),
    "account_is_card_number": _l("Đây là số thẻ (16 hoặc 19 chữ số, bắt đầu 9704), không phải số "
                                 "tài khoản: hỏi số tài khoản in trên sổ hoặc trong ứng dụng."),
}
ACCOUNT_FIELDS = ("bank_bin", "number", "holder_name", "holder_national_id", "recipient_type")


class Conflict(Exception):
    """Someone saved this beneficiary after the form was opened.

    ``theirs``: field → current value in the database; ``mine``: field → submitted value,
    only for the fields where they differ.
    """

    def __init__(self, beneficiary, theirs, mine):
        super().__init__(f"beneficiary {beneficiary.id} changed since the form was opened")
        self.beneficiary, self.theirs, self.mine = beneficiary, theirs, mine


# A record no longer paid (stopped, Circular 02/2021/TT-BLĐTBXH Art. 2 cl. 1; or merged into
# another): no visit is recorded on it, it counts in no indicator.
CLOSED = ("stopped", "merged")


class ReviewError(ValueError):
    """Submitted values that break a rule: ``errors`` maps field → Vietnamese message."""

    def __init__(self, errors):
        super().__init__("; ".join(str(m) for m in errors.values()))
        self.errors = errors


def current_values(b):
    """The reviewable values of a beneficiary, as the form shows them."""
    a = b.account
    values = {f: getattr(b, f) for f in REVIEW_FIELDS}
    if values["account_status"] == "unknown":
        values["account_status"] = None  # not yet recorded: the officer must choose
    values.update({f: (getattr(a, f) if a else None) for f in ACCOUNT_FIELDS})
    if not values["recipient_type"]:
        values["recipient_type"] = "self"
    return values


def validate(data):
    """Check a review's values; returns them cleaned, raises ``ReviewError``.

    ``data`` keys: ``account_status``, ``no_account_reason``, ``payment_method``,
    ``bank_bin``, ``number``, ``holder_name``, ``holder_national_id``, ``recipient_type``;
    with the review form also ``refusal_reason`` (a code of ``outreach.REFUSAL_REASONS``,
    required for ``refuses``; ``other`` needs the words in ``no_account_reason``) and
    ``revisit_on`` (``date``, not before ``today``, default ``clock.working_day()``, unless
    it is ``stored_revisit``). A status other than refuses or no account clears both.
    """
    errors, clean = {}, dict(data)
    status = data.get("account_status")
    clean["number"] = normalise_account(data.get("number")) if data.get("number") else None
    clean["holder_name"] = nfc(data.get("holder_name")) or None
    clean["no_account_reason"] = nfc(data.get("no_account_reason")) or None
    if data.get("holder_national_id"):
        r = parse_national_id(data["holder_national_id"])
        if r.kind not in ("cccd", "cmnd"):
            errors["holder_national_id"] = _l("Số định danh của chủ tài khoản phải có 12 chữ số.")
        clean["holder_national_id"] = r.value
    else:
        clean["holder_national_id"] = None
    if status == "has_account":
        bank = by_bin(data["bank_bin"]) if data.get("bank_bin") else None
        if bank is None:
            errors["bank_bin"] = _l("Chọn ngân hàng hoặc ví điện tử.")
        if not clean["number"]:
            errors["number"] = _l("Nhập số tài khoản (chỉ gồm chữ số).")
        else:
            problems = check_account_number(clean["number"], bank)
            if problems:
                errors["number"] = ACCOUNT_MESSAGES[problems[0]]
        if data.get("recipient_type") in ("guardian", "authorised") and not clean["holder_name"]:
            errors["holder_name"] = _l("Tài khoản của người giám hộ hoặc người được ủy quyền: nhập tên chủ tài khoản.")
    elif data.get("payment_method") == "account":
        errors["payment_method"] = _l("Chỉ chi trả qua tài khoản khi đối tượng đã có tài khoản.")
    if "refusal_reason" in data:  # the review form; a paper sheet's line has no reason
        clean["refusal_reason"] = data.get("refusal_reason") or None
        clean["revisit_on"] = data.get("revisit_on")
        errors.update(outreach.check_refusal(
            status, clean["refusal_reason"], clean["no_account_reason"], clean["revisit_on"],
            data.get("today") or outreach.today_default(), data.get("stored_revisit")))
    if status not in outreach.REASON_STATUSES:
        clean["refusal_reason"] = clean["revisit_on"] = None
    if status == "no_account" and not clean["no_account_reason"] and not clean.get("refusal_reason"):
        errors.setdefault("no_account_reason", _l("Ghi lý do chưa có tài khoản."))
    visited = data.get("visited_on")
    if visited is not None and not (data.get("earliest", EARLIEST_VISIT) <= visited <= date.today()):
        errors["visited_on"] = _l("Ngày rà soát không thể ở tương lai hoặc trước khi đợt rà soát bắt đầu.")
    if errors:
        raise ReviewError(errors)
    if status != "has_account":
        for f in ACCOUNT_FIELDS:
            clean.pop(f, None)  # keep a known account on file; it is just not used
    return clean


def _version(text):
    """The record version a form sent (an int), or ``None`` when it is not a number: a
    conflict, as a stale one is."""
    try:
        return int(text)
    except (TypeError, ValueError):
        return None


def save_review(b, user, data, expected_version, visited_on=None, note=None, earliest=EARLIEST_VISIT):
    """Record a visit to ``b`` with the submitted values (validated), one ``Event`` per
    changed field (source ``review``). Raises ``ReviewError`` or ``Conflict``.

    Returns the list of changed fields. The caller commits.
    """
    if expected_version is not None and _version(expected_version) != b.version:
        mine = {k: v for k, v in data.items() if k in REVIEW_FIELDS + ACCOUNT_FIELDS}
        theirs = current_values(b)
        diff = {k for k in mine if (mine[k] or None) != (theirs.get(k) or None)}
        raise Conflict(b, {k: theirs.get(k) for k in diff}, {k: mine[k] for k in diff})
    if b.status in CLOSED:
        raise ReviewError({"account_status": _l("Hồ sơ đã thôi hưởng (hoặc đã gộp vào hồ sơ khác): "
                                                "không ghi rà soát.")})
    if (data.get("account_status") == "has_account" and data.get("recipient_type") == "self"
            and nfc(data.get("holder_name")) and not same_name(data["holder_name"], b.full_name)):
        raise ReviewError({"holder_name": _l("Chủ tài khoản khác tên đối tượng: chọn «Người giám hộ» "
                                             "hoặc «Người được ủy quyền».")})
    clean = validate(dict(data, visited_on=visited_on, earliest=earliest, stored_revisit=b.revisit_on))
    if clean.get("recipient_type") == "self" and "number" in clean and not clean.get("holder_name"):
        clean["holder_name"] = b.full_name
    with db.session.no_autoflush:  # one UPDATE, so the version moves by one per save
        return _apply_review(b, user, clean, visited_on, note)


def _apply_review(b, user, clean, visited_on, note):
    changed = set_fields(b, {f: clean[f] for f in REVIEW_FIELDS if f in clean}, user, "review")
    if "bank_bin" in clean:
        if b.account is None:
            b.account = Account(recipient_type="self")
            db.session.add(b.account)
        changed += set_fields(b.account, {f: clean.get(f) for f in ACCOUNT_FIELDS},
                              user, "review", beneficiary_id=b.id)
    if b.account_status == "has_account":  # a valid account seen at the door settles the file's
        for f in b.findings:
            if f.resolved_at is None and f.source == "import" and f.code in ACCOUNT_CODES:
                f.resolved_at = utcnow()
    now = datetime.now().replace(microsecond=0)
    # The visit's day as the officer gives it (a visit is often entered later), else now.
    reviewed_at = datetime.combine(visited_on, now.time()) if visited_on else now
    set_fields(b, {"reviewed_at": reviewed_at}, user, "review")
    b.reviewed_by_id = user.id
    b.updated_at = utcnow()  # every save moves the version, even one that only touched the account
    listed = counts.before_review(b.id)
    review = Review(beneficiary_id=b.id, user_id=user.id, visited_on=visited_on or date.today(),
                    account_status=b.account_status, note=nfc(note) or None, created_at=utcnow())
    db.session.add(review)
    db.session.flush()
    counts.after_review(listed, review.created_at)
    return changed


def worst_first():
    """Order beneficiaries: not yet reviewed, then no account, then the rest by name."""
    return (case((Beneficiary.reviewed_at.is_(None), 0), else_=1),
            case((Beneficiary.account_status == "has_account", 1), else_=0),
            Beneficiary.name_folded)


def search_clause(q):
    """A WHERE clause for a search box: ID digits or a name without diacritics
    (``nguyen van an`` finds ``Nguyễn Văn An``). ``None`` for an empty query."""
    q = (q or "").strip()
    digits = "".join(ch for ch in q if ch.isdigit())
    if digits and len(digits) >= 4 and len(digits) >= len(q.replace(" ", "")) - 1:
        return Beneficiary.national_id.contains(digits, autoescape=True)
    key = fold(q)
    if not key:
        return None
    return Beneficiary.name_folded.contains(key, autoescape=True)


def households_of_village(village_id, page=1, per_page=50, user=None):
    """Households of a village, worst first (members not yet reviewed, then without account),
    counting only the members ``user`` may see (``scope.visible``; all when ``None``): a
    household none of whose members they see is not listed.

    Returns ``(rows, total)``; each row is ``(household, members, not_reviewed, without_account)``.
    """
    not_reviewed = func.sum(case((Beneficiary.reviewed_at.is_(None), 1), else_=0))
    without = func.sum(case((Beneficiary.account_status != "has_account", 1), else_=0))
    live = and_(Beneficiary.household_id == Household.id, Beneficiary.status != "merged", visible(user))
    # The total rides on the page's rows (a window over the groups): the village's members
    # are grouped once, not twice (bench/README.md, fix 6).
    q = (select(Household, func.count(Beneficiary.id), not_reviewed, without, func.count().over())
         .join(Beneficiary, live)
         .where(Household.village_id == village_id)
         .group_by(Household.id)
         .order_by(not_reviewed.desc(), without.desc(), func.min(Beneficiary.name_folded), Household.id))
    rows = db.session.execute(q.limit(per_page).offset((page - 1) * per_page)).all()
    if rows:
        return [tuple(r[:4]) for r in rows], rows[0][4]
    total = db.session.scalar(select(func.count()).select_from(
        select(Household.id).join(Beneficiary, live)
        .where(Household.village_id == village_id).group_by(Household.id).subquery()))
    return rows, total


def move_to_household(b, household, user):
    """Put ``b`` into ``household`` (same commune), recorded in the history. An emptied
    household stays (it may be reused); nothing is deleted."""
    if household.commune_id != b.commune_id:
        raise ReviewError({"household_id": _l("Chỉ ghép người trong cùng một xã.")})
    set_fields(b, {"household_id": household.id}, user, "household")


def split_household(b, user):
    """Move ``b`` into a new household of its own (a person already alone stays put)."""
    if len(b.household.members) <= 1:
        return b.household
    h = Household(commune_id=b.commune_id, village_id=b.village_id, head_name=b.full_name)
    db.session.add(h)
    db.session.flush()
    set_fields(b, {"household_id": h.id}, user, "household")
    return h


def last_move(b):
    """The latest change of ``b``'s household (an ``Event`` of field ``household_id``), or
    ``None``."""
    return db.session.scalar(select(Event).where(Event.beneficiary_id == b.id, Event.field == "household_id")
                             .order_by(Event.id.desc()).limit(1))


def move_undoable(event, b):
    """Why the household move ``event`` of ``b`` cannot be undone (a Vietnamese message), or
    ``None`` when it can: it is a move (source ``household``, not itself an undo), the latest
    change of ``b``'s household, ``b`` is still where it put them, and the household they
    came from still exists."""
    if (event is None or event.source != "household" or event.field != "household_id"
            or event.action != "update" or event.beneficiary_id != b.id):
        return _l("Không có thao tác tách hoặc ghép hộ nào để hoàn tác.")
    last = last_move(b)
    if last is None or last.id != event.id or str(b.household_id) != event.new_value:
        return _l("Không hoàn tác được: hộ của %(name)s đã thay đổi sau thao tác này.", name=b.full_name)
    if not event.old_value or db.session.get(Household, int(event.old_value)) is None:
        return _l("Không hoàn tác được: hộ cũ không còn.")
    return None


def undo_move(event, b, user):
    """Undo the household move ``event`` (a split or a grouping) of ``b``: ``b`` goes back to
    the household it was in, recorded as an ``Event`` (source ``household``, action ``undo``);
    the household it leaves, when no record is left in it (the one a split created), is
    deleted. Raises ``ReviewError`` (key ``undo``) when ``move_undoable`` says no.

    Returns the household ``b`` is back in. The caller commits."""
    why = move_undoable(event, b)
    if why:
        raise ReviewError({"undo": why})
    left, back = b.household, db.session.get(Household, int(event.old_value))
    b.household_id = back.id
    b.household = back
    db.session.add(Event(beneficiary_id=b.id, user_id=user.id, source="household", action="undo",
                         field="household_id", old_value=str(left.id), new_value=str(back.id)))
    db.session.flush()
    if db.session.scalar(select(func.count()).where(Beneficiary.household_id == left.id)) == 0:
        db.session.delete(left)
        db.session.flush()
    return back


def others_in_village(b, limit=300):
    """People of ``b``'s village in other households (candidates to group with)."""
    q = (select(Beneficiary).where(Beneficiary.commune_id == b.commune_id,
                                   Beneficiary.household_id != b.household_id)
         .order_by(Beneficiary.name_folded).limit(limit))
    q = q.where(Beneficiary.village_id == b.village_id) if b.village_id else q.where(
        Beneficiary.village_id.is_(None))
    return db.session.scalars(q).all()

"""Trợ cấp hưu trí xã hội (HTXH) — the social pension, a third monthly program from
1/7/2025 (Social Insurance Law 2024, 41/2024/QH15, Art. 21–22; Decree 176/2025/NĐ-CP).

Who (Law Art. 21; Decree 176/2025 Art. 2): a Vietnamese citizen aged **75 or more** who
receives no pension or monthly social-insurance allowance, or one below the HTXH level;
or aged **70 to 74** in a poor or near-poor household under the same pension condition.
How much (Decree 176/2025 Art. 3): the level in force (500,000 đồng a month from
1/7/2025, ``checks.DEFAULT_STANDARD_LEVELS``; a province may set more); a person who also
qualifies for the monthly social assistance (BTXH) gets the **higher** of the two, never
both.

The transfer of the BTXH elderly is dated configuration (:data:`TRANSFER_RULES`): from
07/2025 an elderly BTXH beneficiary (Decree 20/2021/NĐ-CP Art. 5(5)) who meets HTXH's
conditions and whose BTXH amount (coefficient × the BTXH level) is not higher than the
HTXH level is a transfer candidate (:func:`transfer_candidates`). :func:`transfer` stops
the BTXH record from a month (reason ``changes.TRANSFER_REASON``) and opens the HTXH record
from the same month, both approved by one decision; the payment lists never pay one person
on a BTXH and an HTXH line of the same month (``payments._line_rows`` blocks the second).

Months are ``YYYY-MM``; money is ``int`` đồng; dates are ``datetime.date``.
"""
from dataclasses import dataclass
from datetime import date

from sqlalchemy import select

from ..extensions import db
from ..models import Account, Area, Beneficiary, ChangeProposal
from ..vn.text import fold
from . import changes, history, months
from .areas import commune_in, member_units
from .checks import standard_level

PROGRAM = "HTXH"
FIRST_MONTH = "2025-07"  # Social Insurance Law 2024 in force, Decree 176/2025 Art. 3
AGE = 75  # Social Insurance Law 2024 Art. 21(1)(a)
POOR_AGE = 70  # Art. 21(1): 70 to under 75 in a poor or near-poor household
POOR_HOUSEHOLDS = ("poor", "near_poor")
SOURCE = "Luật Bảo hiểm xã hội 2024 Điều 21–22; Nghị định 176/2025/NĐ-CP"

#: The dated rule of the BTXH → HTXH transfer: ``[(first day "YYYY-MM-DD", rule)]``, the
#: latest in force on a month's first day applies. ``categories``: folded words that mark
#: the BTXH elderly categories (Decree 20/2021/NĐ-CP Art. 5(5): elderly in poor households
#: without support, 75–80 in poor or near-poor households, 80 and over without a pension,
#: elderly eligible for care in a social-protection facility); ``when``:
#: ``htxh_not_lower`` — the person moves when the HTXH level is not lower than their BTXH
#: amount (Decree 176/2025/NĐ-CP: who qualifies for both gets the higher allowance).
TRANSFER_RULES = [
    ("2025-07-01", {"categories": ("cao tuoi",), "when": "htxh_not_lower",
                    "source": "Nghị định 176/2025/NĐ-CP (hưởng mức cao hơn); Nghị định 20/2021/NĐ-CP Điều 5 khoản 5"}),
]
# The HTXH record's category, as the lists write it.
CATEGORY_75 = "Người từ đủ 75 tuổi không hưởng lương hưu, trợ cấp BHXH hằng tháng"
CATEGORY_70 = "Người từ đủ 70 đến dưới 75 tuổi thuộc hộ nghèo, hộ cận nghèo"


class PensionError(ValueError):
    """A transfer that is not allowed (Vietnamese message); ``field`` names the form field
    (``month``, ``decision_number``, ``decision_date``) when there is one."""

    def __init__(self, message, field=None):
        super().__init__(message)
        self.field = field


def programs_in(month):
    """The monthly programs paid in ``month`` (``YYYY-MM``), as a tuple: ``("BTXH", "NCC")``
    before 07/2025, with ``"HTXH"`` from then."""
    return ("BTXH", "NCC", PROGRAM) if month >= FIRST_MONTH else ("BTXH", "NCC")


def age_on(birth_date, birth_year, on):
    """Full years of age on ``on`` (a ``date``), or ``None`` when neither is known. From the
    birth date when known; from the birth year alone by the 1 January rule: a person whose
    day and month of birth are unknown is taken as born on 1 January of that year (so they
    are a year older from each 1 January), as the social-insurance rules count an unknown
    birth date."""
    if birth_date is not None:
        return on.year - birth_date.year - ((on.month, on.day) < (birth_date.month, birth_date.day))
    if birth_year:
        return on.year - birth_year
    return None


def eligibility(birth, on, has_pension, pension_amount=None, poor_or_near_poor=False, level=None):
    """``(ok, reason)``: whether a person qualifies for the social pension on ``on`` (a
    ``date``; a month's eligibility is asked on its first day).

    ``birth`` is a ``date`` (the birth date) or an ``int`` (the birth year alone, counted by
    the 1 January rule, :func:`age_on`); ``has_pension``: receives a pension or a monthly
    social-insurance allowance (``None``: unknown, which does not qualify);
    ``pension_amount``: its đồng a month, when known; ``poor_or_near_poor``: the household
    is poor or near-poor; ``level``: the HTXH level in đồng (default the national level in
    force on ``on``). Qualifies: 75 or more without a pension, or with one below the level;
    70–74 in a poor or near-poor household under the same pension condition (Social
    Insurance Law 2024 Art. 21; Decree 176/2025/NĐ-CP Art. 2); never before 1/7/2025.
    ``reason`` says why, in Vietnamese."""
    if on < months.start(FIRST_MONTH):
        return False, "Trợ cấp hưu trí xã hội áp dụng từ ngày 01/07/2025."
    if isinstance(birth, date):
        age = age_on(birth, None, on)
    else:
        age = age_on(None, birth, on)
    if age is None:
        return False, "Chưa rõ ngày, năm sinh."
    if age < POOR_AGE:
        return False, f"Chưa đủ 70 tuổi ({age} tuổi)."
    if age < AGE and not poor_or_near_poor:
        return False, f"{age} tuổi, không thuộc hộ nghèo, hộ cận nghèo: cần đủ 75 tuổi."
    if has_pension is None:
        return False, "Chưa rõ có hưởng lương hưu, trợ cấp BHXH hằng tháng hay không."
    if has_pension:
        level = level if level is not None else standard_level(PROGRAM, on)
        if pension_amount is None:
            return False, "Đang hưởng lương hưu, trợ cấp BHXH hằng tháng (chưa rõ mức)."
        if level is None or pension_amount >= level:
            return False, f"Đang hưởng lương hưu, trợ cấp BHXH hằng tháng {pension_amount:,} đồng, không thấp hơn mức hưu trí xã hội.".replace(",", ".")
    if age >= AGE:
        return True, f"Đủ {age} tuổi, không hưởng lương hưu (hoặc thấp hơn mức hưu trí xã hội)."
    return True, f"{age} tuổi, thuộc hộ nghèo hoặc cận nghèo, không hưởng lương hưu."


def transfer_rule(month):
    """The :data:`TRANSFER_RULES` rule in force in ``month`` (``YYYY-MM``), or ``None``."""
    on, rule = months.start(month), None
    for since, r in sorted(TRANSFER_RULES, key=lambda e: e[0]):
        if date.fromisoformat(since) <= on:
            rule = r
    return rule


def is_elderly_btxh(b, month):
    """Whether ``b`` is a BTXH record of an elderly category that the transfer rule in force
    in ``month`` names (Decree 20/2021/NĐ-CP Art. 5(5))."""
    rule = transfer_rule(month)
    if rule is None or b.program != "BTXH" or not b.category:
        return False
    category = fold(b.category)
    return any(word in category for word in rule["categories"])


def _poor(b):
    """A poor or near-poor household: the record says so, or its BTXH category does (the
    elderly of poor households, Decree 20/2021 Art. 5(5)(a), (b), (d))."""
    return b.poor_household in POOR_HOUSEHOLDS or (
        b.program == "BTXH" and b.category is not None and "ngheo" in fold(b.category))


class _Levels:
    """The levels of one month, read once per program and commune (a list of candidates
    reads a few, not one per person)."""

    def __init__(self, month):
        self.month, self.on = month, months.start(month)
        self._homes, self._levels = {}, {}

    def home(self, b):
        if b.commune_id not in self._homes:
            self._homes[b.commune_id] = commune_in(b.commune, self.month)
        return self._homes[b.commune_id]

    def __call__(self, program, b):
        home = self.home(b)
        key = (program, home.id)
        if key not in self._levels:
            self._levels[key] = standard_level(program, self.on, home)
        return self._levels[key]


def eligible(b, month, levels=None):
    """``(ok, reason)`` for beneficiary ``b`` in ``month`` (``YYYY-MM``), age counted on the
    month's first day (:func:`eligibility`), against the HTXH level in force in its province.
    An elderly BTXH record whose pension status is unknown counts as receiving none: the
    social assistance it is paid goes to elderly people without a pension or monthly
    social-insurance allowance (Decree 20/2021/NĐ-CP Art. 5(5)); the officer confirms it
    before the decision. The record holds no pension amount: a known pension does not
    qualify."""
    levels = levels or _Levels(month)
    has_pension = b.has_pension
    if has_pension is None and is_elderly_btxh(b, month):
        has_pension = False
    birth = b.birth_date if b.birth_date is not None else b.birth_year
    return eligibility(birth, levels.on, has_pension, None, _poor(b), level=levels(PROGRAM, b))


@dataclass
class Candidate:
    """An elderly BTXH beneficiary who can move to the social pension from ``month``:
    ``btxh`` their BTXH amount and ``htxh`` the HTXH level (đồng), ``reason`` why they
    qualify."""
    beneficiary: Beneficiary
    month: str
    btxh: int
    htxh: int
    reason: str


def btxh_amount(b, month, levels=None):
    """``b``'s BTXH amount in ``month`` (đồng, ``int`` or ``None``), as the payment list
    pays it (``payments.Amounts``): coefficient × the BTXH level in force where the person
    belongs (a province's higher level counts), else the record's own amount."""
    level = (levels or _Levels(month))("BTXH", b)
    if b.coefficient and level:
        return round(b.coefficient * level)
    return b.monthly_amount


def _check_candidate(b, month, levels=None, known=False):
    """A :class:`Candidate` for ``b`` in ``month``, or the reason it is none (a ``str``).
    ``known``: the caller has checked that ``b`` is active then and not yet transferred."""
    levels = levels or _Levels(month)
    rule = transfer_rule(month)
    if month < FIRST_MONTH or rule is None:
        return "Chỉ chuyển sang hưu trí xã hội từ tháng 07/2025."
    if b.program != "BTXH" or b.status == "merged":
        return "Chỉ chuyển hồ sơ trợ cấp xã hội hằng tháng (BTXH)."
    if not is_elderly_btxh(b, month):
        return "Hồ sơ không thuộc diện người cao tuổi (Nghị định 20/2021/NĐ-CP Điều 5 khoản 5)."
    if not known and db.session.scalar(
            select(Beneficiary.id).where(Beneficiary.transferred_from_id == b.id)) is not None:
        return "Đối tượng đã được chuyển sang hưu trí xã hội."
    if not known and changes.state_in(b, month) != "active":
        return "Đối tượng không đang hưởng trong tháng đó."
    ok, reason = eligible(b, month, levels)
    if not ok:
        return reason
    htxh = levels(PROGRAM, b)
    btxh = btxh_amount(b, month, levels)
    if htxh is None or btxh is None:
        return "Chưa có mức trợ cấp để so sánh."
    if rule["when"] == "htxh_not_lower" and btxh > htxh:
        return (f"Mức trợ cấp xã hội {btxh:,} đồng cao hơn mức hưu trí xã hội {htxh:,} đồng: "
                "giữ trợ cấp xã hội (hưởng mức cao hơn).").replace(",", ".")
    return Candidate(b, month, btxh, htxh, reason)


def transfer_candidates(commune_ids, month):
    """The :class:`Candidate` s of the communes ``commune_ids`` (communes in force in
    ``month``, ``YYYY-MM``; from 07/2025 a new commune's include the records of the old
    communes merged into it): the elderly BTXH beneficiaries active in ``month`` who meet
    HTXH's conditions (:func:`eligible`) and whose BTXH amount is not higher than the HTXH
    level (:data:`TRANSFER_RULES`), not yet transferred, without another proposal waiting;
    in village and name order. Empty before 07/2025."""
    month = months.parse(month)
    rule = transfer_rule(month)
    if month < FIRST_MONTH or rule is None or not commune_ids:
        return []
    units = set()
    for commune in db.session.scalars(select(Area).where(Area.id.in_(list(commune_ids)))):
        units.update(member_units(commune, month))
    waiting = select(ChangeProposal.beneficiary_id).where(ChangeProposal.status == "proposed")
    done = select(Beneficiary.transferred_from_id).where(Beneficiary.transferred_from_id.is_not(None))
    records = db.session.scalars(select(Beneficiary).where(
        Beneficiary.commune_id.in_(units), Beneficiary.program == "BTXH", Beneficiary.status != "merged",
        Beneficiary.category.is_not(None), Beneficiary.id.not_in(waiting), Beneficiary.id.not_in(done))
        .order_by(Beneficiary.village_id, Beneficiary.name_folded, Beneficiary.id)).all()
    records = [b for b in records if is_elderly_btxh(b, month)]
    states = changes.states_in([b.id for b in records], month)
    levels = _Levels(month)
    out = []
    for b in records:
        if states.get(b.id, (b.status, None))[0] != "active":
            continue
        found = _check_candidate(b, month, levels, known=True)
        if isinstance(found, Candidate):
            out.append(found)
    return out


def _htxh_record(b, month, user):
    """The HTXH record of the person ``b`` (a BTXH record): same person, household, village
    and account, in the commune they belong to in ``month``, at the HTXH level."""
    on = months.start(month)
    commune = commune_in(b.commune, month)  # from 07/2025 an old commune's successor
    age = age_on(b.birth_date, b.birth_year, on)
    new = Beneficiary(
        program=PROGRAM, commune_id=commune.id, village_id=b.village_id, household_id=b.household_id,
        full_name=b.full_name, name_folded=b.name_folded, sex=b.sex, birth_date=b.birth_date,
        birth_year=b.birth_year, national_id=b.national_id, legacy_id=b.legacy_id,
        category=CATEGORY_75 if age is not None and age >= AGE else CATEGORY_70,
        monthly_amount=standard_level(PROGRAM, on, commune), phone=b.phone,
        account_status=b.account_status, no_account_reason=b.no_account_reason,
        payment_method=b.payment_method, reviewed_at=b.reviewed_at, reviewed_by_id=b.reviewed_by_id,
        has_pension=b.has_pension if b.has_pension is not None else False,
        poor_household=b.poor_household, transferred_from_id=b.id, deceased=b.deceased,
        note=f"Chuyển từ hồ sơ trợ cấp xã hội hằng tháng (BTXH) số {b.id} từ tháng {months.label(month)}.")
    db.session.add(new)
    db.session.flush()
    if b.account is not None:
        a = b.account
        db.session.add(Account(beneficiary_id=new.id, bank_bin=a.bank_bin, bank_text=a.bank_text,
                               number=a.number, holder_name=a.holder_name,
                               holder_national_id=a.holder_national_id, recipient_type=a.recipient_type))
    history.record_creation(new, user, "decision")
    db.session.flush()
    return new


def transfer(b, user, month, decision_number, decision_date):
    """Move the elderly BTXH beneficiary ``b`` to the social pension from ``month``
    (``YYYY-MM``) by the decision ``decision_number`` of ``decision_date`` (a ``date``).

    The BTXH record is stopped from ``month`` (a ``stop`` with no clause, reason
    ``changes.TRANSFER_REASON``) and an HTXH record is opened for the same person (same
    household, village, account; ``commune_id`` the commune they belong to in ``month``;
    ``transferred_from_id`` = ``b.id``) with a ``new`` change from ``month``; both are
    approved with the same decision, by ``user`` when their role decides in ``month``
    (``changes.DECIDING_ROLES``: the commune chairman from 07/2025), else recorded by them
    for the system user, the note naming the deciding level and who recorded it. Returns
    ``(stop, new record, new change)``; the caller commits and refreshes the drafts
    (``payments.refresh_for_decision`` of both changes).

    Raises ``PensionError`` when ``b`` is no transfer candidate in ``month`` (the reason
    says why: before 07/2025, not elderly BTXH, not eligible, BTXH amount higher than the
    HTXH level, already transferred), on a missing decision number or date, and
    ``changes.ChangeError`` as ``changes.propose`` / ``changes.decide`` do (a month outside
    the window, a decision dated in the future, another proposal waiting).
    """
    try:
        month = months.parse(month)
    except ValueError as e:
        raise PensionError(str(e), "month") from None
    decision_number = (decision_number or "").strip()
    if not decision_number:
        raise PensionError("Ghi số quyết định.", "decision_number")
    if decision_date is None:
        raise PensionError("Ghi ngày quyết định (dd/mm/yyyy).", "decision_date")
    found = _check_candidate(b, month)
    if not isinstance(found, Candidate):
        raise PensionError(found)
    level = changes.deciding_role(months.start(month))
    decider = user if user.role in (level, "system") else history.system_user()
    evidence = f"Quyết định số {decision_number} ngày {decision_date:%d/%m/%Y}"
    note = (f"{evidence} của {changes.DECIDING_LEVELS.get(level, level)}; "
            f"{user.full_name or user.username} ghi khi chuyển sang hưu trí xã hội.")
    stop = changes.propose(b, "stop", user, month, transfer=True, evidence=evidence,
                           note=f"Mức BTXH {found.btxh:,} đồng, mức HTXH {found.htxh:,} đồng.".replace(",", "."))
    changes.decide(stop, decider, True, decision_number, decision_date, note=note)
    new = _htxh_record(b, month, user)
    grant = changes.propose(new, "new", user, month, evidence=evidence,
                            reason=f"Chuyển từ trợ cấp xã hội hằng tháng (BTXH) sang hưu trí xã hội từ tháng "
                                   f"{months.label(month)}")
    changes.decide(grant, decider, True, decision_number, decision_date, note=note)
    return stop, new, grant

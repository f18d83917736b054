"""Small builders of registry records for view tests (invented people only)."""
from datetime import date

from portal.extensions import db
from werkzeug.security import generate_password_hash

from portal.models import Account, Area, Beneficiary, Household, User
from portal.services.areas import find_commune, get_or_create_village
from portal.vn.text import fold


def person(commune_code="21052", village="Thôn An Thành", name="Nguyễn Văn An", program="BTXH",
           sex="M", birth=date(1950, 3, 4), national_id="051050123456", household=None, **extra):
    commune = find_commune(commune_code, "2024-05")
    v = get_or_create_village(commune, village)
    if household is None:
        household = Household(commune_id=commune.id, village_id=v.id, head_name=name)
        db.session.add(household)
    extra.setdefault("monthly_amount", 540000)
    b = Beneficiary(program=program, commune_id=commune.id, village_id=v.id, household=household,
                    full_name=name, name_folded=fold(name), sex=sex, birth_date=birth,
                    birth_year=birth.year if birth else None, national_id=national_id, **extra)
    db.session.add(b)
    db.session.flush()
    return b


def with_account(b, number="1234567890", bin_="970405", recipient="self", holder=None):
    b.account = Account(bank_bin=bin_, number=number, holder_name=holder or b.full_name,
                        recipient_type=recipient)
    b.account_status = "has_account"
    b.payment_method = "account"
    db.session.flush()
    return b


def visit(b, day, officer="commune", **data):
    """Record an officer's visit to ``b`` on ``day`` through the review service, keeping
    what the record holds unless ``data`` says otherwise."""
    from sqlalchemy import select

    from portal.models import User
    from portal.services.review import save_review
    values = {"account_status": b.account_status if b.account_status != "unknown" else "no_account",
              "no_account_reason": "Chưa mở", "payment_method": b.payment_method}
    if b.account is not None and b.account_status == "has_account":
        a = b.account
        values.update(bank_bin=a.bank_bin, number=a.number, holder_name=a.holder_name,
                      recipient_type=a.recipient_type)
    values.update(data)
    user = db.session.scalar(select(User).where(User.username == officer))
    save_review(b, user, values, b.version, visited_on=day)


def make_user(username, role, area, month="2024-05", full_name=None):
    """A user with the password ``demo`` (a cheap hash) working in ``area``: an ``Area``, or
    the code of the commune in force in ``month``. Committed."""
    if not isinstance(area, Area):
        area = find_commune(area, month)
    u = User(username=username, role=role, area=area, full_name=full_name or username,
             password_hash=generate_password_hash("demo", method="pbkdf2:sha256:1000"))
    db.session.add(u)
    db.session.commit()
    return u

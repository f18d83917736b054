"""An account holder's name is compared with the beneficiary's without regard to case,
tone and vowel marks, "Đ" and extra spaces, and is kept as the bank writes it (issue 13 §5)."""
from datetime import date

import pytest

from portal.extensions import db
from portal.services.imports import recipient_from
from portal.services.review import ReviewError
from portal.vn.text import same_name
from tests.test_checks import clean_person, hits
from tests.factories import visit, with_account


@pytest.mark.parametrize("holder, name, same", [
    ("NGUYEN VAN AN", "Nguyễn Văn An", True),
    ("  nguyễn   văn  an ", "Nguyễn Văn An", True),
    ("Nguyễn Văn Ân", "Nguyễn Văn An", True),  # merged by folding: banks drop the marks anyway
    ("DANG THI DUNG", "Đặng Thị Dung", True),
    ("Nguye\u0302\u0303n Va\u0306n An", "Nguyễn Văn An", True),  # NFD
    ("Trần Văn An", "Nguyễn Văn An", False),
    ("Nguyễn Văn", "Nguyễn Văn An", False),
    ("", "", False),
    (None, "Nguyễn Văn An", False),
])
def test_same_name(holder, name, same):
    assert same_name(holder, name) is same
    assert same_name(name, holder) is same


def test_an_import_takes_the_banks_capitals_for_the_beneficiary():
    assert recipient_from(None, "NGUYEN VAN AN", "Nguyễn Văn An") == "self"
    assert recipient_from(None, "Nguyễn Văn Ân", "Nguyễn Văn An") == "self"
    assert recipient_from(None, "Trần Văn An", "Nguyễn Văn An") == "authorised"


@pytest.mark.parametrize("holder, finding", [
    ("NGUYEN VAN AN", False), ("Nguyễn Văn Ân", False), ("Nguyễn Văn An", False), ("Trần Văn An", True)])
def test_a_self_account_in_another_name_is_a_finding(app, holder, finding):
    b = with_account(clean_person(name="Nguyễn Văn An"), number="4300205123456", holder=holder)
    assert ("holder_incomplete" in hits(b)) is finding


def test_a_visit_keeps_the_holder_as_the_bank_writes_it(app):
    b = with_account(clean_person(name="Nguyễn Văn An"), number="4300205123456")
    db.session.commit()
    visit(b, date(2024, 5, 10), holder_name="NGUYEN VAN AN", recipient_type="self")
    assert b.account.holder_name == "NGUYEN VAN AN" and b.account.recipient_type == "self"
    with app.test_request_context(), pytest.raises(ReviewError) as e:
        visit(b, date(2024, 5, 11), holder_name="Trần Văn An", recipient_type="self")
    assert "holder_name" in e.value.errors
    assert b.account.holder_name == "NGUYEN VAN AN"

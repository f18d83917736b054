"""The demo world: a synthetic Bình Sơn district in May 2024, halfway through the campaign.

Every person here is invented (names drawn from lists of common Vietnamese surnames,
middle and given names; random ID digits); no real person's data is used. The places are
the real pre-reform units of Bình Sơn (GSO codes, ``areas_binh-son.csv``) with invented
villages, except that Bình Chánh, Bình Dương and Bình Thạnh get the villages named in the
sample files of ``shared/samples`` so that those files import into the demo cleanly.

The world is a pure function of ``seed``: the same seed on an empty database gives the same
people, IDs and accounts in the same order. Amounts use the standard levels in force in
May 2024 (360,000 đồng BTXH, Decree 20/2021/NĐ-CP; 2,055,000 đồng NCC, Decree 55/2023/NĐ-CP);
BTXH coefficients follow Decree 20/2021 Art. 6 (``shared/design/domain.md`` §5).

January to May 2024 have been paid (:func:`pay_months`): the lists of every commune locked,
the post office's results recorded, a few changes decided, all dated in their months, so
that the monthly reports have real figures and account payments grow as the visits go on.
"""
import csv
import io
import random
from collections import Counter
from datetime import date, datetime, timedelta
from importlib import resources

from sqlalchemy import bindparam, func, insert, select
from werkzeug.security import generate_password_hash

from ..extensions import db
from ..models import (Account, Area, Beneficiary, ChangeProposal, Event, Finding, Household,
                      PaymentLine, PaymentPeriod, Review, User, utcnow)
from ..vn.text import fold, nfc
from . import areas, changes, clock, counts, history, months, payments
from .history import system_user

# (username, role, area code): the area is the pre-reform unit (the demo is May 2024).
DEMO_USERS = [("admin", "admin", "51"), ("district", "district", "524"),
              ("commune", "commune", "21052"), ("police", "police", "21052"),
              ("payer", "payer", "524")]
DEMO_FULL_NAMES = {
    "admin": "Quản trị hệ thống",
    "district": "Phòng LĐ-TB&XH huyện Bình Sơn",
    "commune": "Cán bộ LĐ-TB&XH xã Bình Chánh",
    "police": "Công an xã Bình Chánh (Tổ Đề án 06)",
    "payer": "Bưu điện huyện Bình Sơn",
}
DEMO_DAY = date(2024, 5, 24)  # "today" in the demo world: ages are counted on this day
DISTRICT_CODE = "524"
FOCUS_COMMUNE = "21052"  # Bình Chánh: the demo commune officer's commune
FOCUS_SHARE = 0.06  # of all beneficiaries: about 300 of 5,000
IMPORT_DAYS = (date(2024, 1, 2), date(2024, 1, 12))  # the lists were uploaded in early January
REVIEW_DAYS = (date(2024, 1, 15), DEMO_DAY)

BTXH_STANDARD = 360_000  # đồng, from 1/7/2021 (Decree 20/2021/NĐ-CP Art. 4)
NCC_STANDARD = 2_055_000  # đồng, from 1/7/2023 (Decree 55/2023/NĐ-CP)

# Villages of the sample files (shared/samples/*.expected.json), by commune code.
SAMPLE_VILLAGES = {
    "21052": ["Thôn Phước Hòa", "Thôn Lệ Thủy", "Thôn Đông Lỗ", "Thôn Thuận Phước", "Thôn Tân Hy"],
    "21070": ["Thôn An Thành", "Thôn Phước Thiện", "Thôn Đồng Tròn", "Thôn Vạn Thạnh"],
    "21046": ["Thôn Thạnh Đức", "Thôn Phú Quý", "Thôn Trung An", "Thôn Mỹ Long"],
}
TOWNSHIP = "21040"  # Thị trấn Châu Ổ: residential groups (tổ dân phố), not villages
VILLAGE_NAMES = [
    "An Phú", "An Lộc", "An Điềm", "An Hòa", "Bình Yên", "Châu Thuận", "Đông Yên", "Đồng Xanh",
    "Gia Hòa", "Hải Ninh", "Hòa Vinh", "Lạc Sơn", "Long Bình", "Long Yên", "Mỹ Thạnh",
    "Phú Hòa", "Phú Lộc", "Phú Long", "Phú Thọ", "Phước Lộc", "Phước An", "Tân Mỹ", "Tân Phước",
    "Tây Yên", "Thạch An", "Thanh Trà", "Thuận Hòa", "Trung Hòa", "Vĩnh An", "Vĩnh Lộc",
    "Vĩnh Trà", "Xuân Hòa", "Tịnh Long", "Liên Trì", "Mỹ Tân", "Thế Long",
]

# ------------------------------------------------------------------- invented names

SURNAMES = [("Nguyễn", 30), ("Trần", 10), ("Lê", 9), ("Phạm", 7), ("Huỳnh", 6), ("Võ", 6),
            ("Phan", 4), ("Đặng", 3), ("Bùi", 3), ("Đỗ", 3), ("Hồ", 3), ("Ngô", 3), ("Dương", 2),
            ("Đinh", 2), ("Trương", 2), ("Lương", 1), ("Đoàn", 1), ("Tạ", 1), ("Châu", 1),
            ("Mai", 1), ("Lý", 1), ("Hà", 1), ("Hoàng", 1), ("Ông", 1)]
MIDDLE = {
    ("M", "old"): [("Văn", 12), ("Đức", 1), ("Hữu", 1), ("Minh", 1), ("Quang", 1), ("Công", 1),
                   ("Tấn", 2), ("Ngọc", 1), ("Thanh", 1), ("Xuân", 1), ("Đình", 1), ("Bá", 1)],
    ("M", "young"): [("Văn", 3), ("Minh", 2), ("Gia", 1), ("Đức", 1), ("Quốc", 1), ("Hoàng", 1),
                     ("Anh", 1), ("Tuấn", 1), ("Thành", 1), ("Hữu", 1), ("Nhật", 1)],
    ("F", "old"): [("Thị", 16), ("Kim", 1), ("Ngọc", 1), ("Thu", 1), ("Xuân", 1)],
    ("F", "young"): [("Thị", 3), ("Ngọc", 2), ("Bảo", 1), ("Khánh", 1), ("Thảo", 1), ("Gia", 1),
                     ("Minh", 1), ("Thu", 1), ("Kim", 1), ("Mỹ", 1)],
}
GIVEN = {
    ("M", "old"): ["An", "Ba", "Bảy", "Bình", "Cang", "Chánh", "Cường", "Danh", "Dũng", "Đông",
                   "Hai", "Hải", "Hiền", "Hòa", "Hùng", "Hưng", "Khải", "Lâm", "Lộc", "Long",
                   "Lợi", "Minh", "Nam", "Nghĩa", "Phong", "Phúc", "Phước", "Quang", "Sang", "Sáu",
                   "Sơn", "Tám", "Tài", "Tâm", "Thạnh", "Thành", "Thắng", "Thọ", "Thuận", "Tín",
                   "Toàn", "Trí", "Trung", "Tư", "Tuấn", "Vinh", "Xuân"],
    ("M", "young"): ["Anh", "Bảo", "Duy", "Đạt", "Huy", "Hiếu", "Hoàng", "Khang", "Khoa", "Kiệt",
                     "Long", "Minh", "Nam", "Nhân", "Phát", "Phúc", "Quân", "Tài", "Thịnh", "Tuấn"],
    ("F", "old"): ["Ánh", "Bích", "Bông", "Cúc", "Diệu", "Dung", "Đào", "Gấm", "Hà", "Hạnh", "Hoa",
                   "Hồng", "Huệ", "Hương", "Lài", "Lan", "Liên", "Liễu", "Loan", "Lựu", "Mai",
                   "Mận", "Nga", "Nguyệt", "Nhàn", "Nhung", "Oanh", "Phượng", "Sen", "Sương",
                   "Thanh", "Thảo", "Thu", "Thủy", "Thương", "Trinh", "Tuyết", "Vân", "Xuyến", "Yến"],
    ("F", "young"): ["Anh", "Châu", "Diệp", "Giang", "Hân", "Hằng", "Linh", "Ly", "My", "Ngân",
                     "Nhi", "Như", "Quyên", "Tâm", "Thảo", "Trâm", "Trang", "Uyên", "Vy", "Yến"],
}

# ------------------------------------------------------------------------ categories

# BTXH (Decree 20/2021 Art. 5; coefficients Art. 6): (category, share, kind of person).
BTXH_CATEGORIES = [
    ("Người cao tuổi từ đủ 80 tuổi trở lên", 0.44, "old80"),
    ("Người cao tuổi thuộc hộ nghèo không có người phụng dưỡng", 0.05, "old60"),
    ("Người khuyết tật nặng", 0.22, "disabled"),
    ("Người khuyết tật đặc biệt nặng", 0.17, "disabled"),
    ("Trẻ em mồ côi cả cha và mẹ", 0.06, "child"),
    ("Người đơn thân nghèo đang nuôi con", 0.06, "single_parent"),
]
# NCC (Ordinance 02/2020/UBTVQH14): (category, share, amounts in đồng, share of men, birth years).
NCC_CATEGORIES = [
    ("Thân nhân liệt sĩ", 0.34, [2_055_000], 0.35, (1932, 1972)),
    ("Thương binh", 0.24, [1_585_000, 2_470_000, 2_850_000], 0.95, (1938, 1962)),
    ("Bệnh binh", 0.12, [2_660_000], 0.9, (1938, 1962)),
    ("Người hoạt động kháng chiến bị nhiễm chất độc hóa học", 0.15, [2_470_000], 0.85, (1940, 1960)),
    ("Người có công giúp đỡ cách mạng", 0.15, [1_585_000], 0.5, (1926, 1950)),
]

NO_ACCOUNT_REASONS = ["Già yếu, không đi lại được", "Không có điện thoại",
                      "Không biết sử dụng điện thoại, không có người hỗ trợ",
                      "Chưa có căn cước công dân gắn chíp", "Con cháu đi làm ăn xa",
                      "Nằm liệt giường, cần nhận tại nhà"]
MISSING_ID_MESSAGE = ("Thiếu số định danh cá nhân (số CCCD): bổ sung khi rà soát, đối chiếu với "
                      "Cơ sở dữ liệu quốc gia về dân cư.")
REFUSAL_REASONS = ["Muốn nhận tiền mặt tại nhà", "Không tin tưởng chi trả qua tài khoản",
                   "Gia đình không đồng ý mở tài khoản"]
# The coded reason (services/outreach.REFUSAL_REASONS) of the demo's reason texts; the
# texts without one stay words only (``other`` for a refusal).
REASON_CODES = {"Muốn nhận tiền mặt tại nhà": "prefers_cash", "Không tin tưởng chi trả qua tài khoản": "distrust",
                "Gia đình không đồng ý mở tài khoản": "other", "Già yếu, không đi lại được": "frail",
                "Không có điện thoại": "no_phone", "Nằm liệt giường, cần nhận tại nhà": "frail"}
# Communication sessions of the demo: (commune code, day, village index or None, place, attendees, topic).
DEMO_SESSIONS = [
    (FOCUS_COMMUNE, date(2024, 3, 12), None, "Hội trường UBND xã", 64,
     "Chính sách chi trả trợ cấp không dùng tiền mặt (Đề án 06)"),
    (FOCUS_COMMUNE, date(2024, 4, 18), 0, "Nhà văn hóa thôn", 31, "Hướng dẫn mở tài khoản, ví điện tử"),
    (FOCUS_COMMUNE, date(2024, 5, 9), 1, "Nhà văn hóa thôn", 27, "Lợi ích của nhận trợ cấp qua tài khoản"),
    (FOCUS_COMMUNE, date(2024, 5, 21), 2, "Sân nhà trưởng thôn", 18, "Giải đáp thắc mắc, mở tài khoản tại chỗ"),
    ("21040", date(2024, 5, 14), None, "Hội trường thị trấn", 52, "Chi trả không dùng tiền mặt"),
    ("21046", date(2024, 4, 25), 0, "Nhà văn hóa thôn", 22, "Hướng dẫn dùng ví điện tử"),
]

# Napas BIN → (weight, account-number prefix, length); wallets use a mobile number.
BANK_MIX = [("970405", 40, "4602", 13), ("970449", 22, "0", 12), ("970415", 14, "10", 12),
            ("970418", 4, "5801", 14), ("970436", 2, "10", 13), ("999888", 2, "560", 11),
            ("971005", 9, None, 10), ("971011", 7, None, 10)]
MOBILE_PREFIXES = {"971005": ["086", "096", "097", "098", "032", "033", "034", "035", "036",
                              "037", "038", "039"],
                   "971011": ["088", "091", "094", "081", "082", "083", "084", "085"]}

# Commune stages: (review rate, account rate among the reviewed, share still paid in cash).
STAGES = {
    "laggard": ((0.25, 0.45), (0.35, 0.50), (0.15, 0.35)),
    "middle": ((0.55, 0.80), (0.50, 0.65), (0.05, 0.15)),
    "ahead": ((0.88, 1.00), (0.65, 0.80), (0.00, 0.05)),
}


def _bank_names():
    """``{bin: short name}`` from :mod:`portal.vn.banks`, or the CSV when it is absent."""
    try:
        from ..vn.banks import all_banks
        return {b.bin: b.short_name for b in all_banks()}
    except ImportError:  # pragma: no cover - the module is written alongside this one
        text = (resources.files("portal") / "data" / "banks.csv").read_text("utf-8")
        return {r["bin"]: r["short_name"] for r in csv.DictReader(io.StringIO(text))}


def _age(born, on=DEMO_DAY):
    return on.year - born.year - ((on.month, on.day) < (born.month, born.day))


class _World:
    """The random draws, all from one ``random.Random(seed)``, in a fixed order."""

    def __init__(self, seed):
        self.rng = random.Random(seed)
        self.used_ids = set()
        self.used_numbers = set()

    def weighted(self, pairs):
        return self.rng.choices([p[0] for p in pairs], weights=[p[1] for p in pairs])[0]

    def date_between(self, start, end):
        return start + timedelta(days=self.rng.randint(0, (end - start).days))

    def name(self, sex, generation, surname=None):
        rng = self.rng
        surname = surname or self.weighted(SURNAMES)
        given = rng.choice(GIVEN[(sex, generation)])
        if generation == "old" and sex == "F" and rng.random() < 0.04:
            return f"{surname} {given}"  # "Phạm Cúc": old women's names without a middle name
        middle = self.weighted(MIDDLE[(sex, generation)])
        while middle == given:
            middle = self.weighted(MIDDLE[(sex, generation)])
        return nfc(f"{surname} {middle} {given}")

    def national_id(self, sex, year):
        """``051 G YY NNNNNN`` (Circular 07/2016/TT-BCA Art. 7): Quảng Ngãi birth
        registration, G = century and sex, YY = birth year, six random digits; unique."""
        g = (0 if year < 2000 else 2) + (1 if sex == "F" else 0)
        while True:
            value = f"051{g}{year % 100:02d}{self.rng.randrange(1_000_000):06d}"
            if value not in self.used_ids:
                self.used_ids.add(value)
                return value

    def mobile(self, bin_="971005"):
        while True:
            value = self.rng.choice(MOBILE_PREFIXES[bin_]) + f"{self.rng.randrange(10**7):07d}"
            if value not in self.used_numbers:
                self.used_numbers.add(value)
                return value

    def account_number(self, prefix, length):
        while True:
            value = prefix + "".join(str(self.rng.randrange(10)) for _ in range(length - len(prefix)))
            if value not in self.used_numbers:
                self.used_numbers.add(value)
                return value

    def person(self, program, surname=None):
        """One beneficiary's identity, category and amount (a dict of Beneficiary fields)."""
        rng = self.rng
        if program == "NCC":
            cat = self.weighted([(c, c[1]) for c in NCC_CATEGORIES])
            category, _, amounts, men, (y0, y1) = cat
            sex = "M" if rng.random() < men else "F"
            born = self.date_between(date(y0, 1, 1), date(y1, 12, 31))
            coefficient, amount = None, rng.choice(amounts)
        else:
            category, _, kind = self.weighted([(c, c[1]) for c in BTXH_CATEGORIES])
            if kind == "old80":
                sex = "F" if rng.random() < 0.62 else "M"
                born = DEMO_DAY.replace(year=DEMO_DAY.year - int(rng.triangular(80, 101, 83)))
                born -= timedelta(days=rng.randint(0, 364))
                coefficient = 1.0  # Art. 5.5c, Art. 6.1đ
            elif kind == "old60":
                sex = "F" if rng.random() < 0.6 else "M"
                born = self.date_between(date(1935, 1, 1), date(1963, 12, 31))
                coefficient = 2.0 if _age(born) >= 80 else 1.5  # Art. 5.5a
            elif kind == "disabled":
                sex = "M" if rng.random() < 0.55 else "F"
                band = rng.random()
                if band < 0.12:
                    born = self.date_between(date(2009, 1, 1), date(2021, 12, 31))
                elif band < 0.30:
                    born = self.date_between(date(1935, 1, 1), date(1963, 12, 31))
                else:
                    born = self.date_between(date(1964, 1, 1), date(2007, 12, 31))
                child_or_old = _age(born) < 16 or _age(born) >= 60
                special = category.endswith("đặc biệt nặng")
                # Art. 6.1c: 2.0 especially severe (2.5 child or elderly), 1.5 severe (2.0).
                coefficient = (2.5 if child_or_old else 2.0) if special else (2.0 if child_or_old else 1.5)
            elif kind == "child":
                sex = rng.choice("MF")
                born = self.date_between(date(2008, 6, 1), date(2023, 12, 31))
                coefficient = 2.5 if _age(born) < 4 else 1.5  # Art. 6.1a
            else:  # single parent
                sex = "F" if rng.random() < 0.9 else "M"
                born = self.date_between(date(1980, 1, 1), date(2001, 12, 31))
                coefficient = 1.0  # Art. 6.1 (per child raised)
            amount = round(coefficient * BTXH_STANDARD)
        generation = "old" if born.year < 1975 else "young"
        full_name = self.name(sex, generation, surname)
        birth_date = born
        if born.year < 1965 and rng.random() < 0.14:
            birth_date = None  # only the year is known (commune lists write 00/00/1945)
        national_id = None if rng.random() < 0.04 else self.national_id(sex, born.year)
        return {"program": program, "full_name": full_name, "name_folded": fold(full_name),
                "sex": sex, "birth_date": birth_date, "birth_year": born.year,
                "national_id": national_id, "category": category, "coefficient": coefficient,
                "monthly_amount": amount, "_born": born}


def _communes(load=True):
    """The district's pre-reform communes by code (loading the packaged areas if asked)."""
    district = areas.find_area(DISTRICT_CODE, "district")
    if district is None and load:
        areas.load_packaged_areas()
        district = areas.find_area(DISTRICT_CODE, "district")
    if district is None:
        return []
    return db.session.scalars(select(Area).where(
        Area.level == "commune", Area.parent_id == district.id,
        Area.valid_to == areas.LAST_DAY_BEFORE_REFORM).order_by(Area.code)).all()


def _demo_area(code):
    """The pre-reform unit with ``code`` (2 digits province, 3 district, 5 commune)."""
    level = {2: "province", 3: "district"}.get(len(code), "commune")
    area = areas.find_area(code, level, on=DEMO_DAY)
    if area is None:
        areas.load_packaged_areas()
        area = areas.find_area(code, level, on=DEMO_DAY)
    if area is None:
        raise LookupError(f"demo area {code} is missing from the packaged areas")
    return area


def _ensure_user(username, role, code):
    """Get or create a demo user (no password: :func:`create_demo_users` sets it)."""
    user = db.session.scalar(select(User).where(User.username == username))
    if user is None:
        user = User(username=username, role=role, area=_demo_area(code),
                    full_name=DEMO_FULL_NAMES.get(username, username))
        db.session.add(user)
        db.session.flush()
    return user


def _counts(commune_ids):
    in_demo = Beneficiary.commune_id.in_(commune_ids)
    n_b = {p: n for p, n in db.session.execute(
        select(Beneficiary.program, func.count()).where(in_demo).group_by(Beneficiary.program))}
    return {
        "communes": len(commune_ids),
        "villages": db.session.scalar(select(func.count()).select_from(Area).where(
            Area.level == "village", Area.parent_id.in_(commune_ids))),
        "households": db.session.scalar(select(func.count()).select_from(Household).where(
            Household.commune_id.in_(commune_ids))),
        "beneficiaries": sum(n_b.values()),
        "BTXH": n_b.get("BTXH", 0),
        "NCC": n_b.get("NCC", 0),
        "reviewed": db.session.scalar(select(func.count()).select_from(Beneficiary).where(
            in_demo, Beneficiary.reviewed_at.is_not(None))),
        "with_account": db.session.scalar(select(func.count()).select_from(Beneficiary).where(
            in_demo, Beneficiary.account_status == "has_account")),
    }


def _reserve_ids(model, n):
    """``n`` consecutive unused ids for ``model`` (the database is not shared while the demo
    is built)."""
    start = (db.session.scalar(select(func.max(model.id))) or 0) + 1
    return list(range(start, start + n))


def _advance_sequence(model):
    """On PostgreSQL, move the table's id sequence past the ids given explicitly."""
    if db.session.get_bind().dialect.name == "postgresql":
        sequence = func.pg_get_serial_sequence(f'"{model.__table__.name}"', "id")
        db.session.execute(select(func.setval(sequence, select(func.max(model.id)).scalar_subquery())))


def _split(total, weights):
    """``total`` split in proportion to ``weights`` (largest remainder), summing exactly."""
    s = sum(weights)
    raw = [total * w / s for w in weights]
    out = [int(r) for r in raw]
    for i in sorted(range(len(raw)), key=lambda i: out[i] - raw[i])[: total - sum(out)]:
        out[i] += 1
    return out


def build_demo(seed: int = 2024, size: int = 5000) -> dict:
    """Build the demo district: the 22 pre-reform communes of Bình Sơn (code 524) with
    3–6 villages each and about ``size`` invented beneficiaries in households of 1–3,
    reviewed in part as in May 2024 (some communes lagging, some ahead).

    Deterministic for a given ``seed`` on an empty database. Loads the packaged areas
    when district 524 is missing. Does nothing when any beneficiary exists and returns
    the counts of what is there with ``"skipped": True``. Flushes; the caller commits.

    Returns ``{"communes", "villages", "households", "beneficiaries", "BTXH", "NCC",
    "reviewed", "with_account"}`` (counts over the district's communes).
    """
    if db.session.scalar(select(func.count()).select_from(Beneficiary)):
        return {"skipped": True, **_counts([c.id for c in _communes(load=False)])}
    communes = _communes()
    commune_ids = [c.id for c in communes]
    if not communes:
        raise LookupError("district 524 has no pre-reform communes")

    w = _World(seed)
    rng = w.rng
    bank_names = _bank_names()
    system = system_user()
    focus_officer = _ensure_user(*next(u for u in DEMO_USERS if u[0] == "commune"))

    # Communes: a share of the people, a stage of the campaign, villages.
    weights = [FOCUS_SHARE if c.code == FOCUS_COMMUNE else 0.0 for c in communes]
    others = [rng.uniform(0.45, 1.7) for c in communes]
    rest = sum(o for c, o in zip(communes, others, strict=False) if c.code != FOCUS_COMMUNE)
    share_left = 1 - sum(weights)
    weights = [wt or share_left * o / rest for wt, o in zip(weights, others, strict=False)]
    quotas = _split(size, weights)
    stages = ["laggard"] * 5 + ["middle"] * 11 + ["ahead"] * 6
    stages = (stages * (len(communes) // len(stages) + 1))[: len(communes)]
    rng.shuffle(stages)

    households, people = [], []  # dicts; people carry their household's index
    for commune, quota, stage in zip(communes, quotas, stages, strict=False):
        if commune.code == FOCUS_COMMUNE:
            stage = "middle"
        (r0, r1), (a0, a1), (c0, c1) = STAGES[stage]
        review_rate, account_rate, cash_rate = rng.uniform(r0, r1), rng.uniform(a0, a1), rng.uniform(c0, c1)
        if commune.code in SAMPLE_VILLAGES:
            names = SAMPLE_VILLAGES[commune.code]
        elif commune.code == TOWNSHIP:
            names = [f"Tổ dân phố {i}" for i in range(1, rng.randint(4, 6) + 1)]
        else:
            names = ["Thôn " + n for n in rng.sample(VILLAGE_NAMES, rng.randint(3, 6))]
        villages = [areas.get_or_create_village(commune, n) for n in names]
        village_weights = [rng.uniform(0.6, 1.5) for _ in villages]
        imported = datetime.combine(w.date_between(*IMPORT_DAYS), datetime.min.time()) + timedelta(
            hours=rng.randint(8, 16), minutes=rng.randint(0, 59))
        officer = focus_officer if commune.code == FOCUS_COMMUNE else system
        left = quota
        while left > 0:
            k = min(left, w.weighted([(1, 70), (2, 22), (3, 8)]))
            left -= k
            village = rng.choices(villages, weights=village_weights)[0]
            reviewed_at = None
            if rng.random() < review_rate:
                span = (REVIEW_DAYS[1] - REVIEW_DAYS[0]).days
                day = REVIEW_DAYS[0] + timedelta(days=int(rng.triangular(0, span, span * 0.75)))
                while day.weekday() == 6:  # no visits on Sundays
                    day -= timedelta(days=1)
                reviewed_at = datetime.combine(day, datetime.min.time()) + timedelta(
                    hours=rng.randint(7, 16), minutes=rng.randint(0, 59))
            hh = {"commune_id": commune.id, "village_id": village.id, "created_at": imported,
                  "head_name": ""}
            households.append(hh)
            surname = None
            for i in range(k):
                program = "NCC" if rng.random() < 1 / 3 else "BTXH"
                p = w.person(program, surname if rng.random() < 0.5 else None)
                surname = p["full_name"].split(" ")[0]
                if i == 0:
                    hh["head_name"] = p["full_name"]
                p.update(commune_id=commune.id, village_id=village.id, created_at=imported,
                         _hh=len(households) - 1, _officer=officer, _reviewed_at=reviewed_at,
                         _account_rate=account_rate, _cash_rate=cash_rate)
                people.append(p)

    # Review outcomes and accounts.
    refusals = 0
    for p in people:
        p.update(account_status="unknown", no_account_reason=None, payment_method="cash",
                 refusal_reason=None, revisit_on=None,
                 reviewed_at=p["_reviewed_at"], reviewed_by_id=None, phone=None, legacy_id=None,
                 _account=None, _note=None)
        age = _age(p["_born"])
        if rng.random() < 0.35 and 16 <= age:
            p["phone"] = w.mobile(rng.choice(list(MOBILE_PREFIXES)))
        if p["national_id"] is None and age >= 30 and rng.random() < 0.5:
            p["legacy_id"] = "21" + f"{rng.randrange(10**7):07d}"  # old 9-digit CMND
        if p["reviewed_at"] is None:
            continue
        p["reviewed_by_id"] = p["_officer"].id
        p_account = p["_account_rate"] + (0.08 if p["program"] == "NCC" else 0)
        if age >= 90 or age < 16:
            p_account *= 0.7
        draw = rng.random()
        if draw < p_account:
            p["account_status"] = "has_account"
        elif draw < p_account + 0.09:
            p["account_status"] = "opening"
            p["_note"] = rng.choice(["Đã nộp hồ sơ mở tài khoản tại Bưu điện",
                                     "Hẹn mở tài khoản tại điểm giao dịch của xã",
                                     "Đang chờ ngân hàng cấp tài khoản"])
        elif draw < p_account + 0.13:
            p["account_status"] = "refuses"
            p["no_account_reason"] = rng.choice(REFUSAL_REASONS)
        else:
            p["account_status"] = "no_account"
            p["no_account_reason"] = rng.choice(NO_ACCOUNT_REASONS)
        if p["account_status"] in ("refuses", "no_account"):  # no draw: the stream stays as it was
            p["refusal_reason"] = REASON_CODES.get(p["no_account_reason"])
            refusals += 1
            if p["account_status"] == "refuses":  # a revisit 1–5 weeks after the visit
                p["revisit_on"] = p["reviewed_at"].date() + timedelta(days=7 * (1 + refusals % 5))
        if p["account_status"] != "has_account":
            continue
        if rng.random() >= p["_cash_rate"]:
            p["payment_method"] = "account"
        if age < 16:
            recipient = "guardian"
        else:
            special = (p["category"] or "").endswith("đặc biệt nặng")
            draw = rng.random()
            guardian_p = 0.25 if age >= 90 else 0.15 if special else 0.01
            recipient = ("guardian" if draw < guardian_p else
                         "authorised" if draw < guardian_p + 0.045 else "self")
        bin_ = w.weighted([(b[0], b[1]) for b in BANK_MIX])
        _, _, prefix, length = next(b for b in BANK_MIX if b[0] == bin_)
        if recipient == "self":
            holder_name, holder_id = p["full_name"], None
        else:
            holder_sex = rng.choice("MF")
            holder_born = w.date_between(date(1958, 1, 1), date(1998, 12, 31))
            surname = p["full_name"].split(" ")[0] if rng.random() < 0.6 else None
            holder_name = w.name(holder_sex, "old" if holder_born.year < 1975 else "young", surname)
            holder_id = w.national_id(holder_sex, holder_born.year)
        if prefix is None:  # a wallet: its number is a mobile number
            number = (p["phone"] if recipient == "self" and p["phone"]
                      and p["phone"][:3] in MOBILE_PREFIXES[bin_] else w.mobile(bin_))
        else:
            number = w.account_number(prefix, length)
        p["_account"] = {"bank_bin": bin_, "bank_text": bank_names.get(bin_, bin_),
                         "number": number, "holder_name": holder_name,
                         "holder_national_id": holder_id, "recipient_type": recipient}

    # Households first (their ids go into the people), then the people. Ids are given
    # explicitly: RETURNING in parameter order falls back to one row per statement on
    # SQLite (no insert sentinel), which is quadratic in SQLAlchemy for large batches.
    household_ids = _reserve_ids(Household, len(households))
    db.session.execute(insert(Household.__table__), [
        {"id": hid, **{k: v for k, v in hh.items() if not k.startswith("_")}}
        for hid, hh in zip(household_ids, households)])
    columns = ("program", "commune_id", "village_id", "full_name", "name_folded", "sex",
               "birth_date", "birth_year", "national_id", "legacy_id", "category", "coefficient",
               "monthly_amount", "phone", "account_status", "no_account_reason",
               "refusal_reason", "revisit_on",
               "payment_method", "reviewed_at", "reviewed_by_id", "created_at")
    ids = _reserve_ids(Beneficiary, len(people))
    rows = []
    for bid, p in zip(ids, people):
        row = {"id": bid, **{c: p[c] for c in columns}}
        row.update(household_id=household_ids[p["_hh"]], updated_at=p["reviewed_at"] or p["created_at"],
                   status="active", deceased=False, version=1)
        rows.append(row)
    db.session.execute(insert(Beneficiary.__table__), rows)
    _advance_sequence(Household)
    _advance_sequence(Beneficiary)

    accounts, reviews, events, findings = [], [], [], []
    for bid, p in zip(ids, people, strict=False):
        events.append({"beneficiary_id": bid, "user_id": system.id, "at": p["created_at"],
                       "source": "import", "action": "create", "field": None, "old_value": None,
                       "new_value": p["full_name"]})
        if p["national_id"] is None:
            findings.append({"beneficiary_id": bid, "code": "missing_id", "severity": "warning",
                             "field": "national_id", "source": "import",
                             "created_at": p["created_at"], "message": MISSING_ID_MESSAGE})
        at = p["reviewed_at"]
        if at is None:
            continue
        user_id = p["reviewed_by_id"]
        changes = [("account_status", "unknown", p["account_status"]),
                   ("no_account_reason", None, p["no_account_reason"]),
                   ("refusal_reason", None, p["refusal_reason"]),
                   ("revisit_on", None, p["revisit_on"] and p["revisit_on"].isoformat()),
                   ("payment_method", "cash", p["payment_method"])]
        a = p["_account"]
        if a:
            accounts.append(dict(beneficiary_id=bid, **a))
            changes += [(f, "self" if f == "recipient_type" else None, a[f]) for f in
                        ("bank_bin", "number", "holder_name", "holder_national_id", "recipient_type")]
        changes.append(("reviewed_at", None, at.isoformat()))
        for field, old, new in changes:
            if old != new:
                events.append({"beneficiary_id": bid, "user_id": user_id, "at": at,
                               "source": "review", "action": "update", "field": field,
                               "old_value": old, "new_value": new})
        reviews.append({"beneficiary_id": bid, "user_id": user_id, "visited_on": at.date(),
                        "account_status": p["account_status"], "note": p["_note"],
                        "created_at": at})
    for model, batch in ((Account, accounts), (Review, reviews), (Event, events), (Finding, findings)):
        if batch:
            db.session.execute(insert(model.__table__), batch)
    db.session.flush()
    _demo_sessions({c.code: c for c in communes}, focus_officer, system)
    return _counts(commune_ids)


def _demo_sessions(communes, focus_officer, system):
    """The demo's communication sessions (:data:`DEMO_SESSIONS`), each with its event."""
    from . import outreach
    for code, day, village, place, attendees, topic in DEMO_SESSIONS:
        commune = communes.get(code)
        if commune is None:
            continue
        villages = outreach.villages_of([commune.id])
        v = villages[village] if village is not None and village < len(villages) else None
        s = outreach.add_session(commune, focus_officer if code == FOCUS_COMMUNE else system, day,
                                 place, attendees, topic, village=v)
        s.created_at = _at(day, 16)  # entered the afternoon it was held


def plant_problems(seed: int = 2024, paid: bool = True) -> dict:
    """Give the demo the faults real registers have, so that the data-quality pages have
    something to show: IDs whose 4th digit contradicts the person, the same ID in two
    communes, names in capitals, a missing category, a card number typed as the account,
    an amount off its coefficient, a death not yet acted on. Then, unless ``paid`` is
    false, the months already paid (:func:`pay_months`, which leaves the planted records
    out of its stories). Deterministic for ``seed``; flushes. Returns ``{kind: count}``
    (and ``"paid_months"``: what :func:`pay_months` returned)."""
    rng = random.Random(seed + 1)
    people = db.session.scalars(select(Beneficiary).order_by(Beneficiary.id)).all()
    if len(people) < 100:
        return {}
    picks = rng.sample(people, 40)
    done = {}

    def mark(kind):
        done[kind] = done.get(kind, 0) + 1

    for b in picks[:6]:
        if b.national_id:
            g = int(b.national_id[3])
            b.national_id = b.national_id[:3] + str(g ^ 1) + b.national_id[4:]
            mark("id_sex_century_mismatch")
    for b in picks[6:10]:
        b.full_name = b.full_name.upper()
        mark("name_not_clean")
    for b in picks[10:13]:
        b.category = None
        mark("missing_category")
    for source, target in ((picks[13], picks[14]), (picks[15], picks[16])):
        if source.national_id and source.commune_id != target.commune_id:
            target.national_id = source.national_id
            mark("duplicate_id")
    cards = [b for b in picks[17:] if b.account is not None and b.account_status == "has_account"][:2]
    for b in cards:
        b.account.number = "970405" + "".join(str(rng.randrange(10)) for _ in range(10))
        mark("account_is_card_number")
    btxh = next(b for b in picks[25:] if b.program == "BTXH" and b.coefficient)
    btxh.monthly_amount += 180_000
    mark("amount_mismatch")
    picks[-1].deceased = True
    picks[-1].note = "Đã chết ngày 03/05/2024"
    mark("deceased_active")
    db.session.flush()
    if paid:
        done["paid_months"] = pay_months(seed, avoid={b.id for b in picks})
    return done


# ------------------------------------------------------------------ the months already paid

PAID_MONTHS = ("2024-01", "2024-02", "2024-03", "2024-04", "2024-05")
LIST_DAY, LIST_HOUR = 5, 7  # each month's lists are built and locked on the 5th, from 7:00
CLOSED_ACCOUNT = "Tài khoản đã đóng"
WRONG_HOLDER = "Sai tên chủ tài khoản, ngân hàng trả lại"
NOT_AT_HOME = "Đối tượng đi vắng, không nhận tiền"
AWAY = "Đi ở với con tại TP. Hồ Chí Minh, không về nhận tiền"
# Per line and month, outside the stories below: an account payment fails (closed
# account) or comes back (wrong holder); a cash payment is not collected.
P_FAILED, P_RETURNED_ACCOUNT, P_RETURNED_CASH = 0.012, 0.004, 0.01


def record_results(results, user):
    """Record many payment results at once, exactly as ``payments.record_result`` records
    them one by one, in the order given (for the demo's past months and the benchmarks,
    where 25,000 or 100,000 calls would be slow): ``results`` is a list of dicts
    ``{"line_id", "result", "reason", "at"}`` (``at``: a naive UTC ``datetime``, the time
    of the provider's answer; default now).

    Per line whose ``(result, reason)`` changes: the line's result, reason, time and user;
    one ``Event`` (source ``payment``, field ``result``, the old and the new result, the
    line's id); for a failed account payment the person's one open ``payment_failed`` error
    finding, worded as ``record_result`` words it (opened, or reworded when one is open);
    a payment into the account closes that finding. Raises ``payments.PeriodError``
    (nothing written) on a result ``record_result`` would refuse: a list not locked, a
    line not listed, an unknown result, a failed or returned payment without a reason, an
    account result on a cash line. Returns the number of results recorded (one event each).
    """
    RESULTS, PeriodError = payments.RESULTS, payments.PeriodError
    by_id = {}
    ids = [r["line_id"] for r in results]
    for i in range(0, len(ids), 5000):
        for row in db.session.execute(
                select(PaymentLine.id, PaymentLine.beneficiary_id, PaymentLine.status, PaymentLine.method,
                       PaymentLine.account_number, PaymentLine.result, PaymentLine.result_reason,
                       PaymentPeriod.status, PaymentPeriod.month, PaymentLine.period_id)
                .join(PaymentPeriod, PaymentPeriod.id == PaymentLine.period_id)
                .where(PaymentLine.id.in_(ids[i:i + 5000]))):
            by_id[row[0]] = row
    bids = sorted({row[1] for row in by_id.values()})
    open_failure = {}  # beneficiary id → the open payment_failed finding: its id, or a new row
    for i in range(0, len(bids), 5000):
        for fid, bid in db.session.execute(select(Finding.id, Finding.beneficiary_id).where(
                Finding.beneficiary_id.in_(bids[i:i + 5000]), Finding.code == "payment_failed",
                Finding.resolved_at.is_(None)).order_by(Finding.id)):
            open_failure.setdefault(bid, fid)
    current = {line_id: (row[5], row[6]) for line_id, row in by_id.items()}
    lines, events, findings, reworded, resolved = {}, [], [], {}, {}
    for r in results:
        line = by_id.get(r["line_id"])
        if line is None:
            raise PeriodError(f"Không có dòng {r['line_id']}.")
        line_id, bid, status, method, number, _, _, period_status, month, _ = line
        result, reason, at = r["result"], (r.get("reason") or "").strip() or None, r.get("at") or utcnow()
        if period_status != "locked":
            raise PeriodError("Chỉ ghi kết quả cho danh sách đã khóa.")
        if status != "listed":
            raise PeriodError("Dòng này không có trong danh sách chi trả.")
        if result not in RESULTS:
            raise PeriodError("Chọn kết quả chi trả.")
        if result in ("failed", "returned") and not reason:
            raise PeriodError("Ghi lý do (ví dụ: tài khoản đã đóng, sai tên chủ tài khoản).")
        if result == "paid_account" and method != "account":
            raise PeriodError("Dòng này chi tiền mặt, không qua tài khoản.")
        old = current[line_id]
        if (result, reason) == old:
            continue
        current[line_id] = (result, reason)
        lines[line_id] = {"_id": line_id, "result": result, "result_reason": reason, "result_at": at,
                          "result_by_id": user.id}
        events.append({"beneficiary_id": bid, "user_id": user.id, "at": at, "source": "payment",
                       "action": "update", "field": "result", "old_value": old[0], "new_value": result,
                       "payment_line_id": line_id})
        found = open_failure.get(bid)
        if result == "failed" and method == "account":
            message = (f"Chi trả tháng {months.label(month)} vào tài khoản {number} "
                       f"không thành công: {reason}.")
            if found is None:
                open_failure[bid] = {"beneficiary_id": bid, "code": "payment_failed", "severity": "error",
                                     "field": "account", "source": "payment", "created_at": at,
                                     "resolved_at": None, "message": message}
                findings.append(open_failure[bid])
            elif isinstance(found, dict):
                found["message"] = message
            else:
                reworded[found] = message
        elif result == "paid_account" and found is not None:
            del open_failure[bid]
            if isinstance(found, dict):
                found["resolved_at"] = at
            else:
                resolved[found] = at
    if lines:
        table = PaymentLine.__table__
        db.session.execute(table.update().where(table.c.id == bindparam("_id")).values(
            result=bindparam("result"), result_reason=bindparam("result_reason"),
            result_at=bindparam("result_at"), result_by_id=bindparam("result_by_id")), list(lines.values()))
    for model, batch in ((Event, events), (Finding, findings)):
        if batch:
            db.session.execute(insert(model.__table__), batch)
    table = Finding.__table__
    for column, changed in (("message", reworded), ("resolved_at", resolved)):
        if changed:
            db.session.execute(table.update().where(table.c.id == bindparam("_id"))
                               .values({column: bindparam("_value")}),
                               [{"_id": k, "_value": v} for k, v in changed.items()])
    db.session.flush()
    counts.recount({by_id[i][9] for i in lines})  # the lists' figures, as record_result keeps them
    db.session.expire_all()  # lines and findings loaded in the session now hold old values
    return len(events)


class _Dated:
    """Date what the product's functions record inside the block (their events, proposals,
    decisions and households, the records' last change) ``at``, the demo's past, not now."""

    def __init__(self, at, *beneficiaries):
        self.at, self.beneficiaries = at, beneficiaries

    def __enter__(self):
        db.session.flush()
        self.started = utcnow() - timedelta(seconds=1)
        self.last = {m: db.session.scalar(select(func.max(m.id))) or 0
                     for m in (Event, ChangeProposal, Household)}
        return self

    def __exit__(self, kind, *_):
        if kind is not None:
            return False
        db.session.flush()
        for model, column in ((Event, "at"), (Household, "created_at"), (ChangeProposal, "created_at")):
            t = model.__table__
            db.session.execute(t.update().where(t.c.id > self.last[model]).values({column: self.at}))
        cp, bt = ChangeProposal.__table__, Beneficiary.__table__
        db.session.execute(cp.update().where(cp.c.decided_at >= self.started).values(decided_at=self.at))
        ids = [b.id for b in self.beneficiaries]
        if ids:
            db.session.execute(bt.update().where(bt.c.id.in_(ids)).values(updated_at=self.at))
        db.session.expire_all()
        return False


def _at(day, hour=9, minute=0):
    return datetime(day.year, day.month, day.day, hour, minute)


def _open_month(area, month, user, programs=("BTXH", "NCC")):
    """Build and lock ``month``'s lists for every commune of ``area`` (or ``area``, a
    commune) and ``programs``, as they were on the list day: an account recorded on a later
    visit was not on that month's list."""
    made = _at(months.start(month).replace(day=LIST_DAY), LIST_HOUR)
    with _Dated(made):  # the statuses the month's decisions set (changes.apply_due) change then
        built, _ = payments.build_area(area, month, programs, user)
    t = PaymentLine.__table__
    later = select(Beneficiary.id).where(Beneficiary.reviewed_at >= made)
    db.session.execute(t.update().where(t.c.period_id.in_([p.id for p in built]), t.c.has_account.is_(True),
                                        t.c.beneficiary_id.in_(later))
                       .values(method="cash", has_account=False, recipient_type=None, bank_bin=None,
                               account_number=None, holder_name=None))
    for p in built:
        for line in p.lines:
            if line.status == "blocked":
                payments.hold(line, "Chờ xã bổ sung hồ sơ")
        payments.lock(p, user)
        p.created_at, p.locked_at = made, made + timedelta(hours=2)
    db.session.flush()
    return built


def _draw_results(rng, month, built, away, missed_before, as_of=DEMO_DAY):
    """The provider's answers for ``month``'s lines, as of ``as_of``: accounts are
    credited on the 6th–8th; the post office pays cash commune by commune on a day of the
    month (a day after the demo's "today" leaves that commune's cash lines pending). A few
    payments fail or come back, never twice running for one person; ``away`` collects
    nothing from January to March. Returns ``(results, ids that missed a payment)``."""
    first = months.start(month)
    days = {c: (rng.randint(6, 8), rng.randint(6, 28)) for c in sorted({p.commune_id for p in built})}
    rows = db.session.execute(
        select(PaymentLine.id, PaymentLine.beneficiary_id, PaymentLine.method, PaymentPeriod.commune_id)
        .join(PaymentPeriod, PaymentPeriod.id == PaymentLine.period_id)
        .where(PaymentLine.period_id.in_([p.id for p in built]), PaymentLine.status == "listed")
        .order_by(PaymentLine.id)).all()
    out, missed = [], set()
    for line_id, bid, method, commune_id in rows:
        day = first.replace(day=days[commune_id][0 if method == "account" else 1])
        at, draw = _at(day, rng.randint(8, 16), rng.randint(0, 59)), rng.random()
        if day > as_of:
            continue  # not paid yet: pending
        if bid == away and month < "2024-04":
            result, reason = "returned", AWAY
        elif method == "account" and bid not in missed_before and draw < P_FAILED:
            result, reason = "failed", CLOSED_ACCOUNT
        elif method == "account" and bid not in missed_before and draw < P_FAILED + P_RETURNED_ACCOUNT:
            result, reason = "returned", WRONG_HOLDER
        elif method == "cash" and bid not in missed_before and draw < P_RETURNED_CASH:
            result, reason = "returned", NOT_AT_HOME
        else:
            result, reason = ("paid_account" if method == "account" else "paid_cash"), None
        if reason:
            missed.add(bid)
        out.append({"line_id": line_id, "result": result, "reason": reason, "at": at})
    return out, missed


def _story_people(rng, communes, avoid):
    """Who the month's changes happen to (BTXH, active, none of the planted records):
    ``died`` (Bình Chánh, 88 or older), ``away`` (Bình Chánh, paid in cash), ``mover``
    (another commune, paid in cash), each ``None`` when the world has nobody fitting."""
    focus = next(c for c in communes if c.code == FOCUS_COMMUNE)
    people = db.session.scalars(select(Beneficiary).where(
        Beneficiary.program == "BTXH", Beneficiary.status == "active", Beneficiary.deceased.is_(False),
        Beneficiary.category.is_not(None), Beneficiary.id.not_in(list(avoid) or [0]))
        .order_by(Beneficiary.id)).all()

    def pick(fits, taken=()):
        found = [b for b in people if fits(b) and b not in taken]
        return rng.choice(found) if found else None

    died = pick(lambda b: b.commune_id == focus.id and b.birth_year <= DEMO_DAY.year - 88)
    away = pick(lambda b: b.commune_id == focus.id and b.payment_method == "cash"
                and DEMO_DAY.year - b.birth_year < 80, (died,))
    mover = pick(lambda b: b.commune_id != focus.id and b.payment_method == "cash")
    return focus, died, away, mover


def _new_person(seed, focus, officer, at):
    """A woman of Bình Chánh who turned 80 in February 2024 (Decree 20/2021/NĐ-CP Art. 5(5c)),
    entered by the commune officer."""
    w = _World(seed + 3)
    w.used_ids.update(db.session.scalars(select(Beneficiary.national_id).where(
        Beneficiary.national_id.is_not(None))))
    name = w.name("F", "old")
    village = db.session.scalars(select(Area).where(Area.parent_id == focus.id, Area.level == "village")
                                 .order_by(Area.id)).first()
    household = Household(commune_id=focus.id, village_id=village.id if village else None,
                          head_name=name, created_at=at)
    b = Beneficiary(program="BTXH", commune_id=focus.id, village_id=household.village_id, household=household,
                    full_name=name, name_folded=fold(name), sex="F", birth_date=date(1944, 2, 10),
                    birth_year=1944, national_id=w.national_id("F", 1944),
                    category="Người cao tuổi từ đủ 80 tuổi trở lên", coefficient=1.0,
                    monthly_amount=BTXH_STANDARD, status="active", created_at=at, updated_at=at)
    db.session.add(b)
    db.session.flush()
    history.record_creation(b, officer, "import")
    return b


def pay_months(seed: int = 2024, avoid=()) -> dict:
    """Run the district's payment cycle from January to May 2024 (:data:`PAID_MONTHS`), so
    that the monthly report has real figures, through the product's own functions.

    Each month: every commune's BTXH and NCC lists built (``payments.build_area``) and locked
    on the 5th by the ``district`` user, with the accounts recorded by then (so account
    payments grow month by month as the campaign's visits move people to accounts); the
    ``payer``'s results (:func:`record_results`): most account lines paid into the account,
    cash lines paid in cash, a few failed (closed account, with its finding) or returned;
    May's cash is still pending in the communes the post office visits after the demo's
    "today" (24/5). And the changes (``portal.services.changes``), proposed by the Bình Chánh
    officer or the district and decided by the ``district`` user with a decision number
    and date: a new beneficiary from March; a death on 14/3 stopped from April (cl. 1a);
    a person who collected nothing from January to March suspended from April (cl. 3a)
    and resumed from May with April's arrears; a move from another commune to Bình Chánh
    from May. Everything is dated in its month. ``avoid``: ids the stories must leave alone.

    Deterministic for ``seed``. Does nothing when payment lists exist. Flushes. Returns
    ``{"periods", "lines", "results", "failed", "returned", "pending", "changes"}``.
    """
    communes = _communes(load=False)
    if not communes or db.session.scalar(select(func.count()).select_from(PaymentPeriod)):
        return {"skipped": True}
    rng = random.Random(seed + 2)
    district_area = _demo_area(DISTRICT_CODE)
    district = _ensure_user("district", "district", DISTRICT_CODE)
    payer = _ensure_user("payer", "payer", DISTRICT_CODE)
    officer = _ensure_user("commune", "commune", FOCUS_COMMUNE)
    focus, died, away, mover = _story_people(rng, communes, avoid)
    away_id = away.id if away else None
    n_changes = 0

    def decided(change, day, number):
        nonlocal n_changes
        with _Dated(_at(day, 15), change.beneficiary), clock.pinned(months.of(day)):
            changes.decide(change, district, True, number, day)
            payments.refresh_for_decision(change, district)
        n_changes += 1

    def before(month):
        """The changes decided before ``month``'s lists, effective from ``month``."""
        if month == "2024-03":
            with _Dated(_at(date(2024, 2, 20), 10)) as d:
                newcomer = _new_person(seed, focus, officer, d.at)
                change = changes.propose(newcomer, "new", officer, "2024-03",
                                         reason="Đủ 80 tuổi từ tháng 02/2024, không có lương hưu, trợ cấp BHXH",
                                         evidence="Tờ khai đề nghị trợ cấp xã hội ngày 20/02/2024")
            decided(change, date(2024, 2, 26), "45/QĐ-UBND")
        if month == "2024-04" and died is not None:
            with _Dated(_at(date(2024, 3, 18), 14), died):
                history.set_fields(died, {"deceased": True, "note": "Chết ngày 14/03/2024"}, officer, "review")
                change = changes.propose(died, "stop", officer, months.after(date(2024, 3, 14)), clause="1a",
                                         reason="Chết ngày 14/03/2024", source="review",
                                         evidence="Trích lục khai tử số 27/2024, UBND xã Bình Chánh")
            decided(change, date(2024, 3, 27), "112/QĐ-UBND")
        if month == "2024-04" and away is not None and away_id in changes.uncollected(
                [c.id for c in communes], "2024-03"):
            with _Dated(_at(date(2024, 3, 28), 9), away):
                change = changes.propose(away, "suspend", officer, "2024-04", clause="3a", source="check",
                                         reason=f"{changes.CLAUSES['3a'][1]} (tháng 01, 02 và 03/2024)",
                                         note=AWAY)
            decided(change, date(2024, 3, 29), "113/QĐ-UBND")
        if month == "2024-05" and mover is not None:
            with _Dated(_at(date(2024, 4, 15), 10), mover):
                change = changes.propose(mover, "move_out", district, "2024-05", to_commune=focus,
                                         reason=f"Chuyển đến ở với con tại {focus.full_name}")
            decided(change, date(2024, 4, 24), "138/QĐ-UBND")
            village = rng.choice(db.session.scalars(select(Area).where(
                Area.parent_id == focus.id, Area.level == "village").order_by(Area.id)).all())
            with _Dated(_at(date(2024, 5, 2), 9), mover):
                history.set_fields(mover, {"village_id": village.id}, officer, "review")
                mover.household.village_id = village.id
        if month == "2024-05" and away is not None and away.status == "suspended":
            with _Dated(_at(date(2024, 4, 22), 10), away):
                change = changes.propose(away, "resume", officer, "2024-05",
                                         note="Đã về địa phương: hưởng tiếp từ tháng 05/2024, truy lĩnh tháng 04/2024")
            decided(change, date(2024, 4, 26), "140/QĐ-UBND")

    counts = Counter()
    missed = set()
    for month in PAID_MONTHS:
        with clock.pinned(month):
            before(month)
            built = _open_month(district_area, month, district)
        results, missed = _draw_results(rng, month, built, away_id, missed)
        record_results(results, payer)
        counts["periods"] += len(built)
        counts["lines"] += db.session.scalar(select(func.count()).select_from(PaymentLine).where(
            PaymentLine.period_id.in_([p.id for p in built]), PaymentLine.status == "listed"))
        counts["results"] += len(results)
        for r in results:
            if r["result"] in ("failed", "returned"):
                counts[r["result"]] += 1
    counts["pending"] = counts["lines"] - counts["results"]
    counts["changes"] = n_changes
    return dict(counts)


# Today's world (December 2026): the same people, the units after the 2025 reform. The
# officers of Bình Chánh went on in Xã Bình Sơn, which absorbed it; the post office pays
# the whole province; the province department oversees; the district's account is kept
# for the months before the reform.
TODAY_USERS = [("admin", "admin", "51"), ("province", "province", "51"), ("district", "district", "524"),
               ("commune", "commune", "21040"), ("chairman", "chairman", "21040"),
               ("police", "police", "21040"), ("payer", "payer", "51")]
TODAY_FULL_NAMES = DEMO_FULL_NAMES | {
    "province": "Sở Y tế tỉnh Quảng Ngãi (Phòng Bảo trợ xã hội)",
    "commune": "Cán bộ văn hóa - xã hội xã Bình Sơn",
    "chairman": "Chủ tịch UBND xã Bình Sơn",
    "police": "Công an xã Bình Sơn (Tổ Đề án 06)",
    "payer": "Bưu điện tỉnh Quảng Ngãi",
}


def _area_of(code, world):
    """The unit with ``code`` in the demo's 2024 world (``world="2024"``) or today."""
    if world == "2024":
        return _demo_area(code)
    level = {2: "province", 3: "district"}.get(len(code), "commune")
    return areas.find_area(code, level, on=date(2026, 12, 1)) or _demo_area(code)


def create_demo_users(password: str = "demo", fast: bool = False, world: str = "today") -> list:
    """Create or update the demo users with ``password``: ``world="today"`` the
    :data:`TODAY_USERS` in today's units (Xã Bình Sơn 21040 from 1/7/2025, the province,
    and the district 524 kept for its past months), ``world="2024"`` the
    :data:`DEMO_USERS` in the pre-reform units (commune 21052 Bình Chánh, district 524,
    province 51), as the tests of the 2024 world have them.

    ``fast=True`` (tests only) stores a cheap PBKDF2 hash instead of the default scrypt.
    Loads the packaged areas when missing. Flushes; the caller commits. Returns the users.
    """
    if world not in ("today", "2024"):
        raise ValueError(f"world: today or 2024, not {world!r}")
    users = []
    names = TODAY_FULL_NAMES if world == "today" else DEMO_FULL_NAMES
    for username, role, code in (TODAY_USERS if world == "today" else DEMO_USERS):
        area = _area_of(code, world)  # before a new user is added: the query autoflushes
        user = db.session.scalar(select(User).where(User.username == username))
        if user is None:
            user = User(username=username)
            db.session.add(user)
        user.role, user.area = role, area
        user.full_name = names[username]
        user.active = True
        if fast:
            user.password_hash = generate_password_hash(password, method="pbkdf2:sha256:1000")
        else:
            user.set_password(password)
        users.append(user)
    db.session.flush()
    return users

"""The registry: areas, users, households, beneficiaries, their accounts and history.

Money is an ``int`` of đồng; months are ``"YYYY-MM"`` strings; dates are ``datetime.date``.
"""
from datetime import date, datetime, timezone

from flask_login import UserMixin
from sqlalchemy import (JSON, event, BigInteger, Date, DateTime, ForeignKey, Index, Integer, LargeBinary,
                        Numeric, String, Text, UniqueConstraint, text)
from sqlalchemy.orm import Mapped, mapped_column, relationship
from werkzeug.security import check_password_hash, generate_password_hash

from .extensions import db


# Indexes only PostgreSQL has (migration 0012: the search's trigram index); the models do
# not describe them, so Alembic's comparison leaves them out (migrations/env.py).
POSTGRESQL_ONLY_INDEXES = ("ix_beneficiary_name_trgm",)


def include_name(name, type_, parent_names):
    """Alembic's ``include_name``: every name but :data:`POSTGRESQL_ONLY_INDEXES`."""
    return not (type_ == "index" and name in POSTGRESQL_ONLY_INDEXES)


def utcnow():
    return datetime.now(timezone.utc).replace(tzinfo=None)


LEVELS = ("country", "province", "district", "commune", "village")
PROGRAMS = ("BTXH", "NCC", "HTXH")
SEXES = ("M", "F")
ROLES = ("admin", "province", "district", "chairman", "commune", "police", "payer", "system")
# The roles a person can be given (CLI ``create-user``, any user form): every role but
# ``system``, the internal author of imports and scheduled checks, which never logs in
# (``User.is_active``) and so must not be handed to a person.
PERSON_ROLES = tuple(r for r in ROLES if r != "system")
ACCOUNT_STATUSES = ("unknown", "has_account", "opening", "no_account", "refuses")
RECIPIENT_TYPES = ("self", "guardian", "authorised")
PAYMENT_METHODS = ("cash", "account")


class Area(db.Model):
    """Đơn vị hành chính — an administrative unit, identified by its GSO code and validity.

    A code can name two units in two periods (21040 is Thị trấn Châu Ổ until 30/06/2025 and
    Xã Bình Sơn from 01/07/2025), so lookups by code take a date. Villages (thôn) have no
    GSO code: they are created under their commune from the names in uploaded files.
    ``path`` is the chain of ids from the root, ``/1/4/27/``: scoping filters on its prefix.
    """

    __tablename__ = "area"
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str | None] = mapped_column(String(10), index=True)
    name: Mapped[str] = mapped_column(String(120))
    kind: Mapped[str | None] = mapped_column(String(30))  # Tỉnh, Huyện, Xã, Thị trấn, Thôn …
    level: Mapped[str] = mapped_column(String(10))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("area.id"), index=True)
    path: Mapped[str] = mapped_column(String(200), default="", index=True)
    name_folded: Mapped[str] = mapped_column(String(120), default="")
    valid_from: Mapped[date | None] = mapped_column(Date)
    valid_to: Mapped[date | None] = mapped_column(Date)
    successor_id: Mapped[int | None] = mapped_column(ForeignKey("area.id"))

    parent = relationship("Area", remote_side=[id], foreign_keys=[parent_id])
    successor = relationship("Area", remote_side=[id], foreign_keys=[successor_id])

    __table_args__ = (Index("ix_area_parent_folded", "parent_id", "name_folded"),)

    @property
    def full_name(self):
        return f"{self.kind} {self.name}" if self.kind else self.name

    def __repr__(self):
        return f"<Area {self.level} {self.code} {self.name}>"


class User(UserMixin, db.Model):
    """A person who logs in: a role and the area they work in."""

    __tablename__ = "user"
    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(60), unique=True)
    full_name: Mapped[str] = mapped_column(String(120), default="")
    password_hash: Mapped[str] = mapped_column(String(256), default="")
    role: Mapped[str] = mapped_column(String(10))
    area_id: Mapped[int | None] = mapped_column(ForeignKey("area.id"))
    active: Mapped[bool] = mapped_column(default=True)
    # Part of the login cookie: logging out moves it on, so an old cookie stops working.
    session_version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    area = relationship("Area")

    def get_id(self):
        return f"{self.id}:{self.session_version}"

    def set_password(self, password):
        self.password_hash = generate_password_hash(password)

    def check_password(self, password):
        return bool(self.password_hash) and check_password_hash(self.password_hash, password)

    @property
    def is_active(self):
        return self.active and self.role != "system"


class Household(db.Model):
    """Hộ gia đình — people paid at one address; one person unless an officer groups them."""

    __tablename__ = "household"
    id: Mapped[int] = mapped_column(primary_key=True)
    commune_id: Mapped[int] = mapped_column(ForeignKey("area.id"), index=True)
    village_id: Mapped[int | None] = mapped_column(ForeignKey("area.id"), index=True)
    head_name: Mapped[str] = mapped_column(String(120), default="")
    code: Mapped[str | None] = mapped_column(String(40))  # Mã hộ / Hộ số from a file
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    commune = relationship("Area", foreign_keys=[commune_id])
    village = relationship("Area", foreign_keys=[village_id])
    members = relationship("Beneficiary", back_populates="household", order_by="Beneficiary.id")


class Beneficiary(db.Model):
    """Đối tượng — a person paid a monthly allowance under one program.

    ``monthly_amount`` in đồng; ``birth_date`` may be unknown while ``birth_year`` is known;
    ``national_id`` is the 12-digit personal ID (never unique: two records may share one,
    which is a finding, not a merge); ``version`` guards against two officers overwriting
    each other's saves.
    """

    __tablename__ = "beneficiary"
    id: Mapped[int] = mapped_column(primary_key=True)
    program: Mapped[str] = mapped_column(String(4))
    commune_id: Mapped[int] = mapped_column(ForeignKey("area.id"))
    village_id: Mapped[int | None] = mapped_column(ForeignKey("area.id"), index=True)
    household_id: Mapped[int] = mapped_column(ForeignKey("household.id"), index=True)
    full_name: Mapped[str] = mapped_column(String(120))
    name_folded: Mapped[str] = mapped_column(String(120), index=True)
    sex: Mapped[str | None] = mapped_column(String(1))
    birth_date: Mapped[date | None] = mapped_column(Date)
    birth_year: Mapped[int | None] = mapped_column(Integer)
    national_id: Mapped[str | None] = mapped_column(String(12), index=True)
    legacy_id: Mapped[str | None] = mapped_column(String(12))
    category: Mapped[str | None] = mapped_column(String(200))
    coefficient: Mapped[float | None] = mapped_column(Numeric(4, 2, asdecimal=False))
    monthly_amount: Mapped[int | None] = mapped_column(Integer)
    phone: Mapped[str | None] = mapped_column(String(20))
    note: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(10), default="active")  # active/suspended/stopped/merged
    deceased: Mapped[bool] = mapped_column(default=False)
    account_status: Mapped[str] = mapped_column(String(12), default="unknown")
    no_account_reason: Mapped[str | None] = mapped_column(String(200))
    # Why a person refuses (or has no) account, a code of services/outreach.REFUSAL_REASONS
    # (``other``: the words in ``no_account_reason``), and when to go back (migration 0015).
    refusal_reason: Mapped[str | None] = mapped_column(String(12))
    revisit_on: Mapped[date | None] = mapped_column(Date)
    payment_method: Mapped[str] = mapped_column(String(8), default="cash")
    reviewed_at: Mapped[datetime | None] = mapped_column(DateTime)
    reviewed_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)
    version: Mapped[int] = mapped_column(Integer, default=1)
    # A duplicate merged into another record keeps its row and history (status "merged").
    merged_into_id: Mapped[int | None] = mapped_column(ForeignKey("beneficiary.id"))
    # For the social pension (HTXH, services/pension.py): receives a pension or a monthly
    # social-insurance allowance (None: unknown); household poverty: "poor"/"near_poor"/None.
    has_pension: Mapped[bool | None] = mapped_column(nullable=True)
    poor_household: Mapped[str | None] = mapped_column(String(10))
    # The BTXH record an HTXH record was transferred from (Decree 176/2025/NĐ-CP): the same
    # person, so the shared ID is no duplicate, and the two are never paid for one month.
    transferred_from_id: Mapped[int | None] = mapped_column(ForeignKey("beneficiary.id"), index=True)

    commune = relationship("Area", foreign_keys=[commune_id])
    village = relationship("Area", foreign_keys=[village_id])
    household = relationship("Household", back_populates="members")
    account = relationship("Account", uselist=False, back_populates="beneficiary")
    findings = relationship("Finding", back_populates="beneficiary",
                            order_by="Finding.id", viewonly=True)

    __mapper_args__ = {"version_id_col": version}
    # Every column the progress count reads (progress.count_rows), so PostgreSQL answers a
    # commune's count from the index alone (bench/README.md, "At province and country size").
    # The search's first 50 by name in a commune, read from the index alone (review.search).
    __table_args__ = (Index("ix_beneficiary_progress", "commune_id", "program", "status", "deceased",
                            "account_status", "payment_method", "reviewed_at", "id"),
                      Index("ix_beneficiary_commune_name", "commune_id", "name_folded", "status", "id"))


class Account(db.Model):
    """Tài khoản — the bank, e-wallet or Mobile Money account a beneficiary is paid into.

    ``bank_bin`` is the Napas BIN (VietQR); ``recipient_type`` says whose account it is:
    the beneficiary's own, a guardian's (người giám hộ) or an authorised person's.
    """

    __tablename__ = "account"
    id: Mapped[int] = mapped_column(primary_key=True)
    beneficiary_id: Mapped[int] = mapped_column(ForeignKey("beneficiary.id"), unique=True)
    bank_bin: Mapped[str | None] = mapped_column(String(8))
    bank_text: Mapped[str | None] = mapped_column(String(120))  # as written in the file
    number: Mapped[str | None] = mapped_column(String(30), index=True)
    holder_name: Mapped[str | None] = mapped_column(String(120))
    holder_national_id: Mapped[str | None] = mapped_column(String(12))
    recipient_type: Mapped[str] = mapped_column(String(10), default="self")

    beneficiary = relationship("Beneficiary", back_populates="account")


class Review(db.Model):
    """Rà soát — one visit or check of a beneficiary recorded by an officer."""

    __tablename__ = "review"
    id: Mapped[int] = mapped_column(primary_key=True)
    beneficiary_id: Mapped[int] = mapped_column(ForeignKey("beneficiary.id"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id"))
    visited_on: Mapped[date] = mapped_column(Date)
    account_status: Mapped[str] = mapped_column(String(12))
    note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    user = relationship("User")


class ImportBatch(db.Model):
    """One uploaded file: kept (bytes included) from preview to commit, so that the commit
    re-reads exactly what was previewed and nothing lives in process memory."""

    __tablename__ = "import_batch"
    id: Mapped[int] = mapped_column(primary_key=True)
    commune_id: Mapped[int] = mapped_column(ForeignKey("area.id"), index=True)
    program: Mapped[str | None] = mapped_column(String(4))
    month: Mapped[str | None] = mapped_column(String(7))
    kind: Mapped[str] = mapped_column(String(10), default="list", server_default="list")  # list / police
    filename: Mapped[str] = mapped_column(String(255))
    sha256: Mapped[str] = mapped_column(String(64))
    data: Mapped[bytes] = mapped_column(LargeBinary)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id"))
    status: Mapped[str] = mapped_column(String(10), default="preview")  # preview/committed/discarded
    summary: Mapped[dict | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    committed_at: Mapped[datetime | None] = mapped_column(DateTime)

    commune = relationship("Area")
    user = relationship("User")


class Event(db.Model):
    """Lịch sử — one change to one field, appended and never rewritten.

    ``source`` is where it came from: ``import``, ``review``, ``correction``, ``household``.
    """

    __tablename__ = "event"
    id: Mapped[int] = mapped_column(primary_key=True)
    beneficiary_id: Mapped[int | None] = mapped_column(ForeignKey("beneficiary.id"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id"))
    at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, index=True)
    source: Mapped[str] = mapped_column(String(12))
    action: Mapped[str] = mapped_column(String(10))  # create / update
    field: Mapped[str | None] = mapped_column(String(40))
    old_value: Mapped[str | None] = mapped_column(Text)
    new_value: Mapped[str | None] = mapped_column(Text)
    batch_id: Mapped[int | None] = mapped_column(ForeignKey("import_batch.id"))
    # A payment result is an event of its payment line (so a past month can be recounted).
    payment_line_id: Mapped[int | None] = mapped_column(ForeignKey("payment_line.id"), index=True)
    # The user an admin's change of a user concerns (services/users.py); no foreign key
    # (migration 0016 adds it without rebuilding the table).
    subject_user_id: Mapped[int | None] = mapped_column(Integer, index=True)

    user = relationship("User")


def _finding_commune(context):
    """The commune of the finding's record, for an INSERT that does not give it."""
    bid = context.get_current_parameters().get("beneficiary_id")
    if bid is None:
        return None
    return context.connection.execute(text("SELECT commune_id FROM beneficiary WHERE id = :id"),
                                      {"id": bid}).scalar()


class Finding(db.Model):
    """A problem found on a record (severity ``error`` blocks payment, ``warning`` needs a
    look, ``info`` is a note), with where it was seen when it came from a file."""

    __tablename__ = "finding"
    id: Mapped[int] = mapped_column(primary_key=True)
    beneficiary_id: Mapped[int] = mapped_column(ForeignKey("beneficiary.id"), index=True)
    # The record's commune (a record never changes commune), so the quality pages count a
    # commune's findings without joining the registry; set from the record when not given.
    commune_id: Mapped[int | None] = mapped_column(ForeignKey("area.id"), default=_finding_commune)
    code: Mapped[str] = mapped_column(String(40))
    severity: Mapped[str] = mapped_column(String(8))
    field: Mapped[str | None] = mapped_column(String(40))
    message: Mapped[str] = mapped_column(Text)
    source: Mapped[str] = mapped_column(String(12), default="import")
    batch_id: Mapped[int | None] = mapped_column(ForeignKey("import_batch.id"))
    sheet: Mapped[str | None] = mapped_column(String(100))
    row: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime)

    beneficiary = relationship("Beneficiary", back_populates="findings")
    __table_args__ = (Index("ix_finding_commune_open", "commune_id", "resolved_at", "source", "severity",
                            "code", "beneficiary_id"),)


# The data-quality counters, kept by database triggers on ``finding`` and ``beneficiary``
# (services/quality_counts.py, migration 0014). No foreign keys: counters, not facts.
class FindingCount(db.Model):
    """The open findings the quality pages count (``checks._open_check``) of one (commune,
    code, severity)."""

    __tablename__ = "finding_count"
    commune_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    code: Mapped[str] = mapped_column(String(40), primary_key=True)
    severity: Mapped[str] = mapped_column(String(8), primary_key=True)
    n: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class QualityRecord(db.Model):
    """A record with at least one open counted finding (none: no row): how many are errors
    and how many not, ``rank`` 0 with an error and 1 without, ``name_folded`` the record's;
    the commune's worklist is read in the order of ``ix_quality_record_worklist``."""

    __tablename__ = "quality_record"
    beneficiary_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    commune_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    name_folded: Mapped[str | None] = mapped_column(String(120))
    errors: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    warnings: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    rank: Mapped[int] = mapped_column(db.SmallInteger, default=1, server_default="1")
    __table_args__ = (Index("ix_quality_record_worklist", "commune_id", "rank", "name_folded", "beneficiary_id"),)


class QualityCount(db.Model):
    """Per commune: its records not merged, those with an open error, those with any open
    counted finding."""

    __tablename__ = "quality_count"
    commune_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    records: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    with_error: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    with_finding: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


def _quality_count_triggers(target, connection, **kw):
    """After ``create_all``: the triggers keeping the quality counters
    (services/quality_counts.py), the same DDL as migration 0014."""
    from .services import quality_counts
    if "quality_count" not in target.tables or connection.dialect.name not in ("sqlite", "postgresql"):
        return
    for statement in quality_counts.create_statements(connection.dialect.name):
        connection.exec_driver_sql(statement)


db.event.listen(db.metadata, "after_create", _quality_count_triggers)


class Target(db.Model):
    """Chỉ tiêu — one version of a target rate (percent) for one indicator and program, in
    force from the month ``valid_from`` (``YYYY-MM``) until the next version of the same
    (program, indicator, area); ``area_id`` empty: every area without its own version.

    Indicators: ``reviewed`` (100 %), ``cashless`` (60 % BTXH, 50 % NCC, Bình Sơn 2024
    directive), ``paid_into_account`` (100 % of those with an account, Directive 21/CT-TTg).
    An admin's edit adds a version from a month whose report is not yet made (chốt), so a
    month's report keeps the targets in force in that month (``services/progress.py``).
    ``set_by_id``/``set_at``: who set this version, when (empty for the rows that predate
    versions); every change is also an ``Event`` (source ``admin``, field ``target``).
    """

    __tablename__ = "target"
    id: Mapped[int] = mapped_column(primary_key=True)
    program: Mapped[str] = mapped_column(String(4))
    indicator: Mapped[str] = mapped_column(String(20))
    percent: Mapped[int] = mapped_column(Integer)
    area_id: Mapped[int | None] = mapped_column(ForeignKey("area.id"))
    valid_from: Mapped[str] = mapped_column(String(7))
    set_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    set_at: Mapped[datetime | None] = mapped_column(DateTime, default=utcnow)

    set_by = relationship("User")
    __table_args__ = (UniqueConstraint("program", "indicator", "area_id", "valid_from"),)


class StandardLevel(db.Model):
    """Mức chuẩn — the standard level in đồng in force from ``valid_from`` (Decree 20/2021
    Art. 4 and Decree 76/2024 for BTXH; Decrees 75/2021, 55/2023, 77/2024 for NCC).

    With a ``category`` (an NCC category as the lists write it, e.g. "Thân nhân liệt sĩ"),
    ``amount`` is that category's fixed monthly amount (the appendices of Decree 55/2023 and
    77/2024); ``category_folded`` is its folded form, for matching a record's category.
    HTXH (social pension): 500,000 from 2025-07-01 (Decree 176/2025/NĐ-CP Art. 3).
    With an ``area_id`` (a province), the level that province set by its own resolution,
    in force there from ``valid_from`` (the most specific row in force wins).
    """

    __tablename__ = "standard_level"
    id: Mapped[int] = mapped_column(primary_key=True)
    program: Mapped[str] = mapped_column(String(4))
    category: Mapped[str | None] = mapped_column(String(200))
    category_folded: Mapped[str | None] = mapped_column(String(200))
    amount: Mapped[int] = mapped_column(Integer)
    valid_from: Mapped[date] = mapped_column(Date)
    source: Mapped[str] = mapped_column(String(120), default="")
    area_id: Mapped[int | None] = mapped_column(ForeignKey("area.id"))

    area = relationship("Area")


class Verification(db.Model):
    """Xác minh — the commune police's check of a record against the National Population
    Database (Đề án 06) in one payment period.

    ``result``: ``verified``, ``mismatch`` (``field`` differs; ``population_value`` is what
    the database holds), ``deceased`` (``died_on``), ``moved`` or ``not_found``.
    """

    __tablename__ = "verification"
    id: Mapped[int] = mapped_column(primary_key=True)
    beneficiary_id: Mapped[int] = mapped_column(ForeignKey("beneficiary.id"), index=True)
    period: Mapped[str] = mapped_column(String(7))  # YYYY-MM
    result: Mapped[str] = mapped_column(String(10))
    field: Mapped[str | None] = mapped_column(String(40))
    population_value: Mapped[str | None] = mapped_column(String(200))
    died_on: Mapped[date | None] = mapped_column(Date)
    note: Mapped[str | None] = mapped_column(Text)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    user = relationship("User")
    __table_args__ = (Index("ix_verification_period_beneficiary", "period", "beneficiary_id"),)


class ChangeProposal(db.Model):
    """Phát sinh tăng / giảm — one change to a beneficiary's allowance, proposed, then
    decided (approved or rejected) with a decision number and date.

    ``kind``: decreases ``stop`` (thôi hưởng, Circular 02/2021/TT-BLĐTBXH Art. 2 cl. 1–2),
    ``suspend`` (tạm dừng, cl. 3), ``move_out``; increases ``new``, ``resume``, ``move_in``.
    ``clause`` is the reason code, e.g. ``1a`` (died) or ``3a`` (not collected for three
    months). ``effective_month`` (``YYYY-MM``) is the first month the change applies to
    (for a stop, the month after the death or loss of eligibility, Decree 20/2021/NĐ-CP
    Art. 8(2)). ``arrears_from`` (``YYYY-MM``) on an increase is the first month owed
    (truy lĩnh). ``commune_id`` is the commune the change counts in; a move out names
    ``to_commune_id``. ``status``: ``proposed``, ``approved``, ``rejected``.
    """

    __tablename__ = "change_proposal"
    id: Mapped[int] = mapped_column(primary_key=True)
    beneficiary_id: Mapped[int] = mapped_column(ForeignKey("beneficiary.id"), index=True)
    commune_id: Mapped[int | None] = mapped_column(ForeignKey("area.id"), index=True)
    kind: Mapped[str] = mapped_column(String(10))
    clause: Mapped[str | None] = mapped_column(String(4))
    reason: Mapped[str] = mapped_column(Text)
    note: Mapped[str | None] = mapped_column(Text)
    evidence: Mapped[str | None] = mapped_column(String(300))
    effective_month: Mapped[str] = mapped_column(String(7))
    arrears_from: Mapped[str | None] = mapped_column(String(7))
    to_commune_id: Mapped[int | None] = mapped_column(ForeignKey("area.id"))
    status: Mapped[str] = mapped_column(String(10), default="proposed")
    source: Mapped[str] = mapped_column(String(12))  # police / review / check / officer / import
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    decision_number: Mapped[str | None] = mapped_column(String(60))
    decision_date: Mapped[date | None] = mapped_column(Date)
    decision_note: Mapped[str | None] = mapped_column(Text)
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    decided_at: Mapped[datetime | None] = mapped_column(DateTime)

    beneficiary = relationship("Beneficiary")
    commune = relationship("Area", foreign_keys=[commune_id])
    to_commune = relationship("Area", foreign_keys=[to_commune_id])
    user = relationship("User", foreign_keys=[user_id])
    decided_by = relationship("User", foreign_keys=[decided_by_id])
    __table_args__ = (Index("ix_change_effective", "effective_month", "status"),)


class Merge(db.Model):
    """Gộp hồ sơ — two records found to be one person merged into ``survivor``, field by
    field; ``before`` keeps what both held so that the merge can be undone."""

    __tablename__ = "merge"
    id: Mapped[int] = mapped_column(primary_key=True)
    survivor_id: Mapped[int] = mapped_column(ForeignKey("beneficiary.id"), index=True)
    merged_id: Mapped[int] = mapped_column(ForeignKey("beneficiary.id"), index=True)
    choices: Mapped[dict] = mapped_column(JSON)  # field → "survivor" / "merged"
    before: Mapped[dict] = mapped_column(JSON)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    undone_at: Mapped[datetime | None] = mapped_column(DateTime)
    undone_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))

    survivor = relationship("Beneficiary", foreign_keys=[survivor_id])
    merged = relationship("Beneficiary", foreign_keys=[merged_id])
    user = relationship("User", foreign_keys=[user_id])


class PaymentPeriod(db.Model):
    """Kỳ chi trả — one commune's payment list for one month and program.

    ``status``: ``draft`` (being prepared), ``locked`` (final; a change needs a new
    ``version`` with a ``reason``, and every version is kept).
    """

    __tablename__ = "payment_period"
    id: Mapped[int] = mapped_column(primary_key=True)
    commune_id: Mapped[int] = mapped_column(ForeignKey("area.id"), index=True)
    month: Mapped[str] = mapped_column(String(7))  # YYYY-MM
    program: Mapped[str] = mapped_column(String(4))
    version: Mapped[int] = mapped_column(Integer, default=1)
    status: Mapped[str] = mapped_column(String(10), default="draft")
    reason: Mapped[str | None] = mapped_column(Text)  # why this version replaces the last
    created_by_id: Mapped[int] = mapped_column(ForeignKey("user.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    locked_at: Mapped[datetime | None] = mapped_column(DateTime)
    locked_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    # When the counts (PaymentCount) were made: the latest time among what they count (the
    # lock, the results, the reviews); ``None`` while a locked list has none (they are
    # then counted from the lines, ``flask recount-lists`` makes them).
    counted_at: Mapped[datetime | None] = mapped_column(DateTime)

    commune = relationship("Area")
    lines = relationship("PaymentLine", back_populates="period", order_by="PaymentLine.id")
    __table_args__ = (UniqueConstraint("commune_id", "month", "program", "version"),)


class PaymentLine(db.Model):
    """Dòng danh sách chi trả — what one beneficiary is to be paid in a period (đồng).

    ``status``: ``listed`` (to pay), ``blocked`` (an error from the checks: fix it or hold
    it), ``held`` (the officer holds it, with ``note``). The account is copied at build
    time, so a locked list says exactly what was sent.
    """

    __tablename__ = "payment_line"
    id: Mapped[int] = mapped_column(primary_key=True)
    period_id: Mapped[int] = mapped_column(ForeignKey("payment_period.id"))
    beneficiary_id: Mapped[int] = mapped_column(ForeignKey("beneficiary.id"), index=True)
    amount: Mapped[int] = mapped_column(Integer)
    arrears: Mapped[int] = mapped_column(Integer, default=0)
    method: Mapped[str] = mapped_column(String(8))  # account / cash
    bank_bin: Mapped[str | None] = mapped_column(String(8))
    account_number: Mapped[str | None] = mapped_column(String(30))
    holder_name: Mapped[str | None] = mapped_column(String(120))
    reference: Mapped[str] = mapped_column(String(40), index=True)
    # Copied at build time: whether the person held an account (own, guardian's or an
    # authorised person's: ``recipient_type``), whatever the method this month.
    has_account: Mapped[bool] = mapped_column(default=False, server_default="0")
    recipient_type: Mapped[str | None] = mapped_column(String(10))
    arrears_from: Mapped[str | None] = mapped_column(String(7))  # first month the arrears cover
    arrears_months: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    status: Mapped[str] = mapped_column(String(10), default="listed")
    note: Mapped[str | None] = mapped_column(Text)
    # The payment provider's answer: pending / paid_account / paid_cash / failed / returned.
    result: Mapped[str] = mapped_column(String(12), default="pending", server_default="pending")
    result_reason: Mapped[str | None] = mapped_column(String(200))
    result_at: Mapped[datetime | None] = mapped_column(DateTime)
    result_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))

    period = relationship("PaymentPeriod", back_populates="lines")
    beneficiary = relationship("Beneficiary")
    # A list's lines in id order: the list page reads one page of them, not the whole list
    # (PostgreSQL walked the primary key otherwise, 400 ms at 1,000,000).
    __table_args__ = (Index("ix_payment_line_period_line", "period_id", "id"),)



class PaymentCount(db.Model):
    """One figure of a locked list, counted from its lines and kept by every write that
    changes it (``payments.recount``; ``key`` one of ``payments.COUNT_KEYS``: people or
    đồng), so a report of many lists reads a few rows instead of every line."""

    __tablename__ = "payment_count"
    period_id: Mapped[int] = mapped_column(ForeignKey("payment_period.id"), primary_key=True)
    key: Mapped[str] = mapped_column(String(48), primary_key=True)
    n: Mapped[int] = mapped_column(BigInteger, default=0)


class ProgressCount(db.Model):
    """A change to the campaign's indicators of the active records of one (commune, village,
    program), one column per field of ``progress.Counts``, added by database triggers on
    ``beneficiary`` and ``account`` (services/tallies.py); ``village_id`` 0 for the records
    without a village. The sum of a key's rows is its figure (``tallies.compact`` folds them
    into one); the progress pages read these rows instead of every record of the area."""

    __tablename__ = "progress_count"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    commune_id: Mapped[int] = mapped_column(Integer)
    village_id: Mapped[int] = mapped_column(Integer)
    program: Mapped[str] = mapped_column(String(4))
    total: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    reviewed: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    with_account: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    own: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    guardian: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    authorised: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    cashless: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    opening: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    no_account: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    refuses: Mapped[int] = mapped_column(Integer, default=0, server_default="0")

    # A commune's rows (the overview, the commune and household pages); a village's rows
    # (the commune page's villages).
    __table_args__ = (Index("ix_progress_count_key", "commune_id", "village_id", "program"),
                      Index("ix_progress_count_village", "village_id"))


def _progress_count_triggers(target, connection, **kw):
    """After ``create_all``: the triggers keeping ``progress_count`` (services/tallies.py),
    the same DDL as migration 0013."""
    from .services import tallies
    if "progress_count" not in target.tables or connection.dialect.name not in ("sqlite", "postgresql"):
        return
    for statement in tallies.create_statements(connection.dialect.name):
        connection.exec_driver_sql(statement)


event.listen(db.metadata, "after_create", _progress_count_triggers)


class OutreachSession(db.Model):
    """Buổi truyền thông — a communication session held in a commune, or in one of its
    villages (``village_id``; ``None``: the whole commune), on ``held_on``, with the number
    of people who attended (≥ 0) and its topic (services/outreach.py, migration 0015)."""

    __tablename__ = "outreach_session"
    id: Mapped[int] = mapped_column(primary_key=True)
    commune_id: Mapped[int] = mapped_column(ForeignKey("area.id"))
    village_id: Mapped[int | None] = mapped_column(ForeignKey("area.id"))
    held_on: Mapped[date] = mapped_column(Date)
    place: Mapped[str] = mapped_column(String(200))
    attendees: Mapped[int] = mapped_column(Integer, default=0)
    topic: Mapped[str] = mapped_column(Text)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    commune = relationship("Area", foreign_keys=[commune_id])
    village = relationship("Area", foreign_keys=[village_id])
    user = relationship("User")

    __table_args__ = (Index("ix_outreach_session_commune_held", "commune_id", "held_on"),)


class MonthlyReport(db.Model):
    """Báo cáo tháng — the monthly report of an area as it was made (chốt) and sent.

    ``figures`` is the report as computed at ``made_at``; the page recounts it from the
    history as of ``made_at``, so the numbers stay those of that day.
    """

    __tablename__ = "monthly_report"
    id: Mapped[int] = mapped_column(primary_key=True)
    area_id: Mapped[int] = mapped_column(ForeignKey("area.id"), index=True)
    month: Mapped[str] = mapped_column(String(7))
    made_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    made_by_id: Mapped[int] = mapped_column(ForeignKey("user.id"))
    reason: Mapped[str | None] = mapped_column(Text)  # why it was made again
    figures: Mapped[dict] = mapped_column(JSON)

    area = relationship("Area")
    made_by = relationship("User")


class IdempotencyKey(db.Model):
    """One POST applied once: the first request with a ``(user, key)`` stores its answer
    in the same transaction as its change; a retry with that key gets the stored answer
    and changes nothing (``services/idempotency.py``).

    ``status`` is ``None`` while only the claim is known (the change is committed, the
    answer not yet); ``headers``: the ones worth replaying (``Location``, ``HX-*``,
    ``Content-Type``); ``body`` compressed with zlib when ``body_encoding`` is ``"zlib"``.
    """

    __tablename__ = "idempotency_key"
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id"))
    key: Mapped[str] = mapped_column(String(64))
    path: Mapped[str] = mapped_column(String(200))
    fingerprint: Mapped[str] = mapped_column(String(64))  # sha256 of the path and the fields
    status: Mapped[int | None] = mapped_column(Integer)
    headers: Mapped[dict | None] = mapped_column(JSON)
    body: Mapped[bytes | None] = mapped_column(LargeBinary)
    body_encoding: Mapped[str | None] = mapped_column(String(8))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, index=True)

    __table_args__ = (UniqueConstraint("user_id", "key"),)


class Setting(db.Model):
    """A portal-wide setting, e.g. ``open_month``, the month the demo data set is open at
    (``YYYY-MM``); ``value`` is a string, its reader parses it."""

    __tablename__ = "setting"
    key: Mapped[str] = mapped_column(String(40), primary_key=True)
    value: Mapped[str] = mapped_column(String(200))


JOB_STATUSES = ("queued", "running", "done", "failed")


class Job(db.Model):
    """One piece of long work (an import, a province's lists, an export, a check) run by the
    worker (``flask worker``, portal/queue.py) instead of inside a request.

    ``kind`` names the handler (``portal/services/jobs.py``), ``params`` its arguments;
    ``area_id`` is the unit the work is for, and decides who may see the job (scope).
    ``status``: ``queued`` → ``running`` → ``done`` or ``failed`` (a failed job can be
    queued again: ``attempts`` counts the runs). ``result`` is what the handler returned:
    a page to go to (``endpoint``/``args``), a file (in ``job_file``), counts. ``error`` is
    the message shown to the user. The progress while it runs lives in the queue's store,
    not here (a SQLite import holds the write lock for its whole transaction)."""

    __tablename__ = "job"
    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(30))
    title: Mapped[str] = mapped_column(String(200))
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id"), index=True)
    area_id: Mapped[int | None] = mapped_column(ForeignKey("area.id"), index=True)
    params: Mapped[dict] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(10), default="queued", index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)
    result: Mapped[dict | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(DateTime)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime)

    user = relationship("User")
    area = relationship("Area")


class JobFile(db.Model):
    """A job's file (an export's workbook), in chunks of at most 1 MiB: every app server
    can send it (no shared disk), and neither writing nor sending it holds it whole."""

    __tablename__ = "job_file"
    job_id: Mapped[int] = mapped_column(ForeignKey("job.id", ondelete="CASCADE"), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    data: Mapped[bytes] = mapped_column(LargeBinary)

import hashlib

from flask import flash, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from ..extensions import db
from ..models import Beneficiary, ImportBatch, utcnow
from ..services import checks, clock, jobs, police
from ..services.imports import claim
from ..sheets.reader import FileProblem
from ..vn.money import format_int
from ..web import (XLSX, download, get_or_404, int_arg, is_long, page_arg, render, roles_required, see_other,
                   wants_fragment)
from . import bp
from .forms import UploadForm, VerifyForm


def period():
    """The payment period being verified (``YYYY-MM``)."""
    return clock.open_month()


@bp.route("/police")
@roles_required("police")
def worklist():
    """The records of the area still to verify this period, one small form each."""
    page = page_arg(per_page=30)
    rows, total = police.to_verify(current_user, period(), page)
    done, everyone = police.done_in(current_user, period())
    return render("police/worklist.html", rows=rows, total=total, page=page, per_page=30,
                  export_in_job=is_long(total), recent_jobs=jobs.recent(current_user, "police_workbook"),
                  done=done, everyone=everyone, period=period(), upload=UploadForm(),
                  forms={b.id: VerifyForm(prefix=f"v{b.id}") for b in rows})


@bp.route("/police/<int:bid>", methods=["POST"])
@roles_required("police")
def verify(bid):
    """Record one answer; htmx swaps the row and gets the worklist's counters out of band
    (``police/_counts.html``: done/total, the records left, from :func:`police.done_in`),
    a plain POST comes back to the list."""
    b = get_or_404(Beneficiary, bid)
    form = VerifyForm(prefix=f"v{b.id}")
    saved = None
    if form.validate_on_submit():
        try:
            saved = police.record(b, current_user, period(), form.result.data, form.field.data or None,
                                  form.population_value.data, form.died_on.data, form.note.data)
            checks.recheck(checks.ids_touching(b))
            db.session.commit()
        except police.VerificationError as e:
            db.session.rollback()
            for f, msg in e.errors.items():
                getattr(form, f).errors = list(getattr(form, f).errors) + [msg]
    if saved and not wants_fragment():
        flash(_("Đã ghi kết quả xác minh: %(name)s.", name=b.full_name), "success")
        return see_other("police.worklist", page=int_arg("page", 1))
    status = 200 if saved else 422
    if wants_fragment() and saved:  # the row, and the worklist's counters out of band
        done, everyone = police.done_in(current_user, period())
        return render("police/_saved.html", b=b, form=form, saved=saved, labels=police.RESULT_LABELS,
                      done=done, everyone=everyone)
    if wants_fragment():
        return render("police/_row.html", b=b, form=form, saved=saved, labels=police.RESULT_LABELS,
                      status=status)
    return render("police/one.html", b=b, form=form, saved=saved, labels=police.RESULT_LABELS,
                  status=status)


def _export_title(p):
    return f"BẢNG XÁC MINH VỚI CSDL QUỐC GIA VỀ DÂN CƯ — kỳ {p[5:]}/{p[:4]}"


@bp.route("/police/export", methods=["GET", "POST"])
@roles_required("police")
def export():
    """The records still to verify as ``.xlsx``, to check against the population database.
    Up to ``JOB_ROWS`` records the file is made in the request; above, a POST makes it in
    a background job (a GET then leads back to the worklist, which has the button)."""
    _rows, total = police.to_verify(current_user, period(), 1, per_page=1)
    if request.method == "POST":
        job = jobs.submit("police_workbook", current_user, current_user.area,
                          {"period": period(), "back": url_for("police.worklist")},
                          _("Bảng xác minh kỳ %(period)s", period=period()[5:] + "/" + period()[:4]))
        return see_other("jobs.show", job_id=job.id)
    if is_long(total):
        flash(_("Còn %(n)s hồ sơ: bấm «Tạo bảng xác minh» để tạo tệp trong nền.", n=format_int(total)), "info")
        return see_other("police.worklist")
    data = police.workbook(police.to_verify_all(current_user, period()), _export_title(period()))
    return download(data, f"xac-minh-{period()}.xlsx")


@jobs.handler("police_workbook", roles=("police",))
def _workbook_job(job, progress):
    """The records of ``job.user``'s area still to verify in ``params["period"]``, as the
    verification workbook, streamed to a file."""
    p = job.params["period"]
    _rows, total = police.to_verify(job.user, p, 1, per_page=1)
    records = jobs.counted(police.to_verify_all(job.user, p), progress, total, _("Ghi tệp"))
    file = jobs.save_written(job, lambda path: police.write_workbook(records, _export_title(p), path),
                             f"xac-minh-{p}.xlsx", XLSX)
    return {"file": file, "message": _("%(n)s hồ sơ cần xác minh.", n=format_int(total))}


@bp.route("/police/upload", methods=["POST"])
@roles_required("police")
def upload():
    """Read a filled-in workbook back and show what it will record; nothing is written yet."""
    form = UploadForm()
    if form.validate_on_submit():
        data = form.file.data.read()
        try:
            parsed = police.parse_workbook(data, current_user, form.file.data.filename)
        except FileProblem as e:
            flash(e.message, "error")
            return see_other("police.worklist")
        batch = ImportBatch(kind="police", commune_id=current_user.area_id, month=period(),
                            filename=form.file.data.filename[:255], data=data, user_id=current_user.id,
                            sha256=hashlib.sha256(data).hexdigest(), summary=_summary(parsed))
        db.session.add(batch)
        db.session.commit()
        return see_other("police.preview", batch_id=batch.id)
    flash(" ".join(e for errs in form.errors.values() for e in errs), "error")
    return see_other("police.worklist")


def _summary(parsed):
    return {"answers": [{"row": a.row, "id": a.beneficiary.id, "name": a.beneficiary.full_name,
                         "result": a.result, "field": a.field, "value": a.population_value,
                         "died_on": a.died_on.isoformat() if a.died_on else None} for a in parsed.answers],
            "problems": [{"row": r, "message": m} for r, m in parsed.problems], "blank": parsed.blank}


def _police_batch(batch_id):
    batch = get_or_404(ImportBatch, batch_id, kind="police")
    return batch


@bp.route("/police/uploads/<int:batch_id>")
@roles_required("police")
def preview(batch_id):
    """The answers the workbook gives, and every row that could not be matched."""
    batch = _police_batch(batch_id)
    return render("police/preview.html", batch=batch, report=batch.summary,
                  labels=police.RESULT_LABELS, fields=police.FIELDS, form=UploadForm())


@bp.route("/police/uploads/<int:batch_id>/confirm", methods=["POST"])
@roles_required("police")
def confirm(batch_id):
    """Record every answer of the workbook in one transaction."""
    batch = _police_batch(batch_id)
    if not claim(batch, "committing"):
        flash(_("Bảng này đã được ghi."), "info")
        return see_other("police.preview", batch_id=batch.id)
    parsed = police.parse_workbook(batch.data, current_user, batch.filename)
    n = police.apply(parsed, current_user, batch.month)
    checks.recheck(select(Beneficiary.id).where(
        Beneficiary.id.in_([a.beneficiary.id for a in parsed.answers])))
    batch.status, batch.committed_at = "committed", utcnow()
    db.session.commit()
    flash(_("Đã ghi %(n)s kết quả xác minh.", n=n), "success")
    return see_other("police.worklist")

"""Every GET page, every query parameter it reads, every bad number: the answer is a page
(200), a redirect, 400 (a malformed month, as the month forms have always answered),
403, 404 or 422 — never a 5xx. A whole-number parameter (read through ``int_arg`` or
``page_arg`` in portal/web.py) given a number out of bounds answers 404, and one that is
not a number 422: the sweep does not let such a value fall back to a default.

How the sweep finds what to send, so that nothing is kept by hand:

* routes: every rule of ``app.url_map`` that answers GET (:data:`NOT_SWEPT` says why the
  few left out are left out; a new route is swept or the test fails);
* path ids: the URLs each role reaches by links from its start page (the walker of
  tests/test_budgets.py), and ids of the same name for the download routes the walker does
  not follow; records the demo district lacks (an uploaded file, a standard level) are
  added for the module and removed after;
* query parameters: read from the source with :mod:`ast` — every name passed to
  ``request.args.get/getlist/[]``, to a helper that reads ``request.args`` with its
  argument (``int_arg``, ``page_arg``, ``_asked_month``…, with their defaults), the fields
  of a form built from ``request.args``, in the view and the functions of its module it
  calls; plus the fields of the GET forms of the blueprint's templates.

Each role that reaches a route (its URL answers 200, or redirects, for that role) sends bad
values in each parameter, one at a time, the other parameters as the link had them: every
value from the first role (admin, who reaches every route), one of each kind from the
others (:data:`ONE_OF_EACH`). Path ids are swept too: 20 and 40 digits, 0, -1, ``２``.
"""
import ast
import csv
import io
import re
import time
from datetime import date
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest
from flask import Flask
from sqlalchemy import select
from werkzeug.exceptions import HTTPException, NotFound
from werkzeug.security import generate_password_hash

from portal.extensions import db
from portal.models import Beneficiary, ImportBatch, Job, JobFile, PaymentPeriod, StandardLevel, User
from tests.conftest import login
from tests.test_budgets import ROLES, walk

PORTAL = Path(__file__).resolve().parents[1] / "portal"
HUGE = ["9" * 20, "9" * 40]  # past 2**63 - 1: OverflowError in sqlite3, out of range in PostgreSQL
OUT_OF_BOUNDS = HUGE + ["-1", "0"]
MALFORMED = ["abc", "1e999", "NaN", "２", "9999-99", "0000-00", "2024-13"]
# Months the month pattern lets through but no calendar has (year 0), or whose next
# month has five digits: they must not break the date arithmetic either.
EDGE_MONTHS = ["0000-01", "9999-12"]
BAD_VALUES = OUT_OF_BOUNDS + MALFORMED + EDGE_MONTHS + [""]
ONE_OF_EACH = ["9" * 20, "-1", "abc", "2024-13", "0000-01"]
ALLOWED = {200, 301, 302, 303, 400, 403, 404, 422}
SWEEP_ROLES = ROLES + ["chairman"]
WALK_LIMIT = 40  # pages per role: enough for the walker to reach every kind of page once

# GET rules not swept, and why.
NOT_SWEPT = {
    "static": "files by path, no query parameter read",
    "asset": "fingerprinted files by name, no query parameter read",
    "service_worker_script": "a fixed script, no query parameter read",
    "review.csrf_token": "a token as JSON, no query parameter read",
}


# ------------------------------------------------------------------------- discovery


def _is_request_args(node):
    return (isinstance(node, ast.Attribute) and node.attr == "args"
            and isinstance(node.value, ast.Name) and node.value.id == "request")


def _literal(node):
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


class _Module:
    """What one module's functions read from the query string, by :mod:`ast`."""

    def __init__(self, path, readers):
        self.name = ".".join(path.relative_to(PORTAL.parent).with_suffix("").parts)
        self.tree = ast.parse(path.read_text(), str(path))
        # helper name → (param index, param name, default, is_int); web.int_arg is the one
        # parser of whole numbers, so what reaches it is a whole-number parameter.
        self.readers = readers
        self.functions = {f.name: f for f in ast.walk(self.tree) if isinstance(f, ast.FunctionDef)}

    def find_readers(self):
        """Helpers that read the query parameter named by one of their arguments; True when
        one was found that was not known before (the caller repeats until none is)."""
        grew = False
        for f in self.functions.values():
            params = [a.arg for a in f.args.args]
            defaults = dict(zip(params[len(params) - len(f.args.defaults):], f.args.defaults))
            for node in ast.walk(f):
                if not isinstance(node, ast.Call) or not node.args or not isinstance(node.args[0], ast.Name):
                    continue
                arg = node.args[0].id
                if arg not in params:
                    continue
                is_int = None
                if isinstance(node.func, ast.Attribute) and _is_request_args(node.func.value) \
                        and node.func.attr in ("get", "getlist"):
                    is_int = any(k.arg == "type" for k in node.keywords)
                elif isinstance(node.func, ast.Name) and node.func.id in self.readers:
                    is_int = self.readers[node.func.id][3]
                if f.name == "int_arg" and self.name == "portal.web":
                    is_int = True
                if is_int is not None and f.name not in self.readers:
                    self.readers[f.name] = (params.index(arg), arg, _literal(defaults.get(arg)), is_int)
                    grew = True
        return grew

    def reads(self, name):
        """``{param: is_int}`` the function ``name`` reads, itself or through the functions of
        this module it calls."""
        out, todo, seen = {}, [name], set()
        while todo:
            f = self.functions.get(todo.pop())
            if f is None or f.name in seen:
                continue
            seen.add(f.name)
            for node in ast.walk(f):
                if isinstance(node, ast.Subscript) and _is_request_args(node.value) and _literal(node.slice):
                    out.setdefault(_literal(node.slice), False)
                if not isinstance(node, ast.Call):
                    continue
                func = node.func
                if isinstance(func, ast.Attribute) and _is_request_args(func.value) and node.args \
                        and _literal(node.args[0]):
                    out[_literal(node.args[0])] = out.get(_literal(node.args[0])) or any(
                        k.arg == "type" for k in node.keywords)
                elif isinstance(func, ast.Name) and func.id in self.readers:
                    index, pname, default, is_int = self.readers[func.id]
                    given = node.args[index] if len(node.args) > index else next(
                        (k.value for k in node.keywords if k.arg == pname), None)
                    param = _literal(given) if given is not None else default
                    if param:
                        out[param] = out.get(param) or is_int
                elif isinstance(func, ast.Name) and node.args and _is_request_args(node.args[0]):
                    out.update({p: False for p in _form_fields(self.name, func.id)})
                if isinstance(func, ast.Name):
                    todo.append(func.id)
        return out


def _form_fields(module, form_class):
    """The field names of ``form_class``, as ``module`` (a dotted name) imports it: a WTForms
    form built from ``request.args``."""
    import importlib

    from wtforms.fields.core import UnboundField
    cls = getattr(importlib.import_module(module), form_class)
    return [name for name in dir(cls) if isinstance(getattr(cls, name), UnboundField)]


def template_get_fields():
    """``{blueprint: {name, …}}``: the fields of the GET forms of each blueprint's templates."""
    out = {}
    for path in (PORTAL / "templates").rglob("*.html"):
        html = path.read_text()
        for form in re.findall(r'<form[^>]*method="get".*?</form>', html, re.S | re.I):
            out.setdefault(path.parent.name, set()).update(re.findall(r'\bname="(\w+)"', form))
    return out


def query_parameters(app):
    """``{endpoint: {param: is_int}}`` for every view function of ``app``: what it reads
    from the query string (``is_int``: through a whole-number helper or ``type=int``)."""
    readers = {}
    modules = {p: None for p in PORTAL.rglob("*.py") if "translations" not in p.parts}
    for p in modules:
        modules[p] = _Module(p, readers)
    while any(m.find_readers() for m in modules.values()):
        pass
    by_name = {m.name: m for m in modules.values()}
    forms = template_get_fields()
    out = {}
    for endpoint, view in app.view_functions.items():
        while hasattr(view, "__wrapped__"):
            view = view.__wrapped__
        module = by_name.get(view.__module__)
        params = module.reads(view.__name__) if module else {}
        for name in forms.get(endpoint.partition(".")[0] if "." in endpoint else "", ()):
            params.setdefault(name, False)
        out[endpoint] = params
    return out


# --------------------------------------------------------------------------- the sweep


def with_param(url, name, value):
    """``url`` with the query parameter ``name`` set to ``value`` (the others kept)."""
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != name]
    return parts.path + "?" + urlencode(query + [(name, value)])


def expected(status, value, is_int, download=False):
    """Whether ``status`` is a right answer to ``value`` in a parameter (``is_int``: a
    whole-number one): never a 5xx; for a whole number, 404 out of bounds and 422 not a
    number (an empty value is an absent one) — unless the answer is a file (``download``):
    a workbook route reads ``page`` only to show its page with an error, else ignores it."""
    if status not in ALLOWED:
        return False
    if download and status == 200:
        return True
    if is_int and value in OUT_OF_BOUNDS:
        return status == 404
    if is_int and value and value not in OUT_OF_BOUNDS:
        return status == 422
    return True


def sweep(client, targets, params, values=BAD_VALUES):
    """Send every bad value in every parameter of each target.

    ``targets``: ``[(endpoint, url)]`` of GET URLs that answer the logged-in ``client``;
    ``params``: ``{endpoint: {param: is_int}}``; ``values``: the bad values. Returns ``(failures, requests)``:
    ``failures`` one line each, ``endpoint url → status`` (an exception a view raised —
    the test client passes it on when ``PROPAGATE_EXCEPTIONS`` is set — counts as 500)."""
    failures, n = [], 0
    for endpoint, url in targets:
        for name, is_int in sorted(params.get(endpoint, {}).items()):
            for value in values:
                bad = with_param(url, name, value)
                n += 1
                try:
                    resp = client.get(bad)
                    status, download = resp.status_code, "attachment" in resp.headers.get(
                        "Content-Disposition", "")
                except Exception as e:  # noqa: BLE001 — what a server would answer 500 to
                    status, download = f"500 ({type(e).__name__}: {e})"[:160], False
                if not expected(status, value, is_int, download):
                    failures.append(f"{endpoint} {bad} → {status}")
    return failures, n


def path_sweep(client, targets, adapter):
    """Huge, zero and negative ids in the path: 404 (the bounded ``int`` converter), never
    the database's overflow. Returns the failures and the number of requests."""
    failures, n = [], 0
    for endpoint, url in targets:
        rule_endpoint, args = adapter.match(urlsplit(url).path, method="GET")
        for arg, value in args.items():
            if not isinstance(value, int):
                continue
            for bad in HUGE + ["0", "-1", "２"]:
                path = adapter.build(rule_endpoint, {**args, arg: 1}).replace(
                    _segment(adapter, rule_endpoint, args, arg), bad, 1)
                n += 1
                try:
                    status = client.get(path).status_code
                except Exception as e:  # noqa: BLE001
                    status = f"500 ({type(e).__name__})"
                if status != 404:
                    failures.append(f"{endpoint} {path} → {status}")
    return failures, n


def _segment(adapter, endpoint, args, arg):
    """The path of ``endpoint`` up to and including ``arg`` set to 1, to replace that 1."""
    full = adapter.build(endpoint, {**args, arg: 1})
    other = adapter.build(endpoint, {**args, arg: 2})
    cut = next(i for i, (a, b) in enumerate(zip(full, other)) if a != b)
    return full[:cut + 1]


# ------------------------------------------------------------------------------ data


def _upload(client, form_page, url, data, name, **fields):
    """POST ``data`` as the file ``name`` through the upload form on ``form_page``; the id
    of the batch in preview the answer redirects to."""
    from tests.conftest import csrf_token
    r = client.post(url, data={"csrf_token": csrf_token(client, form_page), **fields,
                               "file": (io.BytesIO(data), name)}, content_type="multipart/form-data")
    assert r.status_code == 303, (url, r.status_code, r.get_data(as_text=True)[:300])
    return int(re.search(r"/(\d+)$", r.headers["Location"]).group(1))


@pytest.fixture(scope="module")
def sweep_data(demo_app):
    """Records the demo district lacks, for the routes that show them: a chairman (the
    deciding role from 1/7/2025), a standard level, and a file of each kind in preview —
    uploaded as users do (a commune's list, the police's filled workbook, the payment
    provider's results), so their summaries have the real shape. ``{path arg: [ids]}``;
    all of it removed after the module, so other tests see the demo as built."""
    from tests.filegen import make_people, write_list
    with demo_app.app_context():
        commune = db.session.scalar(select(User).where(User.username == "commune"))
        chairman = User(username="chairman", role="chairman", area_id=commune.area_id, full_name="Chủ tịch UBND xã",
                        active=True, password_hash=generate_password_hash("demo", method="pbkdf2:sha256:1000"))
        level = StandardLevel(program="BTXH", amount=500_000, valid_from=date(2099, 1, 1), source="sweep")
        admin = db.session.scalar(select(User).where(User.username == "admin"))
        job = Job(kind="import_read", title="Xuất danh sách", user_id=admin.id, params={}, status="done",
                  attempts=1, result={"file": {"filename": "x.xlsx", "mimetype": "application/octet-stream",
                                               "size": 1}})
        db.session.add_all([chairman, level, job])
        db.session.flush()
        db.session.add(JobFile(job_id=job.id, seq=0, data=b"x"))
        db.session.commit()
        ids = {"level_id": [level.id], "user_ids": [chairman.id], "job_id": [job.id]}
        area_id = commune.area_id
        periods = db.session.scalars(select(PaymentPeriod.id).where(
            PaymentPeriod.commune_id == area_id, PaymentPeriod.status == "locked")
            .order_by(PaymentPeriod.month.desc())).all()
    batches = []
    client = demo_app.test_client()
    login(client, "commune")
    batches.append(_upload(client, "/imports/new", "/imports/new", write_list(make_people(3, seed=7), "xlsx_two_row"),
                           "ds.xlsx", commune_id=area_id, program="BTXH", month="2024-05"))
    client = demo_app.test_client()
    login(client, "police")
    batches.append(_upload(client, "/police", "/police/upload", client.get("/police/export").get_data(),
                           "xac-minh.xlsx"))
    client = demo_app.test_client()
    login(client, "payer")
    # The provider's file of the newest list with lines to pay, answered as the provider
    # does: each line's reference (Noi dung) and its result.
    period_id, rows = next((p, rows) for p in periods if len(rows := list(csv.DictReader(io.StringIO(
        client.get(f"/payments/{p}/provider.csv").get_data(as_text=True).lstrip("\ufeff")), delimiter=";"))))
    answer = "Noi dung;Ket qua;Ly do\r\n" + "".join(f"{r['Noi dung']};Thành công;\r\n" for r in rows[:5])
    batches.append(_upload(client, f"/payments/{period_id}", "/payments/results", answer.encode(), "ket-qua.csv"))
    yield {"batch_id": batches, "level_id": ids["level_id"], "job_id": ids["job_id"]}
    with demo_app.app_context():
        db.session.query(JobFile).filter(JobFile.job_id.in_(ids["job_id"])).delete()
        for model, keys in ((ImportBatch, batches), (StandardLevel, ids["level_id"]), (Job, ids["job_id"]),
                            (User, ids["user_ids"])):
            for key in keys:
                db.session.delete(db.session.get(model, key))
        db.session.commit()


def targets_for(app, client, params, extra_ids):
    """``[(endpoint, url)]``: one URL per GET endpoint the logged-in ``client`` reaches —
    the first its walk found, else one built from the ids its walk saw (and
    ``extra_ids``) — kept when it answers 200. Returns ``(targets, broken)``: ``broken``
    the URLs tried that raised, as failure lines."""
    adapter = app.url_map.bind("localhost")
    walked = walk(client, "/", limit=WALK_LIMIT)
    found, ids = {}, {k: list(v) for k, v in extra_ids.items()}
    for page in walked["pages"]:
        found.setdefault(page["kind"], page["url"])
        for name, value in adapter.match(urlsplit(page["url"]).path, method="GET")[1].items():
            ids.setdefault(name, [])
            if value not in ids[name]:
                ids[name].append(value)
    ids.setdefault("other_id", ids.get("bid", [])[1:])
    out, broken = [], []
    for rule in app.url_map.iter_rules():
        if "GET" not in rule.methods or rule.endpoint in NOT_SWEPT:
            continue
        candidates = [found[rule.endpoint]] if rule.endpoint in found else []
        if not candidates and not rule.arguments:
            candidates = [adapter.build(rule.endpoint, {})]
        elif not candidates and all(ids.get(a) for a in rule.arguments):
            # Each id of that name the walk saw, in turn, until one answers (a batch of the
            # role's own kind, a village of the user's area).
            for i in range(max(len(ids[a]) for a in rule.arguments) if rule.arguments else 1):
                values = {a: ids[a][min(i, len(ids[a]) - 1)] for a in rule.arguments}
                candidates.append(adapter.build(rule.endpoint, values))
        for url in candidates[:4]:
            try:
                status = client.get(url).status_code
            except Exception as e:  # noqa: BLE001 — the sweep reports it, with the URL
                status = f"500 ({type(e).__name__}: {e})"
            if isinstance(status, str):
                broken.append(f"{rule.endpoint} {url} → {status}")
            if status in (200, 302, 303):  # "/" sends each role on to its start page
                out.append((rule.endpoint, url))
                break
    return out, broken


# ----------------------------------------------------------------------------- tests


@pytest.fixture(scope="module")
def swept(demo_app, sweep_data):
    """Each role's sweep, done once: ``{role: (targets, failures, requests)}``."""
    params = query_parameters(demo_app)
    out, done = {}, set()
    started = time.perf_counter()
    for role in SWEEP_ROLES:  # admin first: it reaches every route
        client = demo_app.test_client()  # no app context held: each request its own
        login(client, role)
        targets, broken = targets_for(demo_app, client, params, sweep_data)
        # Every value from the first role that reaches a route; from the others, which see
        # it over another area, one value of each kind — to stay well under a minute.
        first = [t for t in targets if t[0] not in done]
        again = [t for t in targets if t[0] in done]
        done.update(endpoint for endpoint, _ in targets)
        failures, n = sweep(client, first, params)
        more, m = sweep(client, again, params, ONE_OF_EACH)
        failures, n = failures + more, n + m
        more, m = path_sweep(client, targets, demo_app.url_map.bind("localhost"))
        out[role] = (targets, broken + failures + more, n + m)
    print(f"\nsweep: {sum(v[2] for v in out.values())} requests in {time.perf_counter() - started:.1f} s")
    return out


@pytest.mark.parametrize("role", SWEEP_ROLES)
def test_no_bad_value_breaks_a_page(swept, role):
    targets, failures, n = swept[role]
    print(f"\n{role}: {len(targets)} routes, {n} requests")
    assert not failures, "\n".join(failures)


def test_every_get_route_is_swept(demo_app, swept):
    """Every GET route is reached by some role (or named in ``NOT_SWEPT`` with a reason)."""
    get_endpoints = {r.endpoint for r in demo_app.url_map.iter_rules() if "GET" in r.methods}
    reached = {endpoint for targets, _, _ in swept.values() for endpoint, _ in targets}
    assert get_endpoints - reached - set(NOT_SWEPT) == set()
    assert set(NOT_SWEPT) <= get_endpoints  # no stale excuse


def test_parameters_are_discovered(demo_app):
    """The discovery finds what the views read — the issue's ``page`` of ``/payments``
    (a whole number), the helpers' names — and nothing reads ``type=int`` around the
    one bounded parser."""
    params = query_parameters(demo_app)
    assert params["payments.index"].get("page") is True
    assert params["changes.index"].keys() >= {"page", "cp", "dp", "month"}
    assert params["reports.monthly"].keys() >= {"area", "month", "made", "live", "page"}
    assert params["review.search"].keys() >= {"q"}  # a form built from request.args
    assert params["paper.entry"].keys() >= {"code", "on"}
    assert sum(len(p) for p in params.values()) >= 25
    uses = [f"{p.relative_to(PORTAL)}:{i}" for p in PORTAL.rglob("*.py")
            for i, line in enumerate(p.read_text().splitlines(), 1) if "type=int" in line]
    assert uses == [], "parse whole numbers with web.int_arg / page_arg: " + ", ".join(uses)


def test_the_sweep_catches_a_route_that_overflows(tmp_path):
    """A test of the test: a route that passes ``?n=`` to the database as it comes (as
    ``/payments?page=`` did) fails the sweep with the huge values, and only with those;
    the same route reading ``n`` with ``int_arg`` passes."""
    import sqlite3

    from flask import request

    from portal.web import BadNumber, MAX_INT, int_arg

    app = Flask(__name__)
    app.testing = True  # the view's exception reaches the sweep, as with the portal's TestConfig
    conn = sqlite3.connect(":memory:")

    @app.route("/naive")
    def naive():
        n = request.args.get("n", 1, type=int)
        return str(conn.execute("select ?", (n,)).fetchone()[0])

    @app.route("/bounded")
    def bounded():
        return str(conn.execute("select ?", (int_arg("n", 1),)).fetchone()[0])

    @app.errorhandler(BadNumber)
    def bad(e):
        return "bad", 422

    client = app.test_client()
    failures, n = sweep(client, [("naive", "/naive"), ("bounded", "/bounded")],
                        {"naive": {"n": False}, "bounded": {"n": True}})
    assert n == 2 * len(BAD_VALUES)
    assert failures and all(f.startswith("naive ") for f in failures), failures
    assert sorted(f.split("n=")[1].split(" ")[0] for f in failures) == sorted(HUGE)
    assert all("OverflowError" in f for f in failures)
    # And the same rule stated for the helper, at its bounds.
    with app.test_request_context(f"/?n={MAX_INT}"):
        assert int_arg("n") == MAX_INT
    for text, error in ((str(MAX_INT + 1), NotFound), ("0", NotFound), ("1.0", BadNumber), (" 7", BadNumber)):
        with app.test_request_context("/?" + urlencode({"n": text})), pytest.raises(error):
            int_arg("n")

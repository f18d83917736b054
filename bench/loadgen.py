"""A small HTTP load generator for loopback benchmarks (standard library only).

- ``paced``: open loop. Requests are *scheduled* at a fixed rate (e.g. 50/s) whatever
  the server does; latency is counted from the scheduled time, so a server that falls
  behind shows it in the percentiles (no coordinated omission).
- ``closed``: closed loop, ``concurrency`` clients each sending the next request when the
  previous one is answered, bounded in requests and in time. The fallback when ``wrk`` is
  not installed.
- ``closed_mix``: closed loop of stateful clients (each its own session), a mix of
  requests, the figures per kind of request (``bench/run.py --only mixed``).

Only ``127.0.0.1`` targets are accepted.
"""
import http.client
import math
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlencode

HOST = "127.0.0.1"


def _check_host(host):
    if host != HOST:
        raise ValueError(f"loopback only: {host!r}")


def request(port, method, path, headers=None, body=None, timeout=30):
    """One request on a new connection; returns ``(status, headers, body bytes)``."""
    conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        data = resp.read()
        return resp.status, resp.getheaders(), data
    finally:
        conn.close()


def _cookies(headers, jar):
    for k, v in headers:
        if k.lower() == "set-cookie":
            name, _, rest = v.partition("=")
            jar[name.strip()] = rest.split(";", 1)[0]
    return jar


def cookie_header(jar):
    return "; ".join(f"{k}={v}" for k, v in jar.items())


def login(port, username, password="demo"):
    """Log in through the real form (CSRF on); returns the cookie jar (name → value)."""
    jar = {}
    status, headers, body = request(port, "GET", "/login")
    _cookies(headers, jar)
    m = re.search(rb'name="csrf_token"[^>]*value="([^"]+)"', body)
    if not m:
        raise RuntimeError(f"no CSRF token on /login (status {status})")
    form = urlencode({"csrf_token": m.group(1).decode(), "username": username,
                      "password": password})
    status, headers, body = request(port, "POST", "/login", body=form, headers={
        "Content-Type": "application/x-www-form-urlencoded", "Cookie": cookie_header(jar)})
    if status != 303:
        raise RuntimeError(f"login as {username} answered {status}")
    return _cookies(headers, jar)


def percentile(sorted_values, p):
    """Nearest-rank percentile of an already sorted list (``None`` when empty)."""
    if not sorted_values:
        return None
    k = max(0, min(len(sorted_values) - 1, math.ceil(p / 100 * len(sorted_values)) - 1))
    return sorted_values[k]


def summarise(latencies_s, statuses, wall_s, errors):
    lat = sorted(x * 1000 for x in latencies_s)
    ok = sum(1 for s in statuses if 200 <= s < 400)
    return {
        "requests": len(statuses) + errors, "ok": ok, "non_2xx_3xx": len(statuses) - ok,
        "errors": errors, "duration_s": round(wall_s, 3),
        "rps": round((len(statuses) + errors) / wall_s, 1) if wall_s else None,
        "p50_ms": _r(percentile(lat, 50)), "p90_ms": _r(percentile(lat, 90)),
        "p95_ms": _r(percentile(lat, 95)), "p99_ms": _r(percentile(lat, 99)),
        "max_ms": _r(lat[-1] if lat else None),
    }


def _r(x):
    return None if x is None else round(x, 2)


def paced(port, make_request, rate, duration, workers=16):
    """Open loop: ``rate`` requests/s for ``duration`` seconds. ``make_request(i)`` returns
    ``(method, path, headers, body)``. Latency counts from each request's scheduled time."""
    n = int(rate * duration)
    lock = threading.Lock()
    latencies, statuses, errors, lags, service = [], [], [0], [], []

    def run(i, scheduled):
        method, path, headers, body = make_request(i)
        sent = time.perf_counter()
        try:
            status, _, _ = request(port, method, path, headers, body)
        except (OSError, http.client.HTTPException):
            with lock:
                errors[0] += 1
            return
        done = time.perf_counter()
        with lock:
            latencies.append(done - scheduled)
            lags.append(sent - scheduled)
            service.append(done - sent)
            statuses.append(status)

    start = time.perf_counter() + 0.05
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for i in range(n):
            scheduled = start + i / rate
            delay = scheduled - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            pool.submit(run, i, scheduled)
    wall = time.perf_counter() - start
    out = summarise(latencies, statuses, wall, errors[0])
    out["offered_rps"] = rate
    # Client-side diagnostics: how late requests left (the client's own lag) and the
    # latency counted from the actual send instead of the schedule.
    out["client_lag_p95_ms"] = _r(percentile(sorted(x * 1000 for x in lags), 95))
    out["from_send_p95_ms"] = _r(percentile(sorted(x * 1000 for x in service), 95))
    return out


def closed(port, make_request, concurrency, duration, max_requests):
    """Closed loop: ``concurrency`` clients, until ``max_requests`` or ``duration`` s."""
    lock = threading.Lock()
    latencies, statuses, errors = [], [], [0]
    counter = [0]
    deadline = time.perf_counter() + duration

    def client():
        while True:
            with lock:
                if counter[0] >= max_requests or time.perf_counter() >= deadline:
                    return
                i = counter[0]
                counter[0] += 1
            method, path, headers, body = make_request(i)
            t0 = time.perf_counter()
            try:
                status, _, _ = request(port, method, path, headers, body)
            except (OSError, http.client.HTTPException):
                with lock:
                    errors[0] += 1
                continue
            with lock:
                latencies.append(time.perf_counter() - t0)
                statuses.append(status)

    start = time.perf_counter()
    threads = [threading.Thread(target=client) for _ in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    out = summarise(latencies, statuses, time.perf_counter() - start, errors[0])
    out["concurrency"] = concurrency
    return out


def closed_mix(port, clients, duration, max_requests, warmup=0.0):
    """Closed loop with one thread per client, each with its own state (session, CSRF
    token, …), until ``max_requests`` (counted after the warm-up) or ``duration`` seconds.

    ``clients`` is a list of objects with ``next() -> (label, method, path, headers, body)``
    and ``done(label, status, headers, body)`` (called after each answer, e.g. to keep
    a record's version). Requests answered during the first ``warmup`` seconds are not
    counted. Returns ``{"labels": {label: summary + "status_counts"}, "total": summary}``
    where a summary is what ``summarise`` gives (``rps`` over the measured wall time).
    """
    lock = threading.Lock()
    per = {}  # label -> {"lat": [], "statuses": [], "errors": 0}
    counter = [0]
    t_start = time.perf_counter()
    t_measure = t_start + warmup
    deadline = t_measure + duration

    def bucket(label):
        return per.setdefault(label, {"lat": [], "statuses": [], "errors": 0})

    def run(c):
        while True:
            now = time.perf_counter()
            if now >= deadline:
                return
            with lock:
                if counter[0] >= max_requests:
                    return
            label, method, path, headers, body = c.next()
            t0 = time.perf_counter()
            try:
                status, rh, data = request(port, method, path, headers, body)
            except (OSError, http.client.HTTPException):
                with lock:
                    if t0 >= t_measure:
                        bucket(label)["errors"] += 1
                        counter[0] += 1
                continue
            t1 = time.perf_counter()
            c.done(label, status, rh, data)
            if t0 >= t_measure:
                with lock:
                    b = bucket(label)
                    b["lat"].append(t1 - t0)
                    b["statuses"].append(status)
                    counter[0] += 1

    threads = [threading.Thread(target=run, args=(c,)) for c in clients]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t_measure  # the last answer included
    out = {"labels": {}}
    for label, b in sorted(per.items()):
        s = summarise(b["lat"], b["statuses"], wall, b["errors"])
        counts = {}
        for st in b["statuses"]:
            counts[str(st)] = counts.get(str(st), 0) + 1
        s["status_counts"] = counts
        out["labels"][label] = s
    out["total"] = summarise([x for b in per.values() for x in b["lat"]],
                             [x for b in per.values() for x in b["statuses"]], wall,
                             sum(b["errors"] for b in per.values()))
    out["total"]["concurrency"] = len(clients)
    return out

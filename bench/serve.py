"""gunicorn on loopback for the benchmarks: started on a free port of ``127.0.0.1`` and
always stopped (its whole process group), on errors and Ctrl-C too.

    with serve.gunicorn(db_path, workers=2, log_path=tmp / "gunicorn.log") as server:
        server.port, server.base  # 38211, "http://127.0.0.1:38211"
    server.returncode, server.log_errors  # after the block: exit status, traceback lines
"""
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import loadgen

ROOT = Path(__file__).resolve().parent.parent
ACCESS_FORMAT = "%(m)s %(U)s?%(q)s %(s)s %(B)s"


def free_port():
    """A TCP port of 127.0.0.1 that nothing listens on (now)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, port, proc, log_path):
        self.port, self.proc, self.log_path = port, proc, log_path
        self.base = f"http://127.0.0.1:{port}"
        self.returncode = None
        self.log_errors = []


def _gunicorn_bin():
    local = ROOT / ".venv" / "bin" / "gunicorn"
    if local.exists():
        return str(local)
    return str(Path(sys.executable).with_name("gunicorn"))


@contextlib.contextmanager
def gunicorn(db_path, workers=2, log_path=None, start_timeout=60, secret_key="bench",
             access_log=None):
    """Run ``gunicorn -w WORKERS app:app`` (sync workers) on ``sqlite:///DB_PATH``.

    With ``access_log`` (a path), every request is written there as one line
    ``METHOD PATH?QUERY STATUS BODY_BYTES`` (``ACCESS_FORMAT``).

    Yields a ``Server`` once ``GET /login`` answers 200; raises ``RuntimeError`` (with the
    log's tail) when it does not within ``start_timeout`` seconds. ``PORTAL_ENV`` is
    removed from the environment so that cookies work over plain HTTP.
    """
    port = free_port()
    env = dict(os.environ, DATABASE_URL=f"sqlite:///{db_path}", SECRET_KEY=secret_key)
    env.pop("PORTAL_ENV", None)
    log_path = Path(log_path or f"{db_path}.gunicorn.log")
    cmd = [_gunicorn_bin(), "-w", str(workers), "-b", f"127.0.0.1:{port}"]
    if access_log:
        cmd += ["--access-logfile", str(access_log), "--access-logformat", ACCESS_FORMAT]
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(cmd + ["app:app"], cwd=ROOT, env=env, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)
    server = Server(port, proc, log_path)
    try:
        deadline = time.time() + start_timeout
        while True:
            try:
                if loadgen.request(port, "GET", "/login", timeout=5)[0] == 200:
                    break
            except OSError:
                pass
            if proc.poll() is not None or time.time() > deadline:
                raise RuntimeError("gunicorn did not start: " + log_path.read_text(errors="replace")[-1500:])
            time.sleep(0.2)
        yield server
    finally:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=15)
        except ProcessLookupError:
            pass
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)
        server.returncode = proc.returncode
        server.log_errors = [ln for ln in log_path.read_text(errors="replace").splitlines()
                             if "Traceback" in ln or "[ERROR]" in ln]


# --------------------------------------------------------------------------- CPU use

_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _host_busy():
    """Seconds of CPU the whole machine has spent busy (``/proc/stat``), or None."""
    try:
        with open("/proc/stat") as f:
            fields = [int(x) for x in f.readline().split()[1:]]
    except OSError:
        return None
    # user nice system idle iowait irq softirq steal …: busy = all but idle and iowait
    return (sum(fields[:8]) - fields[3] - fields[4]) / _TICK


def _tree_cpu(root_pid):
    """Seconds of CPU used by ``root_pid`` and its descendants (``/proc``), or 0."""
    children, cpu = {}, {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                rest = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(rest[1]), []).append(int(entry))
        cpu[int(entry)] = (int(rest[11]) + int(rest[12])) / _TICK  # utime + stime
    total, todo = 0.0, [root_pid]
    while todo:
        pid = todo.pop()
        total += cpu.get(pid, 0.0)
        todo += children.get(pid, [])
    return total


class CpuMeter:
    """How the machine's CPU was shared during a measurement: the server's processes
    (``server_pid`` and its children), this process (the load generator, all threads),
    and everything else (other work on a shared machine), each in cores on average.

        meter = CpuMeter(server.proc.pid); …; meter.stop()
        # {"server_cores": 1.6, "client_cores": 0.1, "others_cores": 0.2, "cpus": 2,
        #  "server_cpu_s": 48.1}
    """

    def __init__(self, server_pid):
        self.server_pid = server_pid
        self.t0 = time.perf_counter()
        self.host0 = _host_busy()
        self.server0 = _tree_cpu(server_pid)
        self.self0 = sum(os.times()[:2])

    def stop(self):
        wall = time.perf_counter() - self.t0
        host = _host_busy()
        if host is None or wall <= 0:
            return {}
        server = (_tree_cpu(self.server_pid) - self.server0) / wall
        client = (sum(os.times()[:2]) - self.self0) / wall
        busy = (host - self.host0) / wall
        return {"server_cores": round(server, 2), "client_cores": round(client, 2),
                "others_cores": round(max(0.0, busy - server - client), 2),
                "cpus": os.cpu_count(), "server_cpu_s": round(server * wall, 3)}

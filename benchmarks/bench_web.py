"""Benchmark of the clinician page: latency, throughput under concurrency, idle connections.

Starts ``mastoprog web`` (uvicorn, one worker process per core) in a subprocess on loopback and posts
the shipped example patient (EX04-ASM, complete findings) to ``/result``:

1. one client, sequential requests: p50 / p95 latency and requests per second;
2. 8 concurrent clients: requests per second, and the ratio to 1;
3. one idle TCP connection and one client that announces a body and stalls, held open while one
   client's requests are timed: the latency beside (1).

Printed beside the figures measured on the wsgiref page before issue 11 (531 ms p50, 629 ms p95,
1.8 requests/s at 8 clients, fully serialised). The machine's load (``os.getloadavg``) is printed
with the numbers: on a shared machine they are only comparable within one run.

Run: ``python benchmarks/bench_web.py [--requests 20]``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from importlib import resources

import numpy as np

OLD = {"p50_ms": 531.0, "p95_ms": 629.0, "rps_8_clients": 1.8}  # issue 11, measured on main
BEFORE = "0e776ff"  # the commit of the wsgiref page (measured side by side when git has it)
OLD_URLS: set[str] = set()
EXAMPLE = json.loads(
    resources.files("mastoprog").joinpath("data", "examples", "patient.json").read_text("utf-8")
)
BODY = urllib.parse.urlencode(
    {
        k: (
            "yes"
            if v is True
            else ""
            if (v is False and k == "mc_sarcoma")
            else "no"
            if v is False
            else str(v)
        )
        for k, v in EXAMPLE.items()
    }
).encode()


OLD_BODY = urllib.parse.urlencode(
    {
        k: ("yes" if v is True else "no" if v is False else "none" if k == "ahn" else str(v))
        for k, v in EXAMPLE.items()
    }
).encode()


def old_page_source() -> str | None:
    """The wsgiref page of before issue 11, from git (None outside a git checkout)."""
    try:
        return subprocess.run(
            ["git", "show", f"{BEFORE}:src/mastoprog/web/_app.py"],
            capture_output=True,
            text=True,
            check=True,
            cwd=os.path.dirname(os.path.abspath(__file__)),
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return None


def start_server(processes: int, old_source: str | None = None) -> tuple[subprocess.Popen, str]:
    if old_source is None:
        code = (
            "from mastoprog.web import serve; "
            f"serve(port=0, processes={processes}, ready=lambda h: print(h.url, flush=True))"
        )
    else:
        code = (
            "import types, sys; m = types.ModuleType('old_web'); sys.modules['old_web'] = m; "
            "exec(compile(sys.stdin.read(), 'old_web', 'exec'), m.__dict__); "
            "m.serve(port=0, ready=lambda s: print(s.url, flush=True))"
        )
    proc = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, stdin=subprocess.PIPE, text=True
    )
    assert proc.stdin is not None
    proc.stdin.write(old_source or "")
    proc.stdin.close()
    assert proc.stdout is not None
    url = proc.stdout.readline().strip()
    if old_source is not None:
        OLD_URLS.add(url)
    for _ in range(600):  # the workers load the model before the first page
        try:
            post(url)
            break
        except urllib.error.HTTPError:  # the server answers (with an error): measure() reports it
            break
        except OSError:
            time.sleep(0.1)
    return proc, url


def post(url: str) -> float:
    start = time.perf_counter()
    body = OLD_BODY if url in OLD_URLS else BODY
    with urllib.request.urlopen(urllib.request.Request(url + "result", data=body), timeout=300) as resp:
        page = resp.read()
    assert resp.status == 200 and re.search(rb'id="subtype">ASM<', page)
    return time.perf_counter() - start


def tree_cpu_seconds(pid: int) -> float:
    """CPU seconds (user + system) used so far by process ``pid`` and its live descendants (the
    server and its worker processes), from /proc: unlike wall time, it does not depend on the
    other users of a shared machine."""
    total, todo = 0.0, [pid]
    while todo:
        p = todo.pop()
        try:
            with open(f"/proc/{p}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
            with open(f"/proc/{p}/task/{p}/children") as fh:
                todo += [int(c) for c in fh.read().split()]
        except OSError:  # gone, or not Linux
            continue
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def sequential(url: str, n: int) -> np.ndarray:
    return np.array([post(url) for _ in range(n)])


def concurrent(url: str, clients: int, per_client: int) -> tuple[float, np.ndarray]:
    start = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        lat = np.concatenate(list(pool.map(lambda _: sequential(url, per_client), range(clients))))
    return clients * per_client / (time.perf_counter() - start), lat


def with_idle_and_stalled(url: str, n: int) -> np.ndarray:
    host, port = urllib.parse.urlsplit(url).hostname, urllib.parse.urlsplit(url).port
    idle = socket.create_connection((host, port))
    stalled = socket.create_connection((host, port))
    stalled.sendall(
        b"POST /result HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n"
        b"Content-Length: 1000\r\n\r\nage=5"
    )
    try:
        return sequential(url, n)
    finally:
        idle.close()
        stalled.close()


def measure(url: str, n: int, idle_test: bool, pid: int) -> dict[str, float]:
    for _ in range(2):
        post(url)  # warm-up
    cpu0 = tree_cpu_seconds(pid)
    one = sequential(url, n)
    cpu1 = tree_cpu_seconds(pid)
    rps_8, lat8 = concurrent(url, 8, max(1, n // 4))
    out = {
        "p50": 1000 * float(np.percentile(one, 50)),
        "p95": 1000 * float(np.percentile(one, 95)),
        "cpu_ms": 1000 * (cpu1 - cpu0) / len(one),
        "rps_1": len(one) / one.sum(),
        "rps_8": rps_8,
        "p95_8": 1000 * float(np.percentile(lat8, 95)),
    }
    if idle_test:
        out["idle_p50"] = 1000 * float(np.percentile(with_idle_and_stalled(url, max(3, n // 2)), 50))
    return out


def run(processes: int, n: int, old_source: str | None) -> dict[str, float]:
    proc, url = start_server(processes, old_source)
    try:
        # the old page blocks everyone behind an idle connection: not measured there (it would hang)
        return measure(url, n, idle_test=old_source is None, pid=proc.pid)
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=16, help="requests per measurement (default 16)")
    parser.add_argument("--processes", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--no-old", action="store_true", help="skip the side-by-side run of the old page")
    args = parser.parse_args()
    load_before = os.getloadavg()
    source = None if args.no_old else old_page_source()
    try:
        old = run(0, args.requests, source) if source else None
    except urllib.error.HTTPError as exc:  # the old page against today's package (e.g. a renamed name)
        print(f"old page not measured: it answers HTTP {exc.code} with the current package")
        old = None
    new = run(args.processes, args.requests, None)
    load_after = os.getloadavg()
    print(
        f"machine: {os.cpu_count()} cores; load average (1, 5, 15 min) "
        f"{tuple(round(x, 1) for x in load_before)} before, {tuple(round(x, 1) for x in load_after)} after; "
        f"server worker processes: {args.processes}"
    )
    rows = [
        ("result page p50, one client (ms)", "p50", OLD["p50_ms"]),
        ("result page p95, one client (ms)", "p95", OLD["p95_ms"]),
        ("server CPU per result page (ms, all processes)", "cpu_ms", None),
        ("requests/s, one client", "rps_1", None),
        ("requests/s, 8 concurrent clients", "rps_8", OLD["rps_8_clients"]),
        ("p95 at 8 clients (ms)", "p95_8", None),
        ("p50 beside an idle + a stalled connection", "idle_p50", None),
    ]
    print(f"{'':48s}{'issue 11':>10s}{'old, now':>12s}{'new, now':>12s}")
    for label, key, recorded in rows:
        rec = f"{recorded:10.1f}" if recorded is not None else f"{'':>10s}"
        o = f"{old[key]:12.1f}" if old and key in old else f"{'-':>12s}"
        print(f"{label:48s}{rec}{o}{new[key]:12.1f}")
    ratio_new = new["rps_8"] / new["rps_1"]
    ratio_old = old["rps_8"] / old["rps_1"] if old else float("nan")
    print(f"{'ratio 8 clients / 1 client':48s}{'':>10s}{ratio_old:12.2f}{ratio_new:12.2f}")
    if old:
        print(f"{'new / old p50 (one client)':48s}{'':>10s}{'':>12s}{new['p50'] / old['p50']:12.2f}")


if __name__ == "__main__":
    main()

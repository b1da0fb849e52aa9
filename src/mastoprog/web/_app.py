"""The clinician page as an ASGI app (FastAPI + Jinja2, served by uvicorn). No clinical logic here.

Routes
------
``GET /``, ``POST /``
    The findings form (``POST /`` pre-fills it: the result page's "edit these findings" button).
    Findings travel by POST only; a query string is never read.
``POST /result``
    The result page; bad findings send the form back (HTTP 400) with every message beside its field
    and the typed values kept.
``POST /report.pdf``
    The one-page PDF of the same result.
``POST /api/patient``
    JSON in, JSON out; 422 lists every problem (field, value, expected range and unit).
``GET /batch``, ``POST /batch``
    A clinic CSV in, the table of subtypes, scores and medians out, each row posting to its result.

Computations run in a pool of worker processes (``processes``), so requests are served in
parallel and the event loop never waits on one; ``processes=0`` computes in threads of this
process (tests, embedding). Nothing about a patient is logged: the access log holds method, path
(never a query string), status and duration.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import io
import ipaddress
import logging
import multiprocessing
import os
import socket
import threading
import time
from collections.abc import Callable, MutableMapping
from contextlib import asynccontextmanager
from typing import Any, cast
from urllib.parse import parse_qsl

import pandas as pd
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.datastructures import UploadFile
from starlette.requests import ClientDisconnect

from .._about import RESEARCH_USE_NOTICE, __version__
from ..classification import classify
from ..exceptions import CalibrationError, FindingsError
from ..findings import collect_notes, read_findings
from ..risk import risk_score
from . import _compute
from ._fields import EDITIONS, FIELD_GROUPS, MODELS, RequestProblems, choices, openapi_findings_schema, unit
from .report import icons_svg, pdf_bytes

__all__ = ["make_app"]

log = logging.getLogger("mastoprog.web")

#: Largest request body (bytes): a full form is about 1 kB; a clinic CSV may be larger.
MAX_BODY = 100_000
MAX_UPLOAD = 2_000_000
MAX_FIELDS = 200
#: Seconds a client may take to send its body, and a computation may take.
BODY_TIMEOUT = 10.0
COMPUTE_TIMEOUT = 60.0

_TEMPLATES = Environment(
    loader=PackageLoader("mastoprog.web", "templates"), autoescape=select_autoescape(["html"])
)

# --------------------------------------------------------------------------- worker side

_WORKER: _compute.Computer | None = None


def _worker_init() -> None:
    """Each worker process loads the default model once, before the first request, and leaves
    when the server process is gone (however it ended: no orphan keeps running)."""
    global _WORKER
    threading.Thread(target=_exit_with_parent, args=(os.getppid(),), daemon=True,
                     name="mastoprog-parent-watch").start()
    _WORKER = _compute.Computer()
    _WORKER.model("lim2009")


def _exit_with_parent(parent: int) -> None:
    """Exit this worker once its parent (the server) has gone (it is then re-parented)."""
    while os.getppid() == parent:
        time.sleep(0.5)
    os._exit(0)


def _warm() -> None:
    """A task that makes the pool start a worker (its initializer loads the model)."""
    time.sleep(0.2)  # held briefly so that the pool starts another worker for the next one


def _run(
    computer: _compute.Computer | None, values: dict[str, Any], strict: bool, figures: bool
) -> tuple[str, Any]:
    """``("ok", report)`` or ``("invalid", problems)``: plain data, so it crosses process boundaries."""
    comp = computer or _WORKER or _compute.Computer()
    try:
        return "ok", comp.compute(values, strict=strict, figures=figures)
    except _compute.RequestInvalid as exc:
        return "invalid", {"by_field": exc.problems.by_field, "listed": exc.problems.listed}


def _median_texts(model: Any, frame: pd.DataFrame, edition: str) -> list[str]:
    med = model.predict_median(frame, interval=True, edition=edition)
    return [
        f"{m:.1f} ({lo:.1f}-{hi:.1f})"
        for m, lo, hi in zip(med["median"], med["lower"], med["upper"], strict=True)
    ]


def _medians(model: Any, frame: pd.DataFrame, edition: str) -> list[str]:
    """Median OS (months, 95 %) per patient: one vectorised call; row by row only when a patient has
    no curve (MCS), so that one such patient does not hide the others' medians."""
    try:
        return _median_texts(model, frame, edition)
    except (CalibrationError, FindingsError):
        out = []
        for i in range(len(frame)):
            try:
                out += _median_texts(model, frame.iloc[[i]], edition)
            except (CalibrationError, FindingsError) as exc:
                out.append(str(exc).split(": ")[-1][:80])
        return out


def _batch(computer: _compute.Computer | None, text: str, options: dict[str, str]) -> tuple[str, Any]:
    """The clinic table: the same calls as ``mastoprog classify / score / curve``."""
    with collect_notes():  # notes as data (this thread only), never warnings in the server's log
        return _batch_rows(computer, text, options)


def _batch_rows(computer: _compute.Computer | None, text: str, options: dict[str, str]) -> tuple[str, Any]:
    comp = computer or _WORKER or _compute.Computer()
    try:
        raw = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)
        frame = read_findings(raw)
    except FindingsError as exc:
        return "invalid", str(exc).splitlines()
    except (ValueError, pd.errors.ParserError) as exc:
        return "invalid", [f"not a CSV file of findings: {exc}"]
    if len(frame) > 2000:
        return "invalid", [f"{len(frame)} patients; at most 2000 at once"]
    cls = cast(pd.DataFrame, classify(frame, edition=options["edition"]))
    sc = cast(pd.DataFrame, risk_score(frame))
    model = comp.model(options["model"])
    medians = _medians(model, frame, options["edition"])
    rows = []
    for i in range(len(frame)):
        s = sc.iloc[i]
        score = (
            f"{s['points']}, {s['group']}"
            if not pd.isna(s["points"])
            else f"{s['points_min']}-{s['points_max']}, one of {', '.join(s['possible_groups'])}"
        )
        values = {k: v for k, v in raw.iloc[i].items() if v != ""}
        values.update(options)
        rows.append(
            {
                "patient": frame["patient_id"].iloc[i] if "patient_id" in frame else i,
                "subtype": cls["subtype"].iloc[i],
                "candidates": ", ".join(cls["candidates"].iloc[i]),
                "score": score,
                "median": medians[i],
                "values": values,
            }
        )
    return "ok", rows


# --------------------------------------------------------------------------- request side


class _BodyLimit:
    """ASGI middleware: body size limit (413) and a deadline to receive it (408), before any route."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = MAX_UPLOAD if scope["path"] == "/batch" else MAX_BODY
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length", b"0")
        if not declared.isdigit() or int(declared) > limit:
            await _plain(send, 413, f"request too large: at most {limit} bytes")
            return
        received = 0
        deadline = time.monotonic() + BODY_TIMEOUT

        async def limited() -> dict:
            nonlocal received
            try:
                message = await asyncio.wait_for(receive(), max(0.01, deadline - time.monotonic()))
            except TimeoutError:
                raise _Stalled from None
            received += len(message.get("body", b""))
            if received > limit:
                raise _Stalled
            return message

        try:
            await self.app(scope, limited, send)
        except _Stalled:
            await _plain(send, 408, "request body too slow or too large")
        except ClientDisconnect:
            return  # the client went away mid-body: nobody to answer


class _Stalled(Exception):
    pass


async def _plain(send: Callable, status: int, text: str) -> None:
    body = text.encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"text/plain; charset=utf-8"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def _pct(p: float | None) -> str:
    return "–" if p is None else f"{100 * p:.1f} %"


def _median_text(median: dict[str, Any]) -> str:
    """``29.6 months (95 % 15.6 to 58.1 months)``; in years from 3 years on, one unit throughout."""
    m = median["months"]
    if m is None:
        return "not reached"
    div, unit = (1.0, "months") if m < 36 else (12.0, "years")
    lo, hi = (("–" if v is None else f"{v / div:.1f}") for v in (median["lower"], median["upper"]))
    return f"{m / div:.1f} {unit} (95 % {lo} to {hi} {unit})"


def _render(name: str, status: int = 200, **context: Any) -> HTMLResponse:
    html = _TEMPLATES.get_template(name).render(notice=RESEARCH_USE_NOTICE, version=__version__, **context)
    return HTMLResponse(html, status_code=status, headers={"Cache-Control": "no-store"})


def _form(values: dict[str, str], problems: dict[str, Any] | None = None, status: int = 200) -> HTMLResponse:
    by_field = (problems or {}).get("by_field", {})
    groups = []
    for title, fields in FIELD_GROUPS:
        groups.append(
            (
                title,
                [
                    {
                        "name": c,
                        "label": label,
                        "unit": unit(c),
                        "choices": choices(c),
                        "numeric": choices(c) is None and c != "patient_id",
                        "value": str(values.get(c) or ""),
                        "errors": by_field.get(c, []),
                    }
                    for c, label in fields
                ],
            )
        )
    options = [
        ("edition", "Classification edition", tuple(EDITIONS.items())),
        ("model", "Survival model (target set)", tuple(MODELS.items())),
    ]
    opt_fields = [
        {
            "name": n,
            "label": lab,
            "unit": "",
            "choices": ch,
            "numeric": False,
            "value": str(values.get(n) or ""),
            "errors": by_field.get(n, []),
        }
        for n, lab, ch in options
    ]
    opt_fields.append(
        {
            "name": "year",
            "label": "Calendar year of diagnosis",
            "unit": "empty = latest life-table year",
            "choices": None,
            "numeric": True,
            "value": str(values.get("year") or ""),
            "errors": by_field.get("year", []),
        }
    )
    groups.append(("Model", opt_fields))
    other = [
        m for k, ms in by_field.items() if k not in {f["name"] for _, fs in groups for f in fs} for m in ms
    ]
    listed = (problems or {}).get("listed", [])
    shown = RequestProblems(by_field=by_field, listed=listed) if listed or other else None
    return _render("form.html", status, title="mastoprog: findings", groups=groups, problems=shown)


def _message(status: int, heading: str, text: str) -> HTMLResponse:
    return _render("message.html", status, title=f"mastoprog: {heading}", heading=heading, text=text)


async def _form_values(request: Request) -> dict[str, str] | str:
    """The urlencoded body as a dict (last value wins), or a message saying what is wrong."""
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    body = await request.body()
    if not body:
        return {}
    if ctype != "application/x-www-form-urlencoded":
        return f"expected a form (application/x-www-form-urlencoded); got {ctype or 'no content type'}"
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, max_num_fields=MAX_FIELDS)
    except UnicodeDecodeError:
        return "the form is not UTF-8 text"
    except ValueError:
        return f"too many form fields (at most {MAX_FIELDS})"
    return dict(pairs)


router = APIRouter()


async def _offload(request: Request, fn: Callable, *args: Any) -> tuple[str, Any]:
    """Run ``fn`` in the app's pool (worker processes or threads), with a deadline."""
    state = request.app.state
    loop = asyncio.get_running_loop()
    return await asyncio.wait_for(loop.run_in_executor(state.pool, fn, state.local, *args), COMPUTE_TIMEOUT)


class _AccessLog:
    """ASGI middleware: one log line per request, method, path (never the query string or the body),
    status and duration; an unexpected error becomes a generic 500 page (no traceback, no value)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = [0]

        async def send_status(message: MutableMapping[str, Any]) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        except (_Stalled, ClientDisconnect):
            status[0] = status[0] or 499
            raise
        except Exception as exc:  # never a traceback or a value to the client or the log
            log.error("%s %s -> 500 (%s)", scope["method"], scope["path"], type(exc).__name__)
            if not status[0]:
                await _message(500, "Internal error", "Something went wrong; please report it.")(
                    scope, receive, send_status
                )
        finally:
            log.info(
                "%s %s %d %.0f ms",
                scope["method"],
                scope["path"],
                status[0],
                1000 * (time.perf_counter() - start),
            )


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
async def form_page() -> HTMLResponse:
    """The empty form (a query string is never read)."""
    return _form({})


@router.post("/", response_class=HTMLResponse, include_in_schema=False)
async def form_prefilled(request: Request) -> HTMLResponse:
    """The form filled with the posted values ("edit these findings")."""
    values = await _form_values(request)
    return _form(values if isinstance(values, dict) else {})


def _yes_no(v: Any) -> str:
    return {True: "yes", False: "no"}.get(v, "undecided")


@router.post("/result", response_class=HTMLResponse, include_in_schema=False)
async def result(request: Request) -> Response:
    """The result page, or the form with every problem beside its field (400)."""
    values = await _form_values(request)
    if isinstance(values, str):
        return _message(400, "Bad request", values)
    try:
        status, data = await _offload(request, _run, values, False, True)
    except TimeoutError:
        return _message(503, "Busy", "The computation took too long; please try again.")
    if status == "invalid":
        return _form(values, data, 400)
    sex = {"F": "female", "M": "male"}.get(data.get("sex"), "sex unknown")
    return _render(
        "result.html",
        title=f"mastoprog: {data.get('patient_id') or 'result'}",
        r=data,
        values={k: v for k, v in values.items() if v != ""},
        pct=_pct,
        median_text=_median_text,
        icons=icons_svg,
        sex_word=sex,
        yes_no=_yes_no,
    )


@router.get("/result", include_in_schema=False)
@router.get("/report.pdf", include_in_schema=False)
async def result_get() -> HTMLResponse:
    """Findings never travel in a link."""
    return _message(
        405,
        "Findings are sent by POST only",
        "Fill the form on the first page; findings never travel in a link.",
    )


@router.post("/report.pdf", include_in_schema=False)
async def report_pdf(request: Request) -> Response:
    """The one-page PDF of the result (or the form with its problems)."""
    values = await _form_values(request)
    if isinstance(values, str):
        return _message(400, "Bad request", values)
    status, data = await _offload(request, _run, values, False, False)
    if status == "invalid":
        return _form(values, data, 400)
    pdf = await asyncio.get_running_loop().run_in_executor(None, pdf_bytes, data)
    return Response(
        pdf,
        media_type="application/pdf",
        headers={
            "Content-Disposition": 'inline; filename="mastoprog-report.pdf"',
            "Cache-Control": "no-store",
        },
    )


@router.post(
    "/api/patient",
    summary="One patient's subtype, scores, survival and causes of death",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": openapi_findings_schema()}},
        }
    },
    responses={422: {"description": "Every problem: field, value, expected range and unit"}},
)
async def api_patient(request: Request) -> JSONResponse:
    """Subtype with criteria, score with contributions, flags, median (months), and per horizon
    (1, 2, 5, 10 years) ``alive``, ``died_mastocytosis``, ``died_other_causes`` with ``_lower`` /
    ``_upper`` bands (probabilities), ``population_alive``; the loss of life expectancy (months
    over 20 years) and, given ``survived_months``, conditional survival. Every band is computed
    draw by draw over the model's parameter draws (``band_note``)."""
    try:
        body = await request.json()
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        return _api_problems(
            [
                {
                    "field": None,
                    "value": None,
                    "expected": "a JSON object of findings",
                    "message": f"request body is not valid JSON ({type(exc).__name__})",
                }
            ]
        )
    if not isinstance(body, dict):
        return _api_problems(
            [
                {
                    "field": None,
                    "value": type(body).__name__,
                    "expected": "a JSON object",
                    "message": "expected a JSON object of findings",
                }
            ]
        )
    try:
        status, data = await _offload(request, _run, body, True, False)
    except TimeoutError:
        return JSONResponse({"detail": "the computation took too long"}, status_code=503)
    if status == "invalid":
        return _api_problems(data["listed"])
    data.pop("curve", None)
    return JSONResponse(data, headers={"Cache-Control": "no-store"})


@router.get("/api/patient", include_in_schema=False)
async def api_get() -> JSONResponse:
    """Findings by POST only."""
    return JSONResponse({"detail": "POST a JSON object of findings (see /openapi.json)"}, status_code=405)


def _batch_page(status: int = 200, **kw: Any) -> HTMLResponse:
    return _render(
        "batch.html", status, title="mastoprog: clinic file", models=MODELS, editions=EDITIONS, **kw
    )


@router.get("/batch", response_class=HTMLResponse, include_in_schema=False)
async def batch_page() -> HTMLResponse:
    """The clinic-file upload form."""
    return _batch_page()


async def _upload(request: Request) -> tuple[str, dict[str, str]] | str:
    try:
        async with request.form(max_files=1, max_fields=10) as form:  # closes the spooled file
            upload = form.get("file")
            raw = await upload.read() if isinstance(upload, UploadFile) else str(upload or "").encode()
            options = {
                "model": str(form.get("model") or "lim2009"),
                "edition": str(form.get("edition") or "who2016"),
            }
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return "the file is not UTF-8 text"
    except Exception as exc:  # multipart parser errors (malformed upload): said plainly
        return f"could not read the upload ({type(exc).__name__})"
    if options["model"] not in MODELS or options["edition"] not in EDITIONS or not text.strip():
        return "choose a CSV file, a model and an edition from the lists"
    return text, options


@router.post("/batch", response_class=HTMLResponse, include_in_schema=False)
async def batch(request: Request) -> HTMLResponse:
    """The table of a clinic file: subtype, score, median per patient, each linking to its result."""
    upload = await _upload(request)
    if isinstance(upload, str):
        return _batch_page(400, problems=[upload])
    status, data = await _offload(request, _batch, *upload)
    if status == "invalid":
        return _batch_page(400, problems=data)
    return _batch_page(rows=data)


def make_app(*, processes: int = 0, load_model: Callable[[str], Any] | None = None) -> FastAPI:
    """The clinician page as an ASGI application.

    Parameters
    ----------
    processes : int
        Worker processes for the computations (``mastoprog web`` uses one per core); 0 computes in
        this process's threads (tests, embedding; computations run concurrently there too).
    load_model : callable, optional
        ``name -> SurvivalModel`` when ``processes=0`` (default :func:`mastoprog.load_model`).

    Returns
    -------
    FastAPI
        Serve it with uvicorn (:func:`mastoprog.web.serve`) or test it with ``fastapi.testclient``.
    """
    if isinstance(processes, bool) or not isinstance(processes, int) or processes < 0:
        raise ValueError(f"processes: expected an integer >= 0; got {processes!r}")
    pool: concurrent.futures.Executor
    if processes:
        pool = concurrent.futures.ProcessPoolExecutor(
            processes, mp_context=multiprocessing.get_context("spawn"), initializer=_worker_init
        )
    else:
        pool = concurrent.futures.ThreadPoolExecutor(4, thread_name_prefix="mastoprog-web")

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> Any:
        if processes:  # start every worker (import + model) before the first request is accepted
            loop = asyncio.get_running_loop()
            await asyncio.gather(*(loop.run_in_executor(pool, _warm) for _ in range(processes)))
        yield
        # queued computations are dropped; a running one ends (COMPUTE_TIMEOUT at most) and the
        # workers are joined, so no process or semaphore outlives the server
        pool.shutdown(wait=True, cancel_futures=True)

    app = FastAPI(
        title="mastoprog clinician page",
        version=__version__,
        lifespan=lifespan,
        description=RESEARCH_USE_NOTICE + " Findings by POST only; nothing is logged or stored.",
    )
    app.state.pool = pool
    app.state.local = _compute.Computer(load_model) if processes == 0 else None
    app.mount("/static", StaticFiles(packages=[("mastoprog.web", "static")]), name="static")
    app.include_router(router)
    app.add_middleware(_AccessLog)
    app.add_middleware(_BodyLimit)  # outermost: limits apply before any route reads the body
    return app


def _api_problems(listed: list[dict[str, Any]]) -> JSONResponse:
    return JSONResponse({"detail": listed, "notice": RESEARCH_USE_NOTICE}, status_code=422)


# --------------------------------------------------------------------------- server


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback addresses (127.0.0.0/8, ::1)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class _Handle:
    """What ``serve(ready=...)`` receives: the page's ``url`` and ``shutdown()``."""

    def __init__(self, server: Any, url: str) -> None:
        self._server = server
        self.url = url

    def shutdown(self) -> None:
        self._server.should_exit = True


def serve(
    host: str = "127.0.0.1",
    port: int = 8000,
    *,
    allow_remote: bool = False,
    processes: int | None = None,
    ready: Callable[[Any], None] | None = None,
) -> None:
    """Serve the clinician page with uvicorn until Ctrl-C, SIGTERM or ``handle.shutdown()``.

    Parameters
    ----------
    host : str
        Interface (default ``127.0.0.1``: this machine only). Another interface needs
        ``allow_remote=True``: the page has no login.
    port : int
        TCP port (0 = any free port).
    allow_remote : bool
        Allow a non-loopback ``host``.
    processes : int, optional
        Worker processes for the computations (default: the number of cores).
    ready : callable, optional
        Called with a handle (``url``, ``shutdown()``) once the socket is bound.

    Raises
    ------
    ValueError
        For a non-loopback host without ``allow_remote``.
    """
    import uvicorn  # the web extra; imported here so that the module imports without a server

    if not is_loopback(host) and not allow_remote:
        raise ValueError(
            f"host {host!r} is not this machine: the page has no login, so serving it to the "
            "network needs allow_remote=True (CLI: --allow-remote)"
        )
    if not is_loopback(host):
        log.warning("serving on %s: the page has no login; anyone who can reach it can use it", host)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)  # connections wait in the backlog while the workers start: none is refused
    app = make_app(processes=os.cpu_count() or 2 if processes is None else processes)
    # access_log=False: uvicorn's access line holds the query string; ours (mastoprog.web) does not
    config = uvicorn.Config(
        app,
        access_log=False,
        log_config=None,
        timeout_keep_alive=5,
        limit_concurrency=200,
        h11_max_incomplete_event_size=16_384,
    )
    server = uvicorn.Server(config)
    bound = sock.getsockname()
    shown = f"[{bound[0]}]" if family == socket.AF_INET6 else bound[0]
    if ready is not None:
        ready(_Handle(server, f"http://{shown}:{bound[1]}/"))
    server.run(sockets=[sock])

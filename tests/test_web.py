"""The clinician page (mastoprog.web): the WSGI app called directly, plus one loopback end-to-end run.

The page holds no clinical logic, so every number it shows is checked against the public API
called on the same findings (the shipped example ASM patient, EX04-ASM).
"""

from __future__ import annotations

import html
import io
import json
import logging
import os
import re
import signal
import threading
import time
import urllib.request
from importlib import resources
from types import SimpleNamespace
from urllib.parse import urlencode
from wsgiref.util import setup_testing_defaults

import pytest

import mastoprog as mp
import mastoprog.classification
from mastoprog.classification import classify_patient
from mastoprog.cli import EXIT_OK, main
from mastoprog.risk import risk_score_patient
from mastoprog.web import make_app, serve

EXAMPLE = json.loads(
    resources.files("mastoprog").joinpath("data", "examples", "patient.json").read_text("utf-8"))
HORIZONS_MONTHS = (12, 24, 60, 120)


def _form_values(patient: dict) -> dict[str, str]:
    """The example patient as a clinician would fill the form (yes/no selects; AHN 'none')."""
    out = {}
    for k, v in patient.items():
        if isinstance(v, bool):
            out[k] = "yes" if v else "no"
        elif k == "ahn" and v == "":
            out[k] = "none"  # the JSON file's empty AHN means none (data dictionary)
        else:
            out[k] = str(v)
    return out


@pytest.fixture(scope="module")
def app():
    return make_app()


@pytest.fixture(scope="module")
def model():
    return mp.load_model("lim2009")


def call(app, method: str, path: str, body: bytes = b"", query: str = "",
         content_type: str = "application/x-www-form-urlencoded") -> tuple[int, dict, str]:
    environ: dict = {}
    setup_testing_defaults(environ)
    environ.update({"REQUEST_METHOD": method, "PATH_INFO": path, "QUERY_STRING": query,
                    "CONTENT_TYPE": content_type, "CONTENT_LENGTH": str(len(body)),
                    "wsgi.input": io.BytesIO(body)})
    seen: dict = {}

    def start_response(status, headers):
        seen["status"], seen["headers"] = status, dict(headers)

    text = b"".join(app(environ, start_response)).decode("utf-8")
    return int(seen["status"].split()[0]), seen["headers"], text


def post_form(app, values: dict[str, str], path: str = "/result"):
    return call(app, "POST", path, urlencode(values).encode("utf-8"))


def pct(p: float) -> str:
    return f"{100 * p:.1f} %"


def test_form_lists_every_finding_with_its_unit(app):
    status, headers, page = call(app, "GET", "/")
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    assert mp.RESEARCH_USE_NOTICE in page
    names = set(re.findall(r'name="([a-z0-9_]+)"', page))
    assert set(mp.CANONICAL_COLUMNS) - {"time", "event"} <= names  # follow-up columns are not findings
    for column, unit in [("hemoglobin", "g/dL"), ("alp", "U/L"), ("tryptase", "ng/mL"), ("anc", "10^9/L"),
                         ("platelets", "10^9/L"), ("bm_mc_infiltration_pct", "%"), ("age", "years")]:
        label = re.search(rf'<label for="f-{column}">(.*?)</label>', page).group(1)
        assert f"({unit})" in label, (column, label)
    # yes/no findings: unknown is the default (no other option pre-selected)
    select = re.search(r'<select id="f-splenomegaly".*?</select>', page).group(0)
    assert '<option value="unknown" selected>' not in select  # nothing selected -> first option
    assert select.index('value="unknown"') < select.index('value="yes"')
    editions = set(re.findall(r'<option value="([a-z0-9]+)"', re.search(
        r'<select id="f-edition".*?</select>', page).group(0)))
    assert editions == set(mastoprog.classification.EDITIONS)
    models = re.findall(r'<option value="([a-z0-9]+)"', re.search(
        r'<select id="f-model".*?</select>', page).group(0))
    assert models == ["lim2009", "mayo2025", "midostaurin"]


def test_result_for_the_example_asm_patient_matches_the_api(app, model):
    status, _, page = post_form(app, _form_values(EXAMPLE))
    assert status == 200
    assert mp.RESEARCH_USE_NOTICE in page
    assert re.search(r'id="subtype">ASM<', page)
    # survival and band at 1/2/5/10 years exactly as the public API gives them
    iv = model.predict_survival_interval(EXAMPLE, list(HORIZONS_MONTHS))
    for i, t in enumerate(HORIZONS_MONTHS):
        s = model.predict_survival_at(EXAMPLE, t).iloc[0]
        row = (f"<td>{pct(s)}</td><td>{pct(iv['lower'].iloc[i, 0])} – {pct(iv['upper'].iloc[i, 0])}</td>"
               f"<td>{pct(iv['population'].iloc[i, 0])}</td>")
        assert row in page, (t, row)
    med = model.predict_median(EXAMPLE, interval=True).iloc[0]
    assert f"{med['median_months']:.1f} months ({med['median_months'] / 12:.1f} years)" in page
    assert f"{med['lower']:.1f} months" in page and f"{med['upper']:.1f} months" in page
    score = risk_score_patient(EXAMPLE)
    assert f'id="score">{score.points} points, {score.group} risk<' in page
    assert 'id="envelope"' not in page  # complete findings: no envelope message
    # the inline SVG is plot_patient_curve (its data are checked in test_plotting): the drawn
    # elements keep their ids, and its labels carry this patient's score and median
    svg = page[page.index("<svg"):page.index("</svg>")]
    for gid in ("patient", "population", "band", "median", "notice", "score"):
        assert f'<g id="{gid}">' in svg, gid
    assert f"mastoprog score {score.points} points ({score.group} risk)" in svg
    assert f"median {med['median_months'] / 12:.1f} y" in svg


def test_unknown_ahn_gives_the_envelope_message_and_warnings_are_shown(app):
    values = dict(_form_values(EXAMPLE), tryptase="15000")  # possible but implausible: a warning
    del values["ahn"]  # not given on the form = unknown (not "none")
    status, _, page = post_form(app, values)
    assert status == 200
    assert 'id="envelope"' in page
    assert classify_patient(dict(EXAMPLE, ahn="unknown")).candidates == ("ASM", "SM-AHN")
    assert "one of ASM, SM-AHN" in page and "Findings that would decide the subtype: ahn" in page
    with pytest.warns(mp.PlausibilityWarning) as caught:
        mp.read_findings(dict(EXAMPLE, tryptase=15000))
    assert "Plausibility warnings" in page
    assert html.escape(str(caught[0].message)) in page


def test_model_and_edition_choices_reach_the_model(app):
    query = urlencode(dict(_form_values(EXAMPLE), model="midostaurin", edition="who2022"))
    status, _, page = call(app, "GET", "/result", query=query)  # the bookmarkable variant
    assert status == 200
    mido = mp.load_model("midostaurin")
    s5 = mido.predict_survival_at(EXAMPLE, 60, edition="who2022").iloc[0]
    assert f"<td>5 years</td><td>{pct(s5)}</td>" in page
    assert "edition who2022" in page and "midostaurin (Gotlib 2016)" in page
    lim = mp.load_model("lim2009").predict_survival_at(EXAMPLE, 60).iloc[0]
    assert pct(lim) != pct(s5)  # the choice matters for this patient, so the check above can fail


def test_hemoglobin_in_g_per_l_sends_the_form_back_with_the_hint(app):
    values = dict(_form_values(EXAMPLE), hemoglobin="135", patient_id="<b>P07</b>")
    status, _, page = post_form(app, values)
    assert status == 400
    assert mp.RESEARCH_USE_NOTICE in page
    assert "looks like g/L; this column is g/dL (divide by 10)" in page
    field = re.search(r'<div class="field bad"><label for="f-hemoglobin">.*?</div></div>', page).group(0)
    assert 'value="135"' in field and 'aria-invalid="true"' in field and "divide by 10" in field
    assert 'value="9.4"' not in page and 'value="260"' in page  # the other values are kept
    assert "<b>P07</b>" not in page and "&lt;b&gt;P07&lt;/b&gt;" in page
    assert "Traceback" not in page


def test_user_text_is_html_escaped_on_the_result_page(app):
    evil = '"><script>alert(1)</script>'
    status, _, page = post_form(app, dict(_form_values(EXAMPLE), patient_id=evil))
    assert status == 200
    assert "<script>" not in page
    assert "&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_bad_options_are_form_errors(app):
    status, _, page = post_form(app, {"age": "50", "sex": "F", "edition": "who2018", "year": "soon"})
    assert status == 400
    assert "edition: got &#x27;who2018&#x27;" in page and "year: got &#x27;soon&#x27;" in page


def test_json_api_round_trip(app, model):
    status, headers, text = call(app, "POST", "/api/patient", json.dumps(EXAMPLE).encode("utf-8"),
                                 content_type="application/json")
    assert status == 200 and headers["Content-Type"].startswith("application/json")
    out = json.loads(text)
    assert out["notice"] == mp.RESEARCH_USE_NOTICE
    assert out["classification"]["subtype"] == "ASM" and out["classification"]["candidates"] == ["ASM"]
    assert out["score"]["points"] == risk_score_patient(EXAMPLE).points
    assert [r["months"] for r in out["survival"]] == [float(t) for t in HORIZONS_MONTHS]
    iv = model.predict_survival_interval(EXAMPLE, list(HORIZONS_MONTHS))
    for i, row in enumerate(out["survival"]):
        assert row["survival"] == pytest.approx(iv["survival"].iloc[i, 0], abs=1e-12)
        assert row["lower"] == pytest.approx(iv["lower"].iloc[i, 0], abs=1e-12)
        assert row["upper"] == pytest.approx(iv["upper"].iloc[i, 0], abs=1e-12)
    med = model.predict_median(EXAMPLE, interval=True).iloc[0]
    assert out["median"]["months"] == pytest.approx(med["median_months"], abs=1e-9)
    assert out["envelope"] is False and "svg" not in out
    # the GET form of the API (form semantics: empty = unknown) gives the same answer
    status, _, text = call(app, "GET", "/api/patient", query=urlencode(_form_values(EXAMPLE)))
    assert status == 200
    assert json.loads(text)["survival"] == out["survival"]


def test_json_api_reports_every_problem(app):
    body = json.dumps(dict(EXAMPLE, hemoglobin=135, sex="X")).encode()
    status, _, text = call(app, "POST", "/api/patient", body, content_type="application/json")
    assert status == 400
    out = json.loads(text)
    assert {p["column"] for p in out["problems"]} == {"hemoglobin", "sex"}
    assert "divide by 10" in out["error"]
    status, _, text = call(app, "POST", "/api/patient", b"{not json", content_type="application/json")
    assert status == 400 and "not valid JSON" in json.loads(text)["error"]


def test_no_calibrated_curve_is_said_plainly(app):
    status, _, page = post_form(app, {"age": "50", "sex": "F", "who_subtype": "MCS"})
    assert status == 200
    assert 'id="curve-error"' in page and "no confirmed survival target exists for MCS" in page


def test_unexpected_error_is_a_generic_500_and_logged(caplog):
    def broken_loader(name):
        raise RuntimeError("model store exploded")

    app = make_app(load_model=broken_loader)
    with caplog.at_level(logging.ERROR, logger="mastoprog.web"):
        status, _, page = post_form(app, {"age": "50", "sex": "F"})
    assert status == 500
    assert "Internal error" in page and mp.RESEARCH_USE_NOTICE in page
    assert "Traceback" not in page and "exploded" not in page
    assert "model store exploded" in caplog.text
    status, _, text = call(app, "GET", "/api/patient", query="age=50&sex=F")
    assert status == 500 and "exploded" not in text
    assert call(app, "GET", "/nowhere")[0] == 404
    assert call(app, "DELETE", "/result")[0] == 405


def test_served_on_loopback_end_to_end():
    started: list = []
    ready = threading.Event()

    def on_ready(server):
        started.append(server)
        ready.set()

    thread = threading.Thread(target=serve, args=("127.0.0.1", 0), kwargs={"ready": on_ready}, daemon=True)
    thread.start()
    try:
        assert ready.wait(10), "server did not start"
        server = started[0]
        assert server.url.startswith("http://127.0.0.1:")
        with urllib.request.urlopen(server.url, timeout=10) as resp:
            assert resp.status == 200
            page = resp.read().decode("utf-8")
        assert mp.RESEARCH_USE_NOTICE in page and 'action="/result"' in page
    finally:
        if started:
            started[0].shutdown()
        thread.join(10)
    assert not thread.is_alive()


def test_ctrl_c_stops_the_server_cleanly(caplog):
    """SIGINT (Ctrl-C) asks the loop to stop; the previous handler is restored afterwards."""
    before = signal.getsignal(signal.SIGINT)
    safety: list[threading.Timer] = []

    def on_ready(server):
        safety.append(threading.Timer(10, server.shutdown))  # bounded even if the handler failed
        safety[0].start()
        os.kill(os.getpid(), signal.SIGINT)  # serve's own handler is installed by now

    start = time.monotonic()
    with caplog.at_level(logging.INFO, logger="mastoprog.web"):
        serve("127.0.0.1", 0, ready=on_ready)
    safety[0].cancel()
    assert time.monotonic() - start < 5
    assert f"signal {int(signal.SIGINT)}: stopping" in caplog.text
    assert signal.getsignal(signal.SIGINT) is before


def test_cli_web_prints_the_url_and_the_note(monkeypatch, capsys):
    seen = {}

    def fake_serve(host, port, *, ready=None):
        seen.update(host=host, port=port)
        ready(SimpleNamespace(url=f"http://{host}:{port}/"))

    monkeypatch.setattr("mastoprog.web.serve", fake_serve)
    assert main(["web", "--port", "8123"]) == EXIT_OK
    out = capsys.readouterr().out
    assert seen == {"host": "127.0.0.1", "port": 8123}  # loopback unless asked otherwise
    assert "http://127.0.0.1:8123/" in out and "not a medical device" in out


def test_import_mastoprog_does_not_import_the_web_page():
    import subprocess
    import sys

    code = "import sys, mastoprog; print('mastoprog.web' in sys.modules, 'wsgiref' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]

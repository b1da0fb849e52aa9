"""The clinician page (mastoprog.web): FastAPI's TestClient against the app, plus one real uvicorn run.

The page holds no clinical logic, so every number it shows is checked against the public API called
on the same findings (the shipped example ASM patient, EX04-ASM).
"""

from __future__ import annotations

import json
import logging
import re
import socket
import threading
import time
import urllib.parse
import urllib.request
import warnings
from importlib import resources

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import mastoprog as mp
from mastoprog.findings import CANONICAL_COLUMNS
from mastoprog.risk import risk_score_patient
from mastoprog.survival.outcomes import predict_outcomes
from mastoprog.web import make_app, serve
from mastoprog.web._fields import FINDING_COLUMNS

EXAMPLE = json.loads(
    resources.files("mastoprog").joinpath("data", "examples", "patient.json").read_text("utf-8")
)
HORIZONS_MONTHS = (12.0, 24.0, 60.0, 120.0)


def form_values(patient: dict) -> dict[str, str]:
    """The example patient as a clinician fills the form (yes/no selects; empty AHN = none)."""
    return {k: ("yes" if v is True else "no" if v is False else str(v)) for k, v in patient.items()}


@pytest.fixture(scope="module")
def client():
    with warnings.catch_warnings():  # starlette's TestClient announces a future switch to httpx2
        warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
        from fastapi.testclient import TestClient
    with TestClient(make_app(), raise_server_exceptions=False) as c:
        yield c


@pytest.fixture(scope="module")
def model():
    return mp.load_model("lim2009")


@pytest.fixture(scope="module")
def example_result(client):
    r = client.post("/result", data=form_values(EXAMPLE))
    assert r.status_code == 200
    return r.text


# --------------------------------------------------------------------------- the form


def test_form_lists_every_finding_with_its_unit_and_defaults_nothing_to_unknown(client):
    r = client.get("/")
    assert r.status_code == 200 and mp.RESEARCH_USE_NOTICE in r.text
    names = set(re.findall(r'name="([a-z_0-9]+)"', r.text))
    assert set(CANONICAL_COLUMNS) - {"time", "event"} <= names
    assert "(g/dL)" in r.text and "(10^9/L)" in r.text and "(U/L)" in r.text and "(ng/mL)" in r.text
    ahn = r.text[r.text.index('id="f-ahn"') :]
    ahn = ahn[: ahn.index("</select>")]
    # empty (the first option) means "none", as in the data dictionary and the API
    assert re.search(r'<option value="" selected>none</option>', ahn)
    sarcoma = r.text[r.text.index('id="f-mc_sarcoma"') :]
    assert '<option value="" selected>no (none diagnosed)</option>' in sarcoma[: sarcoma.index("</select>")]


def test_a_query_string_is_never_read(client):
    r = client.get("/?age=58&patient_id=SECRET")
    assert r.status_code == 200 and "SECRET" not in r.text and 'value="58"' not in r.text


def test_form_and_api_read_the_same_input_identically(client):
    """Empty ahn: "none" both ways (was "unknown" on the form and "none" in the API)."""
    form = client.post("/result", data=form_values(EXAMPLE)).text
    api = client.post("/api/patient", json=EXAMPLE).json()
    assert api["classification"]["subtype"] == "ASM"
    assert re.search(r'id="subtype">ASM<', form)


# --------------------------------------------------------------------------- the result


def test_result_page_shows_what_the_public_api_gives(example_result, model):
    page = example_result
    assert mp.RESEARCH_USE_NOTICE in page
    assert re.search(r'id="subtype">ASM<', page)
    assert "target set lim2009, Mayo Clinic 1976-2007, before KIT inhibitors" in page  # the era (issue 10)
    score = risk_score_patient(EXAMPLE)
    assert f'id="score">{score.points} points, {score.group} risk<' in page
    out = predict_outcomes(model, EXAMPLE, HORIZONS_MONTHS)
    for _, row in out.iterrows():
        assert f"{100 * row['alive']:.1f} %" in page
        assert f"{100 * row['died_mastocytosis']:.1f} %" in page
    assert 'id="curve"' in page and "<svg" in page
    assert "Patient EX04-ASM, 58 y, male: ASM" in page  # the curve is titled with patient, age, sex
    assert "Matched population: US general population, male, age 58" in page
    assert "Lim KH et al., Blood 2009" in page  # the target set and its era
    assert page.count('class="icon ') == 400  # four icon arrays of 100
    assert "Loss of life expectancy" in page
    # the edit link posts the findings back (never a link with a query string)
    assert 'action="/" ' in page or 'action="/">' in page
    assert "/?" not in page


def test_icon_arrays_hold_100_patients_each(example_result):
    for fig in re.findall(r'<figure class="icon-array".*?</figure>', example_result, flags=re.S):
        assert fig.count('class="icon ') == 100


def test_edit_posts_the_values_back_into_the_form(client):
    values = form_values(EXAMPLE)
    r = client.post("/", data=values)
    assert r.status_code == 200 and 'value="EX04-ASM"' in r.text and 'value="9.4"' in r.text


def test_missing_inputs_are_flagged_with_what_was_assumed(client):
    r = client.post("/result", data={"age": "70", "sex": "F", "who_subtype": "ISM"})
    assert r.status_code == 200
    assert "ALP upper limit of normal not given" in r.text and "U/L assumed" in r.text
    assert "splenomegaly not given" in r.text and "calendar year of diagnosis not given" in r.text


def test_assigned_mcs_is_shown_as_mcs_with_no_curve(client):
    r = client.post("/result", data={"age": "50", "sex": "M", "who_subtype": "MCS"})
    assert r.status_code == 200
    assert 'id="curve-error"' in r.text and "MCS" in r.text
    assert re.search(r'id="subtype">MCS<', r.text)  # the assigned subtype in large type (was "ASM")
    assert "Assigned on the form (the curve uses it)" in r.text


def test_mcl_curve_is_drawn_in_months(client):
    out = client.post("/result", data={"age": "80", "sex": "F", "who_subtype": "MCL"}).text
    assert "months since diagnosis" in out


def test_already_survived_gives_conditional_survival(client, model):
    api = client.post("/api/patient", json={**EXAMPLE, "survived_months": 24}).json()
    rows = api["conditional"]["rows"]
    s = model.predict_survival_function(EXAMPLE, [24.0, 36.0, 84.0])
    assert rows[0]["conditional_survival"] == pytest.approx(s.iloc[1, 0] / s.iloc[0, 0], rel=1e-6)
    assert rows[2]["conditional_survival"] == pytest.approx(s.iloc[2, 0] / s.iloc[0, 0], rel=1e-6)


# --------------------------------------------------------------------------- the JSON API


def test_api_outcomes_match_the_model(client, model):
    out = client.post("/api/patient", json=EXAMPLE).json()
    assert out["notice"] == mp.RESEARCH_USE_NOTICE
    res = model.predict(EXAMPLE, list(HORIZONS_MONTHS))
    iv = {"survival": res.survival, "lower": res.lower, "upper": res.upper, "population": res.population}
    for i, row in enumerate(out["outcomes"]):
        assert row["months"] == HORIZONS_MONTHS[i]
        assert row["alive"] == pytest.approx(iv["survival"].iloc[i, 0], abs=1e-12)
        assert row["alive_lower"] == pytest.approx(iv["lower"].iloc[i, 0], abs=1e-12)
        assert row["alive_upper"] == pytest.approx(iv["upper"].iloc[i, 0], abs=1e-12)
        assert row["population_alive"] == pytest.approx(iv["population"].iloc[i, 0], abs=1e-12)
        total = row["alive"] + row["died_mastocytosis"] + row["died_other_causes"]
        assert total == pytest.approx(1.0, abs=1e-12)
        assert sum(row["of_100"].values()) == 100
    med = model.predict_median(EXAMPLE, interval=True).iloc[0]
    assert out["median"]["months"] == pytest.approx(med["median"], abs=1e-9)
    assert out["life_expectancy_loss"]["horizon_months"] == 240.0
    assert "svg_curve" not in out and "curve" not in out


def test_api_422_lists_every_problem_with_range_and_unit(client):
    r = client.post(
        "/api/patient", json={"age": "x", "hemoglobin": 135, "year": 1900, "sex": "X", "bogus": 1}
    )
    assert r.status_code == 422
    fields = {p["field"] for p in r.json()["detail"]}
    assert fields == {"age", "hemoglobin", "year", "sex", "bogus"}
    hb = next(p for p in r.json()["detail"] if p["field"] == "hemoglobin")
    assert "g/dL" in hb["expected"] and hb["value"] == 135.0


def test_openapi_documents_every_field_with_its_unit(client):
    doc = client.get("/openapi.json").json()
    schema = doc["paths"]["/api/patient"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    props = schema["properties"]
    assert set(FINDING_COLUMNS) <= set(props)
    assert "[unit: g/dL]" in props["hemoglobin"]["description"]
    assert "[unit: years]" in props["age"]["description"]
    assert "[unit: months]" in props["survived_months"]["description"]


# --------------------------------------------------------------------------- bad input: never a 5xx

#: The malformed requests of issue 11 (12 of 103 gave HTTP 500 on the wsgiref page).
BAD_REQUESTS = {
    "age_empty": ("post", "/result", {"data": {**form_values(EXAMPLE), "age": ""}}, 400),
    "empty_post": ("post", "/result", {}, 400),
    "get_result_without_fields": ("get", "/result", {}, 405),
    "age_nan": ("post", "/result", {"data": {**form_values(EXAMPLE), "age": "NaN"}}, 400),
    "5000_form_fields": (
        "post",
        "/result",
        {
            "content": "&".join(f"f{i}=1" for i in range(5000)),
            "headers": {"content-type": "application/x-www-form-urlencoded"},
        },
        400,
    ),
    "json_to_result": ("post", "/result", {"json": EXAMPLE}, 400),
    "multipart_to_result": ("post", "/result", {"files": {"age": ("a.txt", b"58")}}, 400),
    "get_api_without_parameters": ("get", "/api/patient", {}, 405),
    "deeply_nested_json": (
        "post",
        "/api/patient",
        {"content": "[" * 100_000 + "]" * 100_000, "headers": {"content-type": "application/json"}},
        413,
    ),
    "nested_value": ("post", "/api/patient", {"json": {"age": [[[[[1]]]]]}}, 422),
    "5000_digit_number_form": (
        "post",
        "/result",
        {"data": {**form_values(EXAMPLE), "tryptase": "9" * 5000}},
        400,
    ),
    "5000_digit_number_json": (
        "post",
        "/api/patient",
        {"content": '{"age": ' + "9" * 5000 + "}", "headers": {"content-type": "application/json"}},
        422,
    ),
    "year_1900": ("post", "/result", {"data": {**form_values(EXAMPLE), "year": "1900"}}, 400),
    "api_empty_body": ("post", "/api/patient", {}, 422),
    "api_array": ("post", "/api/patient", {"json": [1, 2]}, 422),
}


@pytest.mark.parametrize("name", list(BAD_REQUESTS))
def test_malformed_requests_never_give_a_5xx(client, name):
    method, path, kwargs, expected = BAD_REQUESTS[name]
    r = getattr(client, method)(path, **kwargs)
    assert r.status_code == expected, r.text[:300]
    assert "Traceback" not in r.text


def test_bad_value_comes_back_beside_its_field_with_the_typed_values_kept(client):
    r = client.post("/result", data={**form_values(EXAMPLE), "hemoglobin": "135", "age": ""})
    assert r.status_code == 400
    hb = r.text[r.text.index('id="field-hemoglobin"') :]
    hb = hb[: hb.index('<div class="field', 10)]
    assert 'value="135"' in hb and "divide by 10" in hb and 'class="ferr"' in hb
    age = r.text[r.text.index('id="field-age"') :]
    assert "age at diagnosis in years" in age[: age.index('<div class="field', 10)]
    assert 'value="260"' in r.text  # the other values are kept


def test_user_text_is_html_escaped(client):
    r = client.post("/result", data={**form_values(EXAMPLE), "patient_id": '"><script>alert(1)</script>'})
    assert r.status_code == 200 and "<script>" not in r.text


def test_too_large_body_is_413(client):
    r = client.post(
        "/result",
        content=b"a=" + b"1" * 200_000,
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert r.status_code == 413


_FIELDS = st.sampled_from([*FINDING_COLUMNS, "edition", "model", "year", "survived_months", "junk"])
_VALUES = st.one_of(
    st.text(max_size=30),
    st.sampled_from(["", "NaN", "inf", "-1", "1e308", "yes", "unknown", "0", "120", "121", "ASM", "MCS"]),
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(form=st.dictionaries(_FIELDS, _VALUES, max_size=8))
def test_fuzzed_forms_never_give_a_5xx(client, form):
    r = client.post("/result", data={"age": "60", **form})
    assert r.status_code in (200, 400), r.text[:300]


_JSON_LEAVES = st.none() | st.booleans() | st.floats(allow_nan=True) | st.integers() | st.text(max_size=10)
_JSON = (
    _JSON_LEAVES
    | st.lists(_JSON_LEAVES, max_size=3)
    | st.dictionaries(st.text(max_size=5), st.lists(_JSON_LEAVES, max_size=2) | _JSON_LEAVES, max_size=3)
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=st.dictionaries(_FIELDS, _JSON | _VALUES, max_size=6))
# found by this test: an unhashable model or edition (a JSON list) was looked up in a dict (500)
@example(body={"age": None, "patient_id": None, "model": [None]})
@example(body={"edition": [None], "model": {"a": 1}})
def test_fuzzed_api_bodies_never_give_a_5xx(client, body):
    # sent as text: a hostile client may send Infinity/NaN, which httpx's json= refuses to encode
    content = json.dumps({"age": 60, **body})
    r = client.post("/api/patient", content=content, headers={"content-type": "application/json"})
    assert r.status_code in (200, 422), r.text[:300]


# --------------------------------------------------------------------------- PDF and batch


def test_report_pdf_is_one_page(client):
    r = client.post("/report.pdf", data=form_values(EXAMPLE))
    assert r.status_code == 200 and r.headers["content-type"] == "application/pdf"
    assert (
        r.content.startswith(b"%PDF")
        and r.content.count(b"/Type /Page\n") + r.content.count(b"/Type /Page ") <= 1
    )
    assert len(re.findall(rb"/Type\s*/Page[^s]", r.content)) == 1


def test_render_pdf_refuses_to_overwrite(tmp_path):
    from mastoprog.web import render_pdf

    out = render_pdf(EXAMPLE, tmp_path / "r.pdf")
    assert out.read_bytes().startswith(b"%PDF")
    with pytest.raises(FileExistsError, match="exists; pass force=True"):
        render_pdf(EXAMPLE, out)
    assert [p.name for p in tmp_path.iterdir()] == ["r.pdf"]  # no temporary file left behind


def test_batch_gives_the_same_numbers_as_classify_score_and_median(client, model):
    csv = resources.files("mastoprog").joinpath("data", "examples", "patients.csv").read_bytes()
    r = client.post(
        "/batch",
        files={"file": ("clinic.csv", csv, "text/csv")},
        data={"model": "lim2009", "edition": "who2016"},
    )
    assert r.status_code == 200
    frame = mp.read_findings(resources.files("mastoprog").joinpath("data", "examples", "patients.csv"))
    subtypes = mp.classify(frame)["subtype"]
    rows = re.findall(r"<tr><td>([^<]*)</td><td>([^<]*)</td>", r.text)
    assert [s for _, s in rows] == list(subtypes)
    assert r.text.count('action="/result"') == len(frame)  # each row posts to its result


def test_batch_bad_file_is_400(client):
    r = client.post("/batch", files={"file": ("x.csv", b"age\n-5\n", "text/csv")})
    assert r.status_code == 400 and "age" in r.text


# --------------------------------------------------------------------------- the real server


def test_serve_refuses_a_non_loopback_host_without_allow_remote(capsys):
    with pytest.raises(ValueError, match="no login"):
        serve("0.0.0.0", 0)
    from mastoprog.cli import main

    assert main(["web", "--host", "0.0.0.0", "--port", "0"]) == 2
    assert "--allow-remote" in capsys.readouterr().err


def test_no_patient_value_in_any_log_line_of_a_real_server():
    """uvicorn + worker process; every logger captured at DEBUG while findings are posted."""
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    handler = Keep(level=logging.DEBUG)
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    handles = []
    thread = threading.Thread(
        target=serve, kwargs={"port": 0, "processes": 1, "ready": handles.append}, daemon=True
    )
    try:
        thread.start()
        for _ in range(100):
            if handles:
                break
            time.sleep(0.05)
        url = handles[0].url
        # an idle connection and a client that announces a body and stalls must not delay others
        host, port = urllib.parse.urlsplit(url).hostname, urllib.parse.urlsplit(url).port
        idle = socket.create_connection((host, port))
        stalled = socket.create_connection((host, port))
        stalled.sendall(b"POST /result HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\nage=5")
        secret = dict(EXAMPLE, patient_id="ZZSECRET42", hemoglobin=9.87)
        body = urllib.parse.urlencode(form_values(secret)).encode()
        for _ in range(100):  # the socket is bound before uvicorn accepts: retry briefly
            try:
                with urllib.request.urlopen(
                    urllib.request.Request(url + "result", data=body), timeout=60
                ) as resp:
                    page = resp.read().decode()
                break
            except (ConnectionError, urllib.error.URLError):
                time.sleep(0.1)
        assert "ZZSECRET42" in page
        with urllib.request.urlopen(url + "?patient_id=ZZSECRET42&age=58", timeout=30) as resp:
            assert resp.status == 200
        api = urllib.request.Request(
            url + "api/patient",
            data=json.dumps(secret).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(api, timeout=60) as resp:
            assert json.load(resp)["patient_id"] == "ZZSECRET42"
        idle.close()
        stalled.close()
    finally:
        if handles:
            handles[0].shutdown()
        thread.join(timeout=30)
        root.removeHandler(handler)
        root.setLevel(old_level)
    lines = [r.getMessage() for r in records]
    assert any("POST /result 200" in line for line in lines)  # the access log is there...
    for line in lines:  # ...and holds no finding, no query string
        assert "ZZSECRET42" not in line and "9.87" not in line and "age=58" not in line, line


def test_concurrent_computations_keep_their_own_plausibility_notes_without_a_lock():
    """Two threads compute at the same time (a barrier inside the findings reader makes them
    overlap): each report lists only its own patient's plausibility note, and nothing warns."""
    from mastoprog.web import _compute

    barrier = threading.Barrier(2, timeout=30)
    computer = _compute.Computer()
    computer.model("lim2009")
    original = _compute.read_findings

    def overlapping_read(*args, **kwargs):
        out = original(*args, **kwargs)
        barrier.wait()  # both threads are inside their computation now
        return out

    reports = {}

    def run(name, hb):
        values = {**form_values(EXAMPLE), "patient_id": name, "hemoglobin": str(hb)}
        reports[name] = computer.compute(values, strict=False)

    _compute.read_findings = overlapping_read
    try:
        threads = [threading.Thread(target=run, args=a) for a in (("LOW", 2.5), ("HIGH", 25.0))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
    finally:
        _compute.read_findings = original
    tail = "are possible but implausible"
    assert [w for w in reports["LOW"]["warnings"] if "hemoglobin" in w] == [
        f"hemoglobin: 1 value(s) below 3 g/dL {tail} (rows ['LOW']); check the unit (g/dL)"]
    assert [w for w in reports["HIGH"]["warnings"] if "hemoglobin" in w] == [
        f"hemoglobin: 1 value(s) above 20 g/dL {tail} (rows ['HIGH']); check the unit (g/dL)"]
    assert not hasattr(_compute, "_WARNINGS_LOCK")

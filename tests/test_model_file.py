"""Model files are data from outside (issue 13): every tampered file is refused with ModelFileError
naming the key; nothing else escapes ``load_model``; the published JSON Schema is current."""

from __future__ import annotations

import copy
import json
import math
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mastoprog import CalibrationError, ModelFileError, load_model
from mastoprog.survival import _model_schema
from mastoprog.survival._model_file import MAX_FILE_BYTES

MODELS = Path(__file__).parents[1] / "src" / "mastoprog" / "data" / "models"
SCHEMA_FILE = Path(__file__).parents[1] / "src" / "mastoprog" / "data" / "model_schema.json"


@pytest.fixture(scope="module")
def shipped() -> dict[str, Any]:
    return json.loads((MODELS / "lim2009.json").read_text(encoding="utf-8"))


def _set(doc: dict, path: str, value: Any) -> dict:
    """A deep copy of ``doc`` with the value at a dotted key path replaced (``_del``: removed)."""
    out = copy.deepcopy(doc)
    *head, last = path.split(".")
    node: Any = out
    for key in head:
        node = node[int(key)] if isinstance(node, list) else node[key]
    if isinstance(node, list):
        last = int(last)  # type: ignore[assignment]
    if value is _DEL:
        del node[last]
    else:
        node[last] = value
    return out


_DEL = object()

# (id, key path, new value, text the message must contain: the key path as reported)
TAMPERED = [
    ("nan_in_beta_draws", "model.draws.beta.3.1", math.nan,
      r"model\.draws\.beta\.3\.1: Input should be a finite"),
    ("inf_in_lambda_draws", "model.draws.log_lambda.ASM.7", math.inf, r"model\.draws\.log_lambda\.ASM\.7"),
    ("log_hr_1e308", "model.beta.sar_1.log_hr", 1e308, r"model\.beta\.sar_1\.log_hr"),
    ("log_hr_nan", "model.beta.age_decades.log_hr", math.nan, r"model\.beta\.age_decades\.log_hr"),
    ("log_hr_outside_its_draws", "model.beta.alp_gt_uln.log_hr", 4.0,
     r"model\.beta\.alp_gt_uln\.log_hr: the point estimate 4\.0 lies outside the range of its draws"),
    ("negative_se", "model.beta.sar_1.se_log_hr", -0.3,
      r"model\.beta\.sar_1\.se_log_hr: .*greater than or equal to 0"),
    ("zero_se_estimated", "model.beta.plt_lt_150.se_log_hr", 0.0,
      r"model\.beta\.plt_lt_150: se_log_hr must be > 0"),
    ("kind_pickle", "model.kind", "pickle", r"model\.kind: .*got 'pickle'"),
    ("excess_pickle", "model.subtypes.ASM.excess", "pickle", r"model\.subtypes\.ASM\.excess"),
    ("format_other", "format", "pickle", r"format: .*got 'pickle'"),
    ("schema_version_2", "schema_version", 2, r"schema_version: .*got 2"),
    ("edition_unknown", "edition", "who1999", r"edition: .*got 'who1999'"),
    ("missing_model", "model", _DEL, r"model: Field required"),
    ("missing_factors", "model.factors", _DEL, r"model\.factors: Field required"),
    ("missing_beta", "model.beta", _DEL, r"model\.beta: Field required"),
    ("missing_log_hr", "model.beta.sar_1.log_hr", _DEL, r"model\.beta\.sar_1\.log_hr: Field required"),
    ("missing_subtypes", "model.subtypes", _DEL, r"model\.subtypes: Field required"),
    ("missing_life_table", "model.life_table", _DEL, r"model\.life_table: Field required"),
    ("missing_log_lambda", "model.subtypes.ASM.log_lambda", _DEL,
      r"model\.subtypes\.ASM: .*needs \['log_lambda'\]"),
    ("missing_center_factor", "model.subtypes.ISM.center.sar_1", _DEL, r"model\.subtypes\.ISM\.center"),
    ("log_lambda_string", "model.subtypes.ASM.log_lambda", "4.2",
      r"model\.subtypes\.ASM\.log_lambda: Input should be a valid number"),
    ("log_hr_bool", "model.beta.sar_1.log_hr", True,
      r"model\.beta\.sar_1\.log_hr: Input should be a valid number"),
    ("rho_zero", "model.subtypes.MCL.rho", 0.0, r"model\.subtypes\.MCL\.rho: Input should be greater than 0"),
    ("rho_negative", "model.subtypes.SSM.rho", -1.0, r"model\.subtypes\.SSM\.rho"),
    ("rho_huge", "model.subtypes.ISM.rho", 1e6, r"model\.subtypes\.ISM\.rho"),
    ("log_lambda_huge", "model.subtypes.SM-AHN.log_lambda", 1e300, r"model\.subtypes\.SM-AHN\.log_lambda"),
    ("center_out_of_range", "model.subtypes.ASM.center.sar_1", 150.0, r"model\.subtypes\.ASM\.center\.sar_1"),
    ("unknown_subtype", "model.subtypes.XYZ", {"excess": "none"}, r"model\.subtypes\.XYZ"),
    ("unknown_top_key", "model.pickle", "cos\nsystem\n", r"model\.pickle: Extra inputs are not permitted"),
    ("factors_not_a_list", "model.factors", "age_gt_60", r"model\.factors: Input should be a valid list"),
    ("factor_without_coefficient", "model.factors", ["age_gt_60", "splenomegaly", "alp_gt_uln", "sar_1", "x"],
     r"model\.beta: expected one coefficient per factor"),
    ("draws_n_wrong", "model.draws.n", 199, r"expected 199 draws"),
    ("draws_n_negative", "model.draws.n", -5, r"model\.draws\.n"),
    ("draws_n_huge", "model.draws.n", 10**9, r"model\.draws\.n"),
    ("draws_row_short", "model.draws.beta.0", [0.1, 0.2],
      r"model\.draws\.beta: expected 200 rows of 7 numbers"),
    ("draws_lambda_missing", "model.draws.log_lambda.ASM", _DEL, r"model\.draws\.log_lambda\.ASM: missing"),
    ("draws_not_object", "model.draws", [1, 2, 3], r"model\.draws: Input should be a valid dictionary"),
    ("seed_float", "model.draws.seed", 1e300, r"model\.draws\.seed"),
    ("life_table_name_empty", "model.life_table.name", "", r"model\.life_table\.name"),
    ("residual_nan", "model.residuals.2.achieved", math.nan, r"model\.residuals\.2\.achieved"),
    ("top_level_list", None, [1, 2], r"Input should be a valid dictionary or instance of ModelDocument"),
]


@pytest.mark.parametrize(("path", "value", "match"), [t[1:] for t in TAMPERED], ids=[t[0] for t in TAMPERED])
def test_tampered_model_file_is_refused_naming_the_key(tmp_path, shipped, path, value, match):
    doc = value if path is None else _set(shipped, path, value)
    f = tmp_path / "tampered.json"
    f.write_text(json.dumps(doc), encoding="utf-8")  # NaN/Infinity as JSON's usual extension
    with pytest.raises(ModelFileError, match=match):
        load_model(f)


def test_every_problem_is_reported_at_once(tmp_path, shipped):
    doc = _set(_set(_set(shipped, "model.kind", "pickle"), "model.beta.sar_1.se_log_hr", -1.0),
               "model.draws.beta.3.1", math.nan)
    f = tmp_path / "three.json"
    f.write_text(json.dumps(doc), encoding="utf-8")
    with pytest.raises(ModelFileError, match=r"3 problem\(s\).*model\.kind.*model\.beta\.sar_1\.se_log_hr"
                                             r".*model\.draws\.beta\.3\.1"):
        load_model(f)


def test_parser_failures_are_model_file_errors(tmp_path):
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 50_000 + "]" * 50_000, encoding="utf-8")
    with pytest.raises(ModelFileError, match="nested too deeply"):
        load_model(deep)
    long_int = tmp_path / "long_int.json"
    long_int.write_text('{"format": ' + "9" * 5000 + "}", encoding="utf-8")
    with pytest.raises(ModelFileError, match="a number in the file cannot be read"):
        load_model(long_int)
    bad = tmp_path / "bad.json"
    bad.write_bytes(b"\xff\xfe{}")
    with pytest.raises(ModelFileError, match="not UTF-8"):
        load_model(bad)
    trunc = tmp_path / "truncated.json"
    trunc.write_text((MODELS / "lim2009.json").read_text(encoding="utf-8")[:5000], encoding="utf-8")
    with pytest.raises(ModelFileError, match="not valid JSON"):
        load_model(trunc)
    with pytest.raises(ModelFileError, match="is a folder"):
        load_model(tmp_path)


def test_huge_file_is_refused_by_size_before_parsing(tmp_path):
    huge = tmp_path / "huge.json"
    with huge.open("wb") as fh:  # a sparse 200 MB file: no time spent writing it
        fh.truncate(200 * 1024 * 1024)
    t0 = time.perf_counter()
    refused = rf"209,715,200 bytes; a model file is at most {MAX_FILE_BYTES:,}"
    with pytest.raises(ModelFileError, match=refused):
        load_model(huge)
    elapsed = time.perf_counter() - t0
    # Refused by os.stat, never read: microseconds. The bound is 0.1 s (issue 13), 1000x above
    # what the check costs, so a loaded machine cannot flake it.
    assert elapsed < 0.1


def test_shipped_models_and_saved_models_load(tmp_path):
    for name in ("lim2009", "mayo2025", "midostaurin"):
        model = load_model(name)
        again = load_model(model.save(tmp_path / f"{name}.json"))
        p = {"age": 61, "sex": "F", "who_subtype": "SM-AHN", "splenomegaly": True, "alp": 150.0,
             "sar_count": 1}
        assert np.array_equal(again.predict_survival_function(p, [12, 60]).to_numpy(),
                              model.predict_survival_function(p, [12, 60]).to_numpy())


def test_published_json_schema_is_current():
    # Regenerate with: python -c "from mastoprog.survival import _model_schema as s, json;
    # print(json.dumps(s.json_schema(), indent=1))" > src/mastoprog/data/model_schema.json
    assert json.loads(SCHEMA_FILE.read_text(encoding="utf-8")) == _model_schema.json_schema()


# --------------------------------------------------------------------------- fuzzing

_LEAVES = st.one_of(
    st.none(), st.booleans(), st.integers(-10**6, 10**6), st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=8), st.lists(st.integers(0, 3), max_size=3), st.dictionaries(st.text(max_size=3),
                                                                                  st.integers(), max_size=2),
)


def _paths(node: Any, prefix: str = "") -> list[str]:
    """Every key path of a document, leaves and containers (draw lists sampled, not enumerated)."""
    out = []
    if isinstance(node, dict):
        for k, v in node.items():
            p = f"{prefix}.{k}" if prefix else str(k)
            out.append(p)
            out += _paths(v, p)
    elif isinstance(node, list):
        for i, v in list(enumerate(node))[:3]:
            p = f"{prefix}.{i}"
            out.append(p)
            out += _paths(v, p)
    return out


@pytest.fixture(scope="module")
def key_paths(shipped) -> list[str]:
    return _paths(shipped)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_mutated_documents_load_or_raise_model_file_error(tmp_path, shipped, key_paths, data):
    doc = shipped
    for _ in range(data.draw(st.integers(1, 3))):
        path = data.draw(st.sampled_from(key_paths))
        value = data.draw(st.one_of(_LEAVES, st.just(_DEL)))
        try:
            doc = _set(doc, path, value)
        except (KeyError, IndexError, TypeError):  # an earlier mutation removed or replaced the parent
            continue
    f = tmp_path / "mutated.json"
    f.write_text(json.dumps(doc), encoding="utf-8")
    try:
        model = load_model(f)
    except ModelFileError as exc:
        assert "model file" in str(exc) or "mutated.json" in str(exc)
    else:  # a valid model predicts finite probabilities (or says plainly it has no ASM curve)
        try:
            s = model.predict_survival_function({"age": 60, "sex": "M", "who_subtype": "ASM"}, [12.0])
        except CalibrationError:
            return
        assert np.isfinite(s.to_numpy()).all()

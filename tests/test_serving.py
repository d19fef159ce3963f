"""`python -m automl serve` as users run it: a real uvicorn server, a real httpx client."""

from __future__ import annotations

import json
import math
import time

import numpy as np
import pytest
from prometheus_client.parser import text_string_to_metric_families
from serving_fixtures import start_server
from sklearn.datasets import load_breast_cancer, load_diabetes, load_digits

from automl.results.predictor import load_best


def metrics(server) -> dict[tuple[str, tuple], float]:
    """Every sample of /metrics, parsed by prometheus-client: (name, labels) -> value."""
    text = server.client.get("/metrics").text
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def sample(values: dict, name: str, **labels: str) -> float:
    return values.get((name, tuple(sorted(labels.items()))), 0.0)


def test_predictions_equal_load_best_in_every_request_form(xgb_server, xgb_run):
    predictor = load_best(xgb_run)
    bunch = load_breast_cancer()
    x = bunch.data[:40]
    names = [str(n) for n in bunch.feature_names]
    expected = predictor.predict_labels(x)
    proba = predictor.predict_proba(x)
    assert set(expected) == {"malignant", "benign"}  # both classes are exercised

    lists = xgb_server.client.post("/predict", json={"instances": x.tolist()})
    assert lists.status_code == 200, lists.text
    body = lists.json()
    assert body["predictions"] == expected
    assert body["classes"] == ["malignant", "benign"]
    np.testing.assert_allclose(body["probabilities"], proba, rtol=1e-6)
    assert body["class_ids"] == predictor.predict(x).tolist()

    objects = [dict(zip(names, row, strict=True)) for row in x.tolist()]
    keyed = xgb_server.client.post("/invocations", json={"instances": objects})
    assert keyed.json()["predictions"] == expected
    split = {"dataframe_split": {"columns": names, "data": x.tolist()}}
    assert xgb_server.client.post("/invocations", json=split).json()["predictions"] == expected

    v2 = xgb_server.client.post(
        "/v2/models/xgboost-breast_cancer/infer",
        json={
            "id": "r1",
            "inputs": [
                {"name": "input", "shape": list(x.shape), "datatype": "FP64",
                 "data": x.reshape(-1).tolist()}
            ],
        },
    )  # fmt: skip
    assert v2.status_code == 200, v2.text
    outputs = {o["name"]: o for o in v2.json()["outputs"]}
    assert v2.json()["id"] == "r1"
    assert outputs["label"]["data"] == expected
    assert outputs["probabilities"]["shape"] == [40, 2]
    np.testing.assert_allclose(
        np.reshape(outputs["probabilities"]["data"], (40, 2)), proba, rtol=1e-6
    )


def test_metadata_carries_schema_and_provenance(xgb_server):
    meta = xgb_server.client.get("/metadata").json()
    assert meta["study"] == "xgboost-breast_cancer" and meta["model"] == "xgboost"
    assert isinstance(meta["trial"], int)
    assert "learning_rate" in meta["params"]
    assert 0.8 < meta["validation"]["val_acc"] <= 1 and 0.8 < meta["test"]["test_acc"] <= 1
    assert meta["versions"]["automl"] == "0.1.0" and meta["versions"]["plugin"] == "0.1.0"
    assert meta["inputs"][0]["shape"] == [-1, 30]
    assert meta["classes"] == ["malignant", "benign"]
    v2 = xgb_server.client.get("/v2/models/xgboost-breast_cancer").json()
    assert v2["platform"] == "automl-xgboost" and v2["versions"] == [str(meta["trial"])]
    assert v2["inputs"][0]["feature_names"][0] == "mean radius"
    assert xgb_server.client.get("/v2/models/other").status_code == 404
    # A path no route answers gets the same error body as every other failure.
    unknown = xgb_server.client.get("/v2/models")
    assert unknown.status_code == 404 and set(unknown.json()) == {"error"}  # no "detail"
    assert unknown.json()["error"].startswith("no such path: GET /v2/models; this server answers")
    assert "/v2/models/xgboost-breast_cancer/infer" in unknown.json()["error"]
    wrong = xgb_server.client.get("/predict")
    assert (
        wrong.status_code == 405
        and wrong.json()["error"] == "GET /predict: method not allowed here"
    )
    assert xgb_server.client.get("/v2/health/live").json() == {"live": True}


def _row(**changes):
    row = load_breast_cancer().data[0].tolist()
    for index, value in changes.items():
        row[int(index.removeprefix("f"))] = value
    return row


BAD_REQUESTS = [
    # (body, expected field, words the message must contain)
    ({"instances": [[1.0, 2.0, 3.0]]}, "instances", ["per-sample shape (3,)", "expected (30,)"]),
    ({"instances": [_row(f3="abc")]}, "instances[0][3]", ["'mean area'", "'abc'", "a number"]),
    ({"instances": [_row(f5=None)]}, "instances[0][5]", ["null", "expected a number"]),
    ({"instances": [{"mean radius": 1.0}]}, "instances[0].mean texture", ["lacks feature"]),
    ({"instances": [[1.0] * 29 + [[1.0]]]}, "instances[0]", ["different lengths"]),
    ({"instances": []}, "instances", ["empty"]),
    ({"instances": 3}, "instances", ["list of samples"]),
    ({"rows": [[1.0]]}, "instances", ['"instances"']),
    ({"instances": [[True] * 30]}, "instances[0][0]", ["True", "expected a number"]),
]


@pytest.mark.parametrize("body, field, words", BAD_REQUESTS)
def test_each_bad_input_kind_is_a_422_naming_the_field(xgb_server, body, field, words):
    response = xgb_server.client.post("/predict", json=body)
    assert response.status_code == 422, response.text
    error = response.json()
    assert error["field"].startswith(field), error
    for word in words:
        assert word in error["error"], error
    assert "Traceback" not in error["error"] and "\n" not in error["error"]


def test_nan_where_training_had_none_and_bad_json_are_422(xgb_server):
    row = json.dumps(_row()).replace("17.99", "NaN", 1)  # a JSON NaN token, as Python sends it
    body = f'{{"instances": [{row}]}}'
    nan = xgb_server.client.post("/predict", content=body)
    assert nan.status_code == 422
    assert nan.json()["field"] == "instances[0][0]"
    assert "no missing values" in nan.json()["error"]
    broken = xgb_server.client.post("/predict", content=b'{"instances": [[1, 2')
    assert broken.status_code == 422 and "not valid JSON" in broken.json()["error"]
    v2 = xgb_server.client.post(
        "/v2/models/xgboost-breast_cancer/infer",
        json={"inputs": [{"name": "input", "shape": [2, 30], "datatype": "FP32", "data": [1.0]}]},
    )
    assert v2.status_code == 422 and "shape [2, 30] needs 60" in v2.json()["error"]


def test_oversized_bodies_and_batches_are_413(xgb_server):
    row = _row()
    big = {"instances": [row] * 40_000}  # ~9 MB of JSON, over the 8 MB default
    declared = xgb_server.client.post("/predict", json=big)
    assert declared.status_code == 413 and "--max-body-mb" in declared.json()["error"]

    def chunks():  # no Content-Length: the limit must hold while the body streams in
        yield b'{"instances": ['
        for _ in range(40_000):
            yield json.dumps(row).encode() + b","
        yield b"[]]}"

    streamed = xgb_server.client.post("/predict", content=chunks())
    assert streamed.status_code == 413
    many = xgb_server.client.post("/predict", json={"instances": [row] * 1025})
    assert many.status_code == 413 and "limit is 1024" in many.json()["error"]
    # Nothing broke: the next request is answered.
    assert xgb_server.client.post("/predict", json={"instances": [row]}).status_code == 200


def test_metrics_count_requests_and_drift_moves_with_shifted_inputs(xgb_server):
    x = load_breast_cancer().data
    before = metrics(xgb_server)
    for start in range(0, 300, 30):
        ok = xgb_server.client.post("/predict", json={"instances": x[start : start + 30].tolist()})
        assert ok.status_code == 200
    bad = xgb_server.client.post("/predict", json={"instances": [[1.0]]})
    assert bad.status_code == 422
    calm = metrics(xgb_server)
    count = "automl_request_total"
    assert sample(calm, count, endpoint="/predict", http_response_code="200") - sample(
        before, count, endpoint="/predict", http_response_code="200"
    ) == 10  # fmt: skip
    assert sample(calm, count, endpoint="/predict", http_response_code="422") > sample(
        before, count, endpoint="/predict", http_response_code="422"
    )
    buckets = [
        k for k in calm if k[0] == "automl_request_duration_seconds_bucket"
        and dict(k[1]).get("endpoint") == "/predict"
    ]  # fmt: skip
    assert len(buckets) >= 10  # one per latency bucket, and per status code
    assert sample(calm, "automl_adaptive_batch_size_count") >= 10
    assert sample(calm, "automl_predictions_total", **{"class": "benign"}) > 0
    calm_score = sample(calm, "automl_drift_score")
    calm_radius = sample(calm, "automl_feature_drift_psi", feature="mean radius")
    assert calm["automl_drift_window_samples", ()] >= 300
    assert 0 <= calm_score < 0.25, calm_score  # training-like rows: stable

    shifted = x[:300].copy()
    shifted[:, 0] += 3 * x[:, 0].std()  # mean radius moves by three standard deviations
    for start in range(0, 1000, 50):
        rows = shifted[start % 300 : start % 300 + 50]
        answer = xgb_server.client.post("/predict", json={"instances": rows.tolist()})
        assert answer.status_code == 200
    moved = metrics(xgb_server)
    radius = sample(moved, "automl_feature_drift_psi", feature="mean radius")
    assert radius > 1.0 > calm_radius, (calm_radius, radius)
    assert sample(moved, "automl_feature_drift_psi", feature="mean texture") < 0.25
    assert sample(moved, "automl_drift_score") > calm_score
    info = [k for k in moved if k[0] == "automl_model_info"]
    assert dict(info[0][1])["study"] == "xgboost-breast_cancer"


@pytest.mark.heavy
def test_cnn_accepts_the_digits_own_shapes_and_refuses_others(cnn_run):
    predictor = load_best(cnn_run)
    digits = load_digits()
    expected = predictor.predict(digits.images[:20]).tolist()
    for server in start_server(cnn_run):
        for x in (digits.images[:20], digits.data[:20], digits.images[:20, None]):
            r = server.client.post("/predict", json={"instances": x.tolist()})
            assert r.status_code == 200, r.text
            assert r.json()["class_ids"] == expected
            assert np.allclose(np.sum(r.json()["probabilities"], axis=1), 1.0)
        wrong = server.client.post("/predict", json={"instances": digits.images[:2, :7].tolist()})
        assert wrong.status_code == 422
        assert "expected (1, 8, 8) (also accepted: (8, 8), (64,))" in wrong.json()["error"]
        text = server.client.post("/predict", json={"instances": [["a"] * 64]})
        assert text.status_code == 422 and text.json()["field"] == "instances[0][0]"
        drift = metrics(server)
        assert ("automl_feature_drift_psi", (("feature", "sample_mean"),)) in drift


@pytest.mark.heavy
def test_regression_values_and_their_histogram(forest_run):
    predictor = load_best(forest_run)
    x = load_diabetes().data[:25]
    expected = predictor.predict(x)
    for server in start_server(forest_run):
        r = server.client.post("/predict", json={"instances": x.tolist()})
        assert r.status_code == 200, r.text
        np.testing.assert_allclose(r.json()["predictions"], expected, rtol=1e-6)
        assert "probabilities" not in r.json()
        values = metrics(server)
        assert values["automl_prediction_value_count", ()] == 25
        bounds = [
            float(dict(k[1])["le"]) for k in values if k[0] == "automl_prediction_value_bucket"
        ]
        assert len(bounds) >= 5 and math.isinf(max(bounds))  # training target deciles + inf


def test_csv_table_checks_columns_levels_and_numbers(csv_run):
    predictor = load_best(csv_run)
    rows = [
        {"size": 12.5, "weight": 50, "color": "red"},
        {"size": "7.5", "weight": 40.0, "color": "blue", "label": "ignored"},
    ]
    expected = predictor.predict_labels(rows)
    for server in start_server(csv_run):
        ok = server.client.post("/predict", json={"instances": rows})
        assert ok.status_code == 200, ok.text
        assert ok.json()["predictions"] == expected
        as_lists = server.client.post("/predict", json={"instances": [[12.5, 50, "red"]]})
        assert as_lists.json()["predictions"] == expected[:1]
        cases = [
            ({"size": 1, "weight": 2, "color": "purple"}, "instances[0].color", "red"),
            ({"size": 1, "color": "red"}, "instances[0].weight", "lacks column"),
            ({"size": "big", "weight": 2, "color": "red"}, "instances[0].size", "a number"),
        ]
        for row, field, word in cases:
            r = server.client.post("/predict", json={"instances": [row]})
            assert r.status_code == 422, r.text
            assert r.json()["field"] == field and word in r.json()["error"]
        short = server.client.post("/predict", json={"instances": [[1.0, "red"]]})
        assert short.status_code == 422 and "expected 3" in short.json()["error"]
        per_column = {
            "inputs": [
                {"name": "size", "shape": [2], "datatype": "FP64", "data": [12.5, 7.5]},
                {"name": "weight", "shape": [2, 1], "datatype": "FP64", "data": [50, 40]},
                {"name": "color", "shape": [2], "datatype": "BYTES", "data": ["red", "blue"]},
            ]
        }
        name = server.client.get("/metadata").json()["name"]
        v2 = server.client.post(f"/v2/models/{name}/infer", json=per_column)
        assert v2.status_code == 200, v2.text
        assert v2.json()["outputs"][0]["data"] == expected
        per_column["inputs"].pop(1)
        lacking = server.client.post(f"/v2/models/{name}/infer", json=per_column)
        assert lacking.status_code == 422 and "lacks column(s) weight" in lacking.json()["error"]
        meta = server.client.get("/metadata").json()
        assert [i["name"] for i in meta["inputs"]] == ["size", "weight", "color"]
        assert meta["inputs"][2]["categories"] == ["blue", "green", "red"]


@pytest.mark.slow  # the GAN study trains its FD feature network first: over a minute
def test_a_gan_export_generates_arrays_and_png(gan_run):
    predictor = load_best(gan_run)
    expected = predictor.generate(4, label=3, seed=7)
    for server in start_server(gan_run):
        r = server.client.post("/generate", json={"n": 4, "class": 3, "seed": 7})
        assert r.status_code == 200, r.text
        assert r.json()["shape"] == [4, 1, 8, 8]
        np.testing.assert_allclose(r.json()["samples"], expected, rtol=1e-5, atol=1e-5)
        assert 0 <= expected.min() and expected.max() <= 16.5  # the digits' own pixel range
        png = server.client.post("/generate", json={"n": 9, "format": "png"})
        assert png.headers["content-type"] == "image/png"
        assert png.content.startswith(b"\x89PNG\r\n\x1a\n")
        bad = server.client.post("/generate", json={"n": 2, "class": 10})
        assert bad.status_code == 422 and bad.json()["field"] == "class"
        assert server.client.post("/generate", json={"n": "many"}).status_code == 422
        assert server.client.post("/predict", json={"instances": [[0.0]]}).status_code == 404
        assert server.client.get("/metadata").json()["task"] == "generation"


@pytest.mark.heavy
def test_several_workers_share_one_set_of_metrics(xgb_run):
    """`--workers 2`: both processes serve; /metrics (from either) counts every request."""
    rows = load_breast_cancer().data[:3].tolist()
    for server in start_server(xgb_run, "--workers", "2"):
        # Each worker loads the model itself and answers 503 until it has: readiness from
        # one worker says nothing about the other, so poll fresh connections until 20 in a
        # row (spread over both by the accept queue) say ready.
        deadline, streak = time.monotonic() + 120, 0
        while streak < 20:
            assert time.monotonic() < deadline, "both workers not ready in time"
            with type(server.client)(base_url=server.url, timeout=60) as fresh:
                streak = streak + 1 if fresh.get("/v2/health/ready").status_code == 200 else 0
        before = metrics(server)
        for _ in range(12):  # spread over both workers by the kernel's accept queue
            assert server.client.post("/predict", json={"instances": rows}).status_code == 200
            server.client.close()  # a new connection each time
            server.client = type(server.client)(base_url=server.url, timeout=60)
        after = metrics(server)
        key = ("automl_request_total", (("endpoint", "/predict"), ("http_response_code", "200")))
        assert after[key] - before.get(key, 0) == 12
        assert after["automl_adaptive_batch_size_sum", ()] >= 36

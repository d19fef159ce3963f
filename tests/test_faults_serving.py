"""Hostile inputs at the serving edges: bodies nested thousands deep, JSON's true where a number
belongs, a best/ whose files nest too deeply or whose weights file is far too large. Real
servers (`python -m automl serve`) and a real HTTP client; real `predict` processes."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import run_cli
from serving_fixtures import copy_export, free_port
from sklearn.datasets import load_breast_cancer

ROW = load_breast_cancer().data[0].tolist()


def _one_line(out) -> str:
    lines = out.stderr.strip().splitlines()
    assert out.returncode == 2 and len(lines) == 1, (out.returncode, out.stderr[-3000:])
    assert lines[0].startswith("automl: error: ") and "Traceback" not in out.stderr
    return lines[0]


@pytest.mark.heavy
def test_a_body_nested_thousands_deep_is_a_422_and_the_server_goes_on(xgb_server):
    for depth in (3000, 900):  # past Python's parser; parsed, but no batch of samples
        body = '{"instances": ' + "[" * depth + "1.0" + "]" * depth + "}"
        response = xgb_server.client.post("/predict", content=body)
        assert response.status_code == 422, (depth, response.text[:300])
        assert "nest" in response.json()["error"] and "\n" not in response.json()["error"]
    v2 = xgb_server.client.post(
        "/v2/models/xgboost-breast_cancer/infer",
        content='{"inputs": ' + "[" * 3000 + "]" * 3000 + "}",
    )
    assert v2.status_code == 422, v2.text[:300]
    assert xgb_server.client.post("/predict", json={"instances": [ROW]}).status_code == 200


def test_true_is_not_a_number_in_any_request_form(xgb_server):
    mixed = [True, *ROW[1:]]
    response = xgb_server.client.post("/predict", json={"instances": [ROW, mixed]})
    assert response.status_code == 422, response.text
    assert response.json()["field"] == "instances[1][0]"
    assert "True" in response.json()["error"] and "expected a number" in response.json()["error"]
    names = load_breast_cancer().feature_names
    keyed = {str(n): v for n, v in zip(names, ROW, strict=True)} | {"mean area": False}
    response = xgb_server.client.post("/invocations", json={"instances": [keyed]})
    assert response.status_code == 422 and response.json()["field"] == "instances[0][3]"
    tensor = {"name": "input", "shape": [1, 30], "datatype": "FP64", "data": mixed}
    v2 = xgb_server.client.post("/v2/models/xgboost-breast_cancer/infer", json={"inputs": [tensor]})
    assert v2.status_code == 422 and "true/false" in v2.json()["error"], v2.text


@pytest.mark.heavy
def test_a_deeply_nested_model_card_is_one_line_in_predict_and_serve(xgb_run, tmp_path):
    best = copy_export(xgb_run, tmp_path / "card")
    (best / "model_card.json").write_text('{"params": ' + "[" * 5000 + "]" * 5000 + "}")
    rows = tmp_path / "rows.npy"
    np.save(rows, np.asarray([ROW]))
    out = run_cli(["predict", str(best), str(rows), "-o", str(tmp_path / "p.csv")], tmp_path)
    assert "model_card.json nests its JSON too deeply" in _one_line(out)
    served = run_cli(["serve", str(best), "--port", str(free_port())], tmp_path, timeout=120)
    assert "model_card.json nests its JSON too deeply" in _one_line(served)
    # config.yaml is read by the YAML parser: nested deeply, it is refused in one line too.
    nested = copy_export(xgb_run, tmp_path / "config")
    config = (nested / "config.yaml").read_text()
    (nested / "config.yaml").write_text(config + "deep: " + "[" * 5000 + "]" * 5000 + "\n")
    out = run_cli(["predict", str(nested), str(rows), "-o", str(tmp_path / "q.csv")], tmp_path)
    assert "config.yaml" in _one_line(out)


@pytest.mark.heavy
def test_a_model_pt_far_larger_than_the_model_is_refused_unread(cnn_run, tmp_path):
    best = copy_export(cnn_run, tmp_path / "big")
    weights = best / "model.pt"
    with open(weights, "ab") as f:  # a planted file: the real weights and 64 MiB more
        f.truncate(weights.stat().st_size + 64 * 2**20)
    line = _one_line(run_cli(["serve", str(best), "--port", str(free_port())], tmp_path))
    assert f"is {weights.stat().st_size} bytes, but this model's weights take" in line


@pytest.mark.heavy
def test_a_pickle_as_model_pt_is_refused_without_torchs_advice(cnn_run, tmp_path):
    import os
    import pickle

    class Payload:
        def __reduce__(self):
            return (os.system, (f"touch {tmp_path / 'pwned'}",))

    best = copy_export(cnn_run, tmp_path / "pickle")
    (best / "model.pt").write_bytes(pickle.dumps(Payload()))
    rows = tmp_path / "rows.npy"
    np.save(rows, np.zeros((1, 1, 8, 8)))
    out = run_cli(["predict", str(best), str(rows), "-o", str(tmp_path / "p.csv")], tmp_path)
    line = _one_line(out)
    assert "never unpickles" in line and "weights_only" not in line and "succeed" not in line
    assert not (tmp_path / "pwned").exists()

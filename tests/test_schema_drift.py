"""Input schema validation and PSI drift, unit by unit (no training, no server)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from automl.core.errors import ExportError, InputError
from automl.core.plugin import DataSpec
from automl.results.drift import MIN_SAMPLES, DriftMonitor, DriftReference
from automl.results.input_validation import validate_inputs
from automl.results.schema import InputSchema


def spec(shape, names=None, task="classification"):
    return DataSpec("d", task, tuple(shape), 3, 1, tuple(names) if names else None)


def test_an_image_schema_accepts_its_own_and_the_datas_familiar_shapes():
    schema = InputSchema.build(spec((1, 8, 8)), {})
    assert schema.accepted == ((1, 8, 8), (8, 8), (64,))
    x = np.arange(2 * 64, dtype=float).reshape(2, 8, 8)
    for form in (x, x[:, None], x.reshape(2, 64), x.tolist()):
        out = validate_inputs(schema, form)
        assert out.shape == (2, 1, 8, 8) and np.array_equal(out[:, 0], x)
    with pytest.raises(InputError, match=r"per-sample shape \(8, 7\); expected \(1, 8, 8\)"):
        validate_inputs(schema, x[:, :, :7])
    with pytest.raises(InputError, match="single sample must still be wrapped"):
        validate_inputs(schema, x[0])


def test_a_layout_schema_passes_the_models_shape_through_unchanged():
    steps = {"steps": [{"kind": "layout", "stored": [8, 8, 3], "shape": [3, 8, 8],
                        "transpose": [2, 0, 1]}]}  # fmt: skip
    schema = InputSchema.build(spec((3, 8, 8)), steps)
    assert schema.accepted == ((8, 8, 3), (3, 8, 8))
    chw = np.random.default_rng(0).normal(size=(2, 3, 8, 8))
    assert np.array_equal(validate_inputs(schema, chw), chw)  # not reshaped into (8, 8, 3)
    hwc = chw.transpose(0, 2, 3, 1)
    assert np.array_equal(validate_inputs(schema, hwc), hwc)


def test_named_rows_and_nan_only_where_training_had_it():
    schema = InputSchema.build(spec((3,), ["a", "b", "c"]), {}, nan_allowed=[False, True, False])
    out = validate_inputs(schema, [{"c": 3, "a": 1, "b": float("nan")}, [4, 5, 6]])
    assert out[0, 0] == 1 and math.isnan(out[0, 1]) and out[1, 2] == 6
    with pytest.raises(InputError, match=r"\[0\]\[2\] \('c'\) is nan; the training data had no"):
        validate_inputs(schema, [[1, 2, float("nan")]])
    with pytest.raises(InputError, match="expected a finite number") as err:
        validate_inputs(schema, [[1, float("inf"), 2]])
    assert err.value.field == "instances[0][1]"
    with pytest.raises(InputError, match="unknown feature"):
        validate_inputs(schema, [{"a": 1, "b": 2, "c": 3, "d": 4}])
    with pytest.raises(InputError, match="lacks feature"):
        validate_inputs(schema, [{"a": 1}])


def test_table_rows_check_columns_numbers_and_levels():
    step = {"kind": "tabular", "columns": [
        {"name": "age", "type": "numeric", "fill": 30.0},
        {"name": "city", "type": "categorical", "categories": ["Lyon", "Paris"], "fill": "Lyon"},
    ], "encoding": "onehot", "missing": "error", "na_values": ["", "NA"],
        "feature_names": ["age", "city=Lyon", "city=Paris"]}  # fmt: skip
    schema = InputSchema.build(spec((3,)), {"steps": [step]})
    assert schema.form == "table" and schema.input_names() == ["age", "city"]
    assert validate_inputs(schema, [{"age": "41", "city": " Paris ", "target": 1}]) == [
        ["41", " Paris "]
    ]
    cases = [
        ([{"age": 1, "city": "Rome"}], "instances[0].city", "not a level seen in training"),
        ([{"age": 1}], "instances[0].city", "lacks column"),
        ([{"age": "old", "city": "Lyon"}], "instances[0].age", "expected a number"),
        ([{"age": "NA", "city": "Lyon"}], "instances[0].age", "data.missing=error"),
        ([[1, "Lyon", 3]], "instances[0]", "has 3 cells; expected 2"),
    ]
    for rows, field, words in cases:
        with pytest.raises(InputError, match=words) as err:
            validate_inputs(schema, rows)
        assert err.value.field == field


def test_a_schema_file_is_checked_before_use():
    schema = InputSchema.build(spec((1, 8, 8)), {"classes": ["a", "b", "c"]})
    assert InputSchema.from_json(schema.to_json()) == schema
    broken = [
        {**schema.to_json(), "format": 9},
        {**schema.to_json(), "accepted": [[1, 8, 8], [9]]},
        {**schema.to_json(), "form": "movie"},
        {**schema.to_json(), "shape": [100000, 100000, 3]},
        {**schema.to_json(), "shape": "big"},
    ]
    for data in broken:
        with pytest.raises(ExportError, match="re-export the model"):
            InputSchema.from_json(data)


def test_psi_is_small_for_the_training_distribution_and_large_for_a_shift():
    rng = np.random.default_rng(0)
    reference = DriftReference.fit(rng.normal(size=(3000, 2)), ["x", "y"])
    monitor = DriftMonitor(reference, window=1000)
    monitor.add(rng.normal(size=(MIN_SAMPLES - 1, 2)))
    assert all(math.isnan(v) for v in monitor.psi())  # too few rows to say anything
    monitor.add(rng.normal(size=(900, 2)))
    calm = monitor.psi()
    assert max(calm) < 0.05 and monitor.samples == 999
    shifted = rng.normal(size=(1000, 2)) + [1.5, 0.0]
    monitor.add(shifted)
    moved = monitor.psi()
    assert moved[0] > 0.5 and moved[1] < 0.05 and monitor.samples == 1000
    monitor.add(rng.normal(size=(1000, 2)))  # the window slides: the shift leaves it
    assert max(monitor.psi()) < 0.05


def test_images_are_summarized_and_drift_files_are_checked():
    rng = np.random.default_rng(1)
    reference = DriftReference.fit(rng.uniform(0, 1, size=(500, 1, 8, 8)))
    assert reference.names == ("sample_mean", "sample_std", "sample_min", "sample_max")
    monitor = DriftMonitor(reference, window=200)
    monitor.add(rng.uniform(0, 1, size=(200, 1, 8, 8)) * 0.5)  # darker, less contrast
    psi = dict(zip(reference.names, monitor.psi(), strict=True))
    assert psi["sample_mean"] > 1 and psi["sample_max"] > 1
    data = reference.to_json()
    assert DriftReference.from_json(data).names == reference.names
    data["features"][0]["edges"] = [3.0, 1.0]
    with pytest.raises(ValueError, match="increasing"):
        DriftReference.from_json(data)

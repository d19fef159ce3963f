"""Data plugins for the user's own files: npz, csv and image folders.

Every test writes small real files into ``tmp_path`` (good and broken ones) and goes through
the same functions the CLI uses; the end-to-end tests run ``python -m automl`` in a subprocess.
"""

from __future__ import annotations

import csv
import json
import re
import subprocess
import sys
from pathlib import Path

import helpers
import numpy as np
import pytest
from PIL import Image

import automl.data.preprocess as preprocess_mod
import automl.data.split as split_mod
from automl.core.errors import DataError
from automl.core.registry import discover_data
from automl.data import DataConfig, RawData, clear_cache, load_dataset
from automl.data.images import IMAGES, ImagesConfig
from automl.data.npz import NPZ, NpzConfig, load_npz
from automl.data.preprocess import apply_preprocessing, fit_standardizer
from automl.data.split import make_dataset, split_indices
from automl.data.table import CSV, CsvConfig, load_csv, read_rows

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _fresh_cache():
    clear_cache()
    yield
    clear_cache()


def load(plugin, cfg):
    """What the study does: the plugin's loader, then split + preprocessing (cached)."""
    return load_dataset(plugin, cfg)


def write_csv(path: Path, header: list[str], rows: list[list[object]]) -> Path:
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def class_csv(path: Path, n: int = 60, seed: int = 0) -> Path:
    """Numeric ``x1``/``x2``, categorical ``color``, text ``label`` that depends on them."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        label = ("cat", "dog", "fox")[i % 3]
        rows.append(
            [f"{rng.normal(i % 3, 0.3):.3f}", f"{rng.normal():.3f}", ("red", "blue")[i % 2], label]
        )
    return write_csv(path, ["x1", "x2", "color", "label"], rows)


def make_images(root: Path, classes: dict[str, int], mode: str = "RGB", size=(10, 12)) -> Path:
    """``root/<class>/<i>.png|jpg``: noise around a per-class brightness."""
    rng = np.random.default_rng(0)
    for k, (name, count) in enumerate(classes.items()):
        folder = root / name
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(count):
            shape = (size[1], size[0]) if mode == "L" else (size[1], size[0], 3)
            pixels = np.clip(rng.normal(60 + 120 * k, 20, size=shape), 0, 255).astype(np.uint8)
            Image.fromarray(pixels, mode=None).convert(mode).save(
                folder / f"{i}.{'png' if i % 2 else 'jpg'}"
            )
    return root


# --------------------------------------------------------------------------- registration


def test_file_plugins_are_registered_entry_points():
    registry = discover_data()
    for name in ("npz", "csv", "images", "digits", "breast_cancer", "wine"):
        assert name in registry.plugins, registry.failures
    for name in ("npz", "csv", "images"):
        assert issubclass(registry.get(name).config, DataConfig)


def test_listing_plugins_imports_no_torch_or_pillow():
    code = (
        "import sys, io, contextlib\n"
        "from automl.__main__ import main\n"
        "with contextlib.redirect_stdout(io.StringIO()): main(['plugins'])\n"
        "print(sorted(m for m in ('torch', 'PIL', 'sklearn') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# --------------------------------------------------------------------------- npz


def test_npz_flat_vectors_are_memory_mapped_and_split(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(90, 5)).astype(np.float32)
    y = np.repeat([0, 1, 2], 30)
    np.savez(tmp_path / "d.npz", x=x, y=y)
    raw = load_npz(NpzConfig(path=str(tmp_path / "d.npz")))
    assert isinstance(raw.x, np.memmap)  # mapped inside the zip, not read
    np.testing.assert_array_equal(np.asarray(raw.x), x)
    data = load(NPZ, NpzConfig(path=str(tmp_path / "d.npz")))
    assert data.spec.input_shape == (5,) and data.spec.n_classes == 3
    assert data.spec.task == "classification"
    assert len(data.train) + len(data.val) + len(data.test) == 90
    # Stratified: every class in every split.
    for part in (data.train, data.val, data.test):
        assert set(part.y.tolist()) == {0, 1, 2}
    # Standardized with training statistics only.
    assert abs(float(data.train.x.mean())) < 1e-5
    assert not isinstance(data.train.x, np.memmap)


@pytest.mark.parametrize("dtype", ["float64", "uint8", "int16"])
@pytest.mark.parametrize("order", ["C", "F"])
def test_npz_member_mapping_reads_what_numpy_saved(tmp_path, dtype, order):
    rng = np.random.default_rng(1)
    x = np.asarray(rng.integers(0, 200, size=(40, 3, 4)), dtype=dtype, order=order)
    np.savez(tmp_path / "d.npz", y=np.arange(40) % 2, x=x)  # x is not the first member
    raw = load_npz(NpzConfig(path=str(tmp_path / "d.npz"), layout="sequence"))
    assert isinstance(raw.x, np.memmap)
    np.testing.assert_array_equal(np.asarray(raw.x), x)
    assert raw.x.dtype == x.dtype


def test_npz_compressed_is_read_once_and_gives_the_same_dataset(tmp_path):
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(60, 4)).astype(np.float32), np.arange(60) % 2
    np.savez(tmp_path / "plain.npz", x=x, y=y)
    np.savez_compressed(tmp_path / "packed.npz", x=x, y=y)
    raw = load_npz(NpzConfig(path=str(tmp_path / "packed.npz")))
    assert not isinstance(raw.x, np.memmap)
    a = load(NPZ, NpzConfig(path=str(tmp_path / "plain.npz")))
    b = load(NPZ, NpzConfig(path=str(tmp_path / "packed.npz")))
    c = load(NPZ, NpzConfig(path=str(tmp_path / "plain.npz"), mmap=False))
    for other in (b, c):
        np.testing.assert_array_equal(a.train.x, other.train.x)
        np.testing.assert_array_equal(a.test.y, other.test.y)


def test_npy_folder_is_memory_mapped(tmp_path):
    x, y = np.arange(80, dtype=np.float32).reshape(20, 4), np.arange(20) % 2
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", y)
    raw = load_npz(NpzConfig(path=str(tmp_path)))
    assert isinstance(raw.x, np.memmap)
    np.testing.assert_array_equal(np.asarray(raw.x), x)


def test_npz_layouts_give_the_per_sample_shapes_models_expect(tmp_path):
    rng = np.random.default_rng(3)
    y = np.arange(30) % 2
    cases = {
        # layout, stored per-sample shape, expected shape
        "image_hw": ("image", (6, 7), (1, 6, 7)),
        "image_hwc": ("image", (6, 7, 3), (3, 6, 7)),
        "image_chw": ("image", (3, 6, 7), (3, 6, 7)),
        "signal": ("signal", (16,), (1, 16)),
        "sequence": ("sequence", (5, 4), (5, 4)),
        "flat": ("flat", (2, 3, 4), (24,)),
        # auto: only what the shape settles (automl.data.npz.auto_layout)
        "auto_vector": ("auto", (5,), (5,)),
        "auto_chw": ("auto", (3, 6, 7), (3, 6, 7)),
        "auto_hwc": ("auto", (6, 7, 3), (3, 6, 7)),
        "auto_many_channels": ("auto", (10, 6, 7), (10, 6, 7)),
    }
    for name, (layout, stored, expected) in cases.items():
        x = rng.normal(size=(30, *stored)).astype(np.float32)
        np.savez(tmp_path / f"{name}.npz", x=x, y=y)
        cfg = NpzConfig(path=str(tmp_path / f"{name}.npz"), layout=layout, normalize=False)
        data = load(NPZ, cfg)
        assert data.spec.input_shape == expected, name
        if name in (
            "image_hwc",
            "auto_hwc",
        ):  # channels really moved: pixel (h=1, w=2, c=0) -> (0, 1, 2)
            raw = load_npz(cfg)
            np.testing.assert_array_equal(np.asarray(raw.x)[:, 0, 1, 2], x[:, 1, 2, 0])
            # Prediction takes the stored shape too and turns it the same way.
            stored_in = apply_preprocessing(x[:3], data.preprocessing)
            np.testing.assert_array_equal(stored_in, np.asarray(raw.x)[:3])


@pytest.mark.parametrize(
    ("stored", "message"),
    [
        # what used to become a Conv1d over 8 channels in a cnn, silently
        ((8, 8), "cannot tell what samples of shape (8, 8) are: a 8 x 8 image (data.layout=image)"),
        ((5, 4), "5 steps of 4 features (data.layout=sequence)"),
        ((3, 6, 3), "cannot tell whether samples of shape (3, 6, 3) are C x H x W or H x W x C"),
    ],
)
def test_npz_auto_layout_refuses_to_guess_ambiguous_samples(tmp_path, stored, message):
    np.savez(tmp_path / "d.npz", x=np.zeros((6, *stored), np.float32), y=np.arange(6) % 2)
    with pytest.raises(DataError) as info:
        load_npz(NpzConfig(path=str(tmp_path / "d.npz")))
    assert message in str(info.value) and "\n" not in str(info.value)
    assert str(tmp_path / "d.npz") in str(info.value)


def test_npz_given_test_split_is_respected(tmp_path):
    rng = np.random.default_rng(4)
    x, y = rng.normal(size=(50, 3)).astype(np.float32), np.arange(50) % 2
    x_test, y_test = rng.normal(size=(7, 3)).astype(np.float32), np.array([1, 0, 1, 1, 0, 0, 1])
    np.savez(tmp_path / "d.npz", x_train=x, y_train=y, x_test=x_test, y_test=y_test)
    data = load(NPZ, NpzConfig(path=str(tmp_path / "d.npz"), normalize=False))
    np.testing.assert_array_equal(data.test.x, x_test)
    np.testing.assert_array_equal(data.test.y, y_test)
    assert len(data.train) + len(data.val) == 50


def test_npz_task_inferred_and_overridable(tmp_path):
    rng = np.random.default_rng(5)
    x = rng.normal(size=(60, 2)).astype(np.float32)
    np.savez(tmp_path / "reg.npz", x=x, y=rng.normal(size=60))
    np.savez(tmp_path / "cls.npz", x=x, y=np.arange(60) % 3)
    np.savez(tmp_path / "txt.npz", x=x, y=np.array(["a", "b"] * 30))
    assert load(NPZ, NpzConfig(path=str(tmp_path / "reg.npz"))).spec.task == "regression"
    assert load(NPZ, NpzConfig(path=str(tmp_path / "cls.npz"))).spec.task == "classification"
    txt = load(NPZ, NpzConfig(path=str(tmp_path / "txt.npz")))
    assert txt.preprocessing["classes"] == ["a", "b"]
    forced = load(NPZ, NpzConfig(path=str(tmp_path / "cls.npz"), task="regression"))
    assert forced.spec.task == "regression" and forced.train.y.dtype == np.float32


def test_block_reads_match_plain_indexing(tmp_path, monkeypatch):
    """Splits assembled block by block equal ``x[idx]``, even with many tiny blocks."""
    monkeypatch.setattr(split_mod, "CHUNK_BYTES", 64)  # 1-2 rows per block
    monkeypatch.setattr(preprocess_mod, "CHUNK_BYTES", 64)
    rng = np.random.default_rng(6)
    x, y = rng.normal(size=(101, 2, 3)), np.arange(101) % 3
    np.savez(tmp_path / "d.npz", x=x, y=y)
    cfg = NpzConfig(path=str(tmp_path / "d.npz"), normalize=True, layout="sequence")
    data = load(NPZ, cfg)
    train, val, test = split_indices(y, cfg, True, False)
    x32 = x.astype(np.float32)
    mean, std = x32[train].mean(dtype=np.float64), x32[train].std(dtype=np.float64)
    np.testing.assert_allclose(data.train.x, (x32[train] - mean) / std, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(data.test.x, (x32[test] - mean) / std, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(data.val.y, y[val])


def test_chunked_statistics_equal_numpy(monkeypatch):
    monkeypatch.setattr(preprocess_mod, "CHUNK_BYTES", 100)
    rng = np.random.default_rng(7)
    table = rng.normal(5, 3, size=(333, 4)).astype(np.float32)
    stats = fit_standardizer(table)
    np.testing.assert_allclose(stats["mean"], table.mean(axis=0, dtype=np.float64), rtol=1e-6)
    np.testing.assert_allclose(stats["std"], table.std(axis=0, dtype=np.float64), rtol=1e-6)
    images = rng.normal(100, 20, size=(50, 1, 5, 5)).astype(np.float32)
    stats = fit_standardizer(images)
    assert stats["mean"][0] == pytest.approx(float(images.mean(dtype=np.float64)), rel=1e-6)
    assert stats["std"][0] == pytest.approx(float(images.std(dtype=np.float64)), rel=1e-6)


def test_builtin_digits_splits_unchanged():
    """The built-ins keep the exact split they had (sklearn's split of x, y directly)."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    from automl.data.builtin import DIGITS, DigitsConfig

    data = load(DIGITS, DigitsConfig())
    bunch = load_digits()
    _, _, y_rest, y_test = train_test_split(
        bunch.images, bunch.target, test_size=0.2, random_state=0, stratify=bunch.target
    )
    np.testing.assert_array_equal(data.test.y, y_test)
    assert data.spec.input_shape == (1, 8, 8) and data.spec.n_classes == 10


# --------------------------------------------------------------------------- csv


def test_csv_numeric_and_categorical_columns_are_encoded(tmp_path):
    path = class_csv(tmp_path / "t.csv")
    data = load(CSV, CsvConfig(path=str(path), target="label"))
    assert data.spec.task == "classification" and data.spec.n_classes == 3
    assert data.spec.feature_names == ("x1", "x2", "color=blue", "color=red")
    assert data.spec.input_shape == (4,)
    assert data.preprocessing["classes"] == ["cat", "dog", "fox"]
    ordinal = load(CSV, CsvConfig(path=str(path), target="label", encoding="ordinal"))
    assert ordinal.spec.feature_names == ("x1", "x2", "color")


def test_csv_encoding_is_fitted_on_the_training_split_only(tmp_path):
    train = class_csv(tmp_path / "train.csv", n=60)
    # The given test file has a category and magnitudes the training file never shows.
    test = write_csv(
        tmp_path / "test.csv",
        ["x1", "x2", "color", "label"],
        [["1000", "", "green", "cat"], ["2000", "5", "", "dog"], ["", "7", "red", "fox"]],
    )
    cfg = CsvConfig(path=str(train), target="label", test_path=str(test), normalize=False)
    data = load(CSV, cfg)
    tab = data.preprocessing["steps"][0]
    assert tab["kind"] == "tabular"
    color = tab["columns"][2]
    assert color["categories"] == ["blue", "red"]  # 'green' only in the test file
    # The median is the training split's (the given test rows do not move it).
    raw = load_csv(cfg)
    train_idx, _, _ = split_indices(raw.y, cfg, True, True)
    x1 = np.asarray([float(v) for v in raw.x[train_idx, 0]])
    assert tab["columns"][0]["fill"] == pytest.approx(float(np.median(x1)))
    # Test rows: unknown category -> all zeros; missing numbers -> training median.
    np.testing.assert_array_equal(data.test.x[0, 2:], [0.0, 0.0])
    assert data.test.x[2, 0] == pytest.approx(tab["columns"][0]["fill"])
    assert data.test.x[0, 1] == pytest.approx(tab["columns"][1]["fill"])
    np.testing.assert_array_equal(data.test.y, [0, 1, 2])


def test_csv_preprocessing_round_trips_through_json_for_raw_rows(tmp_path):
    train = class_csv(tmp_path / "train.csv", n=60)
    test = class_csv(tmp_path / "test.csv", n=9, seed=3)
    data = load(CSV, CsvConfig(path=str(train), target="label", test_path=str(test)))
    saved = json.loads(json.dumps(data.preprocessing))  # what best/preprocessing.json holds
    rows = read_rows(test)  # dicts, target column included (ignored)
    np.testing.assert_allclose(apply_preprocessing(rows, saved), data.test.x, rtol=1e-6)
    as_lists = [[r["x1"], r["x2"], r["color"]] for r in rows]
    np.testing.assert_allclose(apply_preprocessing(as_lists, saved), data.test.x, rtol=1e-6)
    with pytest.raises(DataError, match="trained on 3 columns"):
        apply_preprocessing([["1", "2"]], saved)


def test_csv_missing_value_policies(tmp_path):
    rows = [
        [f"{i % 3 + 0.1 * i}", "a" if i % 2 else "b", "yes" if i % 2 else "no"] for i in range(30)
    ]
    rows[4][0] = ""  # missing number
    rows[7][1] = "NA"  # missing category
    rows[9][0] = "inf"  # not finite: counts as missing
    path = write_csv(tmp_path / "m.csv", ["num", "cat", "label"], rows)
    imputed = load(CSV, CsvConfig(path=str(path), target="label", normalize=False))
    assert len(imputed.train) + len(imputed.val) + len(imputed.test) == 30
    assert np.isfinite(imputed.train.x).all()
    dropped = load(CSV, CsvConfig(path=str(path), target="label", missing="drop"))
    assert len(dropped.train) + len(dropped.val) + len(dropped.test) == 27
    with pytest.raises(DataError, match=r"column 'num' is missing or not finite at line 6"):
        load_csv(CsvConfig(path=str(path), target="label", missing="error"))


def test_csv_impute_fills_training_median_and_most_frequent(tmp_path):
    rows = [["1", "a", "x"], ["2", "a", "y"], ["3", "b", "x"], ["", "", "y"]] * 6
    path = write_csv(tmp_path / "f.csv", ["n", "c", "label"], rows)
    data = load(CSV, CsvConfig(path=str(path), target="label", normalize=False))
    step = data.preprocessing["steps"][0]
    out = apply_preprocessing([{"n": "", "c": ""}], data.preprocessing)
    assert out[0, 0] == step["columns"][0]["fill"] == 2.0
    assert step["columns"][1]["fill"] == "a"
    np.testing.assert_array_equal(out[0, 1:], [1.0, 0.0])  # c=a, c=b


def test_csv_task_inference_and_override(tmp_path):
    rng = np.random.default_rng(8)
    rows = [[f"{rng.normal():.3f}", f"{rng.normal() * 10:.4f}", str(i % 4)] for i in range(80)]
    path = write_csv(tmp_path / "t.csv", ["f", "value", "grade"], rows)
    assert load(CSV, CsvConfig(path=str(path), target="value")).spec.task == "regression"
    graded = load(CSV, CsvConfig(path=str(path), target="grade"))
    assert graded.spec.task == "classification" and graded.spec.n_classes == 4
    assert graded.preprocessing["classes"] == ["0", "1", "2", "3"]
    forced = load(CSV, CsvConfig(path=str(path), target="grade", task="regression"))
    assert forced.spec.task == "regression"
    with pytest.raises(DataError, match="needs numeric targets"):
        text = class_csv(tmp_path / "c.csv")
        load_csv(CsvConfig(path=str(text), target="label", task="regression"))


def test_csv_regression_end_to_end_data(tmp_path):
    rows = [[str(i), str(i * 0.5 + 0.25)] for i in range(40)]
    path = write_csv(tmp_path / "r.csv", ["x", "y"], rows)
    # x numbers the rows (all different, increasing), so it is taken for an identifier
    with pytest.raises(DataError, match=r"no feature columns left .* identifier\(s\) x; name"):
        load(CSV, CsvConfig(path=str(path), target="y"))
    data = load(CSV, CsvConfig(path=str(path), target="y", keep=["x"]))
    assert data.spec.task == "regression" and data.spec.n_classes is None
    assert data.train.y.dtype == np.float32 and "classes" not in data.preprocessing


def test_csv_with_very_many_columns(tmp_path):
    """Wide tables: the header checks are linear (the duplicate check used list.count per
    column: 10^5 columns took about 190 s and 10^6 never finished; here 2 x 10^5 and 2 x 10^4
    columns load in about a second, data.max_columns raised to let them in), and messages list
    a few columns, not all."""
    n = 200_000
    names = [f"c{i}" for i in range(n)]
    wide = tmp_path / "wide.csv"
    wide.write_text(",".join([*names, "c123456"]) + "\n" + ",".join(["1"] * (n + 1)) + "\n")
    with pytest.raises(DataError) as info:
        load_csv(CsvConfig(path=str(wide), target="label", max_columns=n + 1))
    assert str(info.value).endswith("has duplicate column name(s) c123456; rename them")
    wide.write_text(",".join(names) + "\n" + ",".join(["1"] * n) + "\n")
    with pytest.raises(DataError) as info:
        load_csv(CsvConfig(path=str(wide), target="label", max_columns=n))
    message = str(info.value)
    assert f"c19, ... ({n} in all): set data.target" in message and len(message) < 400

    n = 20_000
    rng = np.random.default_rng(3)
    cells = rng.integers(0, 9, size=(8, n))
    header = [f"f{i}" for i in range(n)]
    # The target is the next-to-last column; f0 is dropped.
    rows = [[*map(str, row[:-1]), "ab"[i % 2], str(row[-1])] for i, row in enumerate(cells)]
    table = write_csv(tmp_path / "table.csv", [*header[:-1], "label", header[-1]], rows)
    raw = load_csv(CsvConfig(path=str(table), target="label", drop=["f0"], max_columns=n + 1))
    assert raw.feature_names == tuple(header[1:])  # the file's order, around the target
    assert raw.x.shape == (8, n - 1) and list(raw.y) == [0, 1] * 4
    np.testing.assert_array_equal(raw.x[:, -1].astype(int), cells[:, -1])
    np.testing.assert_array_equal(raw.x[:, 0].astype(int), cells[:, 1])


# --------------------------------------------------------------------------- images


def test_image_folder_rgb_resized_with_classes(tmp_path):
    root = make_images(tmp_path / "imgs", {"cat": 9, "dog": 9})
    data = load(IMAGES, ImagesConfig(path=str(root), size=8))
    assert data.spec.input_shape == (3, 8, 8) and data.spec.n_classes == 2
    assert data.preprocessing["classes"] == ["cat", "dog"]
    assert data.augment == {}


def test_image_folder_grey_detected_or_forced(tmp_path):
    root = make_images(tmp_path / "g", {"a": 6, "b": 6}, mode="L")
    assert load(IMAGES, ImagesConfig(path=str(root), size=5)).spec.input_shape == (1, 5, 5)
    forced = load(IMAGES, ImagesConfig(path=str(root), size=5, channels=3))
    assert forced.spec.input_shape == (3, 5, 5)


def test_image_folder_given_test_split_and_prediction_from_paths(tmp_path):
    make_images(tmp_path / "d" / "train", {"a": 6, "b": 6})
    make_images(tmp_path / "d" / "test", {"a": 2, "b": 3})
    data = load(IMAGES, ImagesConfig(path=str(tmp_path / "d"), size=6, augment=True))
    assert len(data.test) == 5 and data.test.y.tolist() == [0, 0, 1, 1, 1]
    assert data.augment == {"flip": True, "crop_padding": 4}
    # Raw file paths in -> exactly the test inputs the model was evaluated on.
    files = sorted((tmp_path / "d" / "test" / "a").iterdir()) + sorted(
        (tmp_path / "d" / "test" / "b").iterdir()
    )
    saved = json.loads(json.dumps(data.preprocessing))
    np.testing.assert_allclose(apply_preprocessing([str(f) for f in files], saved), data.test.x)


def test_batch_augment_crops_and_flips_only_training_batches():
    import torch

    from automl.backends.supervised import BatchAugment, TensorBatches, make_augment

    x = torch.arange(4 * 1 * 3 * 3, dtype=torch.float32).reshape(4, 1, 3, 3)
    flipped = BatchAugment(flip=True, crop_padding=0, seed=1)(x)
    kept = [torch.equal(a, b) for a, b in zip(flipped, x, strict=True)]
    mirrored = [torch.equal(a, b.flip(-1)) for a, b in zip(flipped, x, strict=True)]
    assert all(k or m for k, m in zip(kept, mirrored, strict=True))
    assert any(kept) and any(mirrored)  # a random half, not all or nothing
    cropped = BatchAugment(flip=False, crop_padding=1, seed=0)(x)
    padded = torch.nn.functional.pad(x, (1, 1, 1, 1))
    for i in range(4):
        shifts = [padded[i, :, r : r + 3, c : c + 3] for r in range(3) for c in range(3)]
        assert any(torch.equal(cropped[i], s) for s in shifts)
    assert make_augment({}) is None and make_augment({"flip": False, "crop_padding": 0}) is None
    y = torch.arange(4)
    train = TensorBatches(x, y, 2, shuffle=True, transform=make_augment({"crop_padding": 2}))
    seen = torch.cat([xb for xb, _ in train])
    assert not torch.equal(seen.sort(dim=0).values, x.sort(dim=0).values)
    assert torch.equal(x, torch.arange(36, dtype=torch.float32).reshape(4, 1, 3, 3))
    val = TensorBatches(x, y, 2)  # no transform: exactly the stored tensors
    assert torch.equal(torch.cat([xb for xb, _ in val]), x)


# --------------------------------------------------------------------------- bad data


def _bad_cases(tmp: Path) -> dict[str, tuple[object, object, str]]:
    """name -> (plugin, config, regex the one-line message must match)."""
    rng = np.random.default_rng(9)
    np.savez(tmp / "wrong.npz", features=np.zeros((4, 2)), labels=np.zeros(4))
    np.savez(tmp / "lengths.npz", x=np.zeros((10, 2)), y=np.zeros(9))
    nan_x = rng.normal(size=(30, 2))
    nan_x[17, 1] = np.nan
    np.savez(tmp / "nan.npz", x=nan_x, y=np.arange(30) % 2)
    np.savez(tmp / "grid.npz", x=np.zeros((30, 8, 8), np.float32), y=np.arange(30) % 2)
    class_csv(tmp / "ok.csv")
    write_csv(tmp / "one.csv", ["f", "label"], [[str(i % 7), "same"] for i in range(20)])
    rare = [[str(i % 7), "common" if i else "rare"] for i in range(30)]
    write_csv(tmp / "rare.csv", ["f", "label"], rare)
    ids = [[str(i % 7), f"user{i % 55}", "ab"[i % 2]] for i in range(60)]
    write_csv(tmp / "ids.csv", ["f", "name", "label"], ids)
    typo = [[str(i) if i != 12 else "twelve", "ab"[i % 2]] for i in range(40)]
    write_csv(tmp / "typo.csv", ["f", "label"], typo)
    gaps = [["" if i == 3 else str(i), "ab"[i % 2]] for i in range(20)]
    write_csv(tmp / "gaps.csv", ["f", "label"], gaps)
    make_images(tmp / "broken", {"a": 4, "b": 4})
    (tmp / "broken" / "b" / "9.png").write_bytes(b"not a png at all")
    (tmp / "empty").mkdir()
    make_images(tmp / "hollow", {"a": 4})
    (tmp / "hollow" / "b").mkdir()
    t = str(tmp)
    return {
        "missing file": (NPZ, NpzConfig(path=f"{t}/nope.npz"), r"no such file.*nope\.npz"),
        "npz arrays": (
            NPZ,
            NpzConfig(path=f"{t}/wrong.npz"),
            r"wrong\.npz has arrays \[features, labels\] but needs 'x' and 'y'",
        ),
        "npz lengths": (
            NPZ,
            NpzConfig(path=f"{t}/lengths.npz"),
            r"lengths\.npz: x has 10 samples but y has 9",
        ),
        "npz nan": (NPZ, NpzConfig(path=f"{t}/nan.npz"), r"nan\.npz.*NaN or infinite.*sample 17"),
        "npz 8x8 auto": (
            NPZ,
            NpzConfig(path=f"{t}/grid.npz"),
            r"grid\.npz: data\.layout=auto cannot tell what samples of shape \(8, 8\) are",
        ),
        "csv target": (
            CSV,
            CsvConfig(path=f"{t}/ok.csv", target="species"),
            r"ok\.csv: no column 'species'; columns are x1, x2, color, label",
        ),
        "one class": (
            CSV,
            CsvConfig(path=f"{t}/one.csv", target="label"),
            r"one\.csv.*every sample has class 'same'.*at least two classes",
        ),
        "too few": (
            CSV,
            CsvConfig(path=f"{t}/rare.csv", target="label"),
            r"rare\.csv.*class 'rare' has only 1 sample",
        ),
        "text column": (
            CSV,
            CsvConfig(path=f"{t}/ids.csv", target="label"),
            r"ids\.csv: text column 'name' has 55 distinct values.*data\.drop=\[name\]",
        ),
        "numeric typo": (
            CSV,
            CsvConfig(path=f"{t}/typo.csv", target="label"),
            r"typo\.csv: column 'f' holds numbers but line 14 has 'twelve'",
        ),
        "missing forbidden": (
            CSV,
            CsvConfig(path=f"{t}/gaps.csv", target="label", missing="error"),
            r"gaps\.csv: column 'f' is missing or not finite at line 5",
        ),
        "unreadable image": (
            IMAGES,
            ImagesConfig(path=f"{t}/broken", size=4),
            r"cannot read image .*broken/b/9\.png",
        ),
        "empty folder": (
            IMAGES,
            ImagesConfig(path=f"{t}/empty"),
            r"folder .*empty has no sub-folders; data=images needs one sub-folder per class",
        ),
        "empty class": (
            IMAGES,
            ImagesConfig(path=f"{t}/hollow"),
            r"class folder .*hollow/b has no images",
        ),
    }


def test_bad_data_raises_one_line_data_errors(tmp_path):
    for name, (plugin, cfg, pattern) in _bad_cases(tmp_path).items():
        with pytest.raises(DataError, match=pattern) as info:
            load(plugin, cfg)
        assert "\n" not in str(info.value), name


def test_more_bad_inputs(tmp_path):
    np.save(tmp_path / "single.npy", np.zeros(3))
    with pytest.raises(DataError, match="holds a single array"):
        load_npz(NpzConfig(path=str(tmp_path / "single.npy")))
    np.savez(tmp_path / "half.npz", x=np.zeros((4, 1)), y=np.zeros(4), x_test=np.zeros((2, 1)))
    with pytest.raises(DataError, match="x_test without y_test"):
        load_npz(NpzConfig(path=str(tmp_path / "half.npz")))
    np.savez(tmp_path / "obj.npz", x=np.array([{"a": 1}] * 4, dtype=object), y=np.zeros(4))
    with pytest.raises(DataError, match="obj.npz"):
        load_npz(NpzConfig(path=str(tmp_path / "obj.npz")))
    (tmp_path / "text.npz").write_text("hello")
    with pytest.raises(DataError, match="is not an .npz file"):
        load_npz(NpzConfig(path=str(tmp_path / "text.npz")))
    with pytest.raises(DataError, match="data.path is not set"):
        load_csv(CsvConfig(target="label"))
    with pytest.raises(DataError, match="data.layout='cube' is not one of"):
        load_npz(NpzConfig(path=str(tmp_path / "half.npz"), layout="cube"))
    ragged = tmp_path / "ragged.csv"
    ragged.write_text("a,b,label\n1,2,x\n3,y\n")
    with pytest.raises(DataError, match="line 3 has 2 fields but the header has 3"):
        load_csv(CsvConfig(path=str(ragged), target="label"))
    with pytest.raises(DataError, match="cannot be read as data.layout=image"):
        np.savez(tmp_path / "seq.npz", x=np.zeros((4, 5)), y=np.zeros(4))
        load_npz(NpzConfig(path=str(tmp_path / "seq.npz"), layout="image"))


def test_generic_split_errors_name_the_source():
    def raw(y, task="classification"):
        return RawData(x=np.zeros((len(y), 2)), y=np.asarray(y), task=task, source="s.bin")

    with pytest.raises(DataError, match=r"data 'x' \(s\.bin\): class 1 has only 2 sample"):
        make_dataset("x", raw([0, 0, 0, 1, 1]), DataConfig())
    # Enough per class, but the fractions leave a validation set smaller than the classes.
    with pytest.raises(DataError, match=r"\(s\.bin\): cannot split off the validation set"):
        make_dataset("x", raw([0, 0, 0, 1, 1, 1]), DataConfig(test_fraction=0.5))
    with pytest.raises(DataError, match="target is NaN or infinite at sample 1"):
        make_dataset("x", raw([0.0, np.inf, 1.0, 2.0], "regression"), DataConfig())
    with pytest.raises(DataError, match=r"\(s\.bin\): x has 3 samples but y has 2"):
        make_dataset(
            "x", RawData(np.zeros((3, 1)), np.zeros(2), "regression", source="s.bin"), DataConfig()
        )


# --------------------------------------------------------------------------- CLI


def run_cli(args: list[str], cwd: Path, timeout: int = 300) -> subprocess.CompletedProcess:
    # 80 columns: a one-line error must stay one line where rich would wrap it.
    return helpers.run_cli(args, cwd, timeout, env={"PYTHONUNBUFFERED": "1", "COLUMNS": "80"})


BAD_CLI = {
    "missing file": ["model=mlp", "data=npz", "data.path=nope.npz"],
    "npz arrays": ["model=mlp", "data=npz", "data.path=wrong.npz"],
    "npz lengths": ["model=mlp", "data=npz", "data.path=lengths.npz"],
    "npz nan": ["model=mlp", "data=npz", "data.path=nan.npz"],
    "npz 8x8 auto": ["model=cnn", "data=npz", "data.path=grid.npz"],
    "csv target": ["model=mlp", "data=csv", "data.path=ok.csv", "data.target=species"],
    "one class": ["model=mlp", "data=csv", "data.path=one.csv", "data.target=label"],
    "too few": ["model=mlp", "data=csv", "data.path=rare.csv", "data.target=label"],
    "text column": ["model=mlp", "data=csv", "data.path=ids.csv", "data.target=label"],
    "missing forbidden": [
        "model=mlp",
        "data=csv",
        "data.path=gaps.csv",
        "data.target=label",
        "data.missing=error",
    ],
    "unreadable image": ["model=cnn", "data=images", "data.path=broken", "data.size=4"],
    "empty folder": ["model=cnn", "data=images", "data.path=empty"],
}


@pytest.mark.heavy
def test_cli_bad_data_exits_2_with_one_line_and_no_study(tmp_path):
    cases = _bad_cases(tmp_path)
    for name, args in BAD_CLI.items():
        run_dir = tmp_path / "runs" / name.replace(" ", "_")
        out = run_cli([*args, "sweep.n_trials=2", f"hydra.run.dir={run_dir}"], tmp_path)
        assert out.returncode == 2, (name, out.stdout, out.stderr)
        lines = out.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("automl: error: "), (name, out.stderr)
        assert re.search(cases[name][2], lines[0]), (name, lines[0])
        assert not (run_dir / "study.db").exists(), name


def _assert_study_finished(run_dir: Path) -> None:
    board = json.loads((run_dir / "leaderboard.json").read_text())
    assert board, "leaderboard.json is empty"
    best = run_dir / "best"
    for name in ("config.yaml", "preprocessing.json", "metrics.json", "model.pt"):
        assert (best / name).exists(), name


@pytest.mark.heavy
def test_cli_csv_end_to_end_then_predict_raw_rows(tmp_path):
    class_csv(tmp_path / "my.csv", n=90)
    run_dir = tmp_path / "run"
    out = run_cli(
        [
            "model=mlp",
            "data=csv",
            "data.path=my.csv",
            "data.target=label",
            "sweep.n_trials=2",
            "trainer.max_epochs=2",
            f"hydra.run.dir={run_dir}",
        ],
        tmp_path,
    )
    assert out.returncode == 0, out.stderr
    _assert_study_finished(run_dir)
    from automl.results.predictor import load_best

    predictor = load_best(run_dir / "best")
    rows = read_rows(tmp_path / "my.csv")[:6]
    labels = predictor.predict_labels(rows)
    assert len(labels) == 6 and set(labels) <= {"cat", "dog", "fox"}
    assert predictor.predict(rows).shape == (6,)


@pytest.mark.slow  # CSV and image folders cover file data end to end in the default run
def test_cli_npz_end_to_end(tmp_path):
    rng = np.random.default_rng(10)
    y = np.arange(120) % 3
    x = (rng.normal(size=(120, 8, 8)) + y[:, None, None]).astype(np.float32)
    np.savez(tmp_path / "arrays.npz", x=x, y=y)
    run_dir = tmp_path / "run"
    out = run_cli(
        [
            "model=cnn",
            "data=npz",
            "data.path=arrays.npz",
            "data.layout=image",
            "sweep.n_trials=2",
            "trainer.max_epochs=2",
            f"hydra.run.dir={run_dir}",
        ],
        tmp_path,
    )
    assert out.returncode == 0, out.stderr
    _assert_study_finished(run_dir)
    from automl.results.predictor import load_best

    predictor = load_best(run_dir / "best")
    assert predictor.predict(x[:4]).shape == (4,)  # stored H x W shape accepted


@pytest.mark.heavy
def test_cli_images_end_to_end_with_augmentation(tmp_path):
    make_images(tmp_path / "pics", {"dark": 12, "light": 12})
    run_dir = tmp_path / "run"
    out = run_cli(
        [
            "model=cnn",
            "data=images",
            "data.path=pics",
            "data.size=8",
            "data.augment=true",
            "sweep.n_trials=2",
            "trainer.max_epochs=2",
            f"hydra.run.dir={run_dir}",
        ],
        tmp_path,
    )
    assert out.returncode == 0, out.stderr
    _assert_study_finished(run_dir)
    from automl.results.predictor import load_best

    predictor = load_best(run_dir / "best")
    pics = sorted((tmp_path / "pics" / "light").iterdir())[:3]
    assert predictor.predict([str(p) for p in pics]).shape == (3,)

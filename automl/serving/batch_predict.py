"""``python -m automl predict RUN_DIR INPUT [--output preds.csv]``: batch prediction to a CSV.

INPUT is a CSV file (a header row; columns matched by name, extra ones such as the target
ignored), an ``.npz``/``.npy`` array of samples, or a folder of images (searched
recursively). Inputs are checked against the export's schema exactly as the server checks
them, then predicted in batches; the output has one row per input: its ``id`` (row number or
image path), the ``prediction`` (the label, or the value) and, for classification, one
``p_<class>`` column per class.
"""

from __future__ import annotations

import csv
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from automl.core.atomic import atomic_path
from automl.core.errors import InputError, UserError

__all__ = ["main", "read_input", "predict_file"]


def _parser():
    from automl.core.args import ArgumentParser

    p = ArgumentParser(
        prog="python -m automl predict",
        description="Predict a CSV, npz/npy or image folder with an exported model and write "
        "labels (and per-class probabilities) to a CSV. docs/serving.md",
    )
    p.add_argument("run_dir", metavar="RUN_DIR", help="a run folder (runs/<study>) or its best/")
    p.add_argument("input", metavar="INPUT", help="a .csv, .npz or .npy file, or an image folder")
    p.add_argument(
        "--output", "-o", default="predictions.csv", help="CSV to write (predictions.csv)"
    )
    p.add_argument("--batch-size", type=int, default=1024, help="samples per model call (1024)")
    p.add_argument("--key", default=None, help="array name in an .npz (default: x or the only one)")
    return p


def _csv_cell(cell: str) -> Any:
    """A CSV cell as a number when it is one (``""`` is missing), else the text."""
    text = cell.strip()
    if text == "":
        return None
    try:
        return float(text)
    except ValueError:
        return text


def _read_csv(path: Path, predictor: Any) -> tuple[Any, list[str]]:
    from automl.data.table import read_rows

    try:
        rows = read_rows(path)
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise UserError(f"cannot read {path} as CSV ({exc})") from None
    if not rows:
        raise UserError(f"{path} has no data rows; it needs a header row and one row per sample")
    schema = predictor.schema
    ids = [str(i) for i in range(len(rows))]
    if schema.form == "table":
        return rows, ids  # the encoder takes the text cells as training read them
    names = schema.feature_names
    header = list(rows[0])
    if names and all(n in header for n in names):
        return [{n: _csv_cell(r[n]) for n in names} for r in rows], ids
    if names:
        absent = [n for n in names if n not in header]
        raise InputError(
            f"{path} lacks column(s) {', '.join(absent[:8])}{' ...' if len(absent) > 8 else ''}"
            f"; the model needs the {len(names)} training features as named columns"
        )
    return [[_csv_cell(v) for v in r.values()] for r in rows], ids


def _read_array(path: Path, key: str | None) -> np.ndarray:
    try:
        if path.suffix == ".npy":
            return np.load(path, allow_pickle=False)
        with np.load(path, allow_pickle=False) as archive:
            names = list(archive.files)
            if key is None:
                key = "x" if "x" in names else (names[0] if len(names) == 1 else None)
            if key is None or key not in names:
                raise UserError(
                    f"{path} holds arrays {', '.join(names)}; name the inputs with --key NAME"
                )
            return archive[key]
    except (OSError, ValueError) as exc:
        raise UserError(f"cannot read {path} ({str(exc).splitlines()[0]})") from None


def read_input(path: str | Path, predictor: Any, key: str | None = None) -> tuple[Any, list[str]]:
    """The samples in ``path`` and an id per sample, in the form ``Predictor.check`` takes.

    Raises:
        UserError: Unreadable or unsupported input (one line).
    """
    from automl.data.images import IMAGE_SUFFIXES

    source = Path(path)
    if source.is_dir():
        files = sorted(
            p for p in source.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
        )
        if not files:
            raise UserError(f"{source} holds no images ({', '.join(IMAGE_SUFFIXES)})")
        if predictor.schema is not None and predictor.schema.form != "image":
            raise UserError(
                f"{source} is a folder of images, but this model was trained on "
                f"{predictor.schema.form} data; pass a .csv or .npz file"
            )
        return [str(p) for p in files], [str(p.relative_to(source)) for p in files]
    if not source.is_file():
        raise UserError(f"{source} does not exist; pass a .csv, .npz or .npy file or a folder")
    suffix = source.suffix.lower()
    if suffix == ".csv":
        return _read_csv(source, predictor)
    if suffix in (".npz", ".npy"):
        x = _read_array(source, key)
        if x.ndim == 0:
            raise UserError(f"{source} holds a single value, not an array of samples")
        return x, [str(i) for i in range(len(x))]
    raise UserError(f"{source}: unsupported input {suffix!r}; use a .csv, .npz or .npy file")


def _write_csv(path: Path, header: list[str], rows: list[list[Any]]) -> None:
    with atomic_path(path) as partial, open(partial, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)


def predict_file(
    predictor: Any,
    source: str | Path,
    output: str | Path,
    batch_size: int = 1024,
    key: str | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Predict every sample of ``source`` and write ``output`` (CSV, written atomically).

    Returns:
        ``{"rows": n, "output": path, "counts": {label: n}}`` (counts for classification).

    Raises:
        InputError: The first sample that does not match the model's schema (named).
        UserError: Unreadable input.
    """
    if predictor.generative:
        raise UserError("this model is a generator; it has nothing to predict")
    samples, ids = read_input(source, predictor, key)
    checked = predictor.check(samples, where=Path(source).name, allow_paths=True)
    n = len(ids)
    classify = predictor.task == "classification"
    preds: list[np.ndarray] = []
    probas: list[np.ndarray] = []
    batches = range(0, n, max(1, batch_size))
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    show = progress and len(batches) > 1
    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        disable=not show,
        transient=True,
    ) as bar:
        task = bar.add_task("predicting", total=n)
        for start in batches:
            x = predictor.preprocess(checked[start : start + batch_size], Path(source).name)
            pred, proba = predictor.outputs(x, proba=classify)
            preds.append(np.asarray(pred))
            if proba is not None:
                probas.append(np.asarray(proba))
            bar.advance(task, len(x))
    pred = np.concatenate(preds)
    header = ["id", "prediction"]
    counts: dict[str, int] = {}
    if classify:
        labels = predictor.labels_of(pred)
        counts = dict(Counter(labels))
        names = predictor.classes or [str(i) for i in range(probas[0].shape[1])]
        header += [f"p_{c}" for c in names] if probas else []
        proba = np.concatenate(probas) if probas else None
        rows = [
            [ids[i], labels[i], *([f"{v:.6g}" for v in proba[i]] if proba is not None else [])]
            for i in range(n)
        ]
    else:
        values = pred.reshape(n, -1)
        if values.shape[1] > 1:
            header = ["id", *[f"prediction_{j}" for j in range(values.shape[1])]]
        rows = [[ids[i], *[f"{v:.9g}" for v in values[i]]] for i in range(n)]
    _write_csv(Path(output), header, rows)
    return {"rows": n, "output": str(output), "counts": counts}


def main(argv: Sequence[str]) -> int:
    """``python -m automl predict ...``; returns the exit code."""
    from automl.results.predictor import load_best

    args = _parser().parse_args(argv)
    if args.batch_size < 1:
        raise UserError("python -m automl predict: --batch-size must be >= 1")
    predictor = load_best(args.run_dir)
    result = predict_file(predictor, args.input, args.output, args.batch_size, args.key)
    summary = ", ".join(f"{k}: {v}" for k, v in sorted(result["counts"].items()))
    print(
        f"wrote {result['rows']} predictions to {result['output']}"
        + (f" ({summary})" if summary else ""),
        flush=True,
    )
    return 0

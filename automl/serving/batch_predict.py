"""``python -m automl predict RUN_DIR INPUT [--output preds.csv]``: batch prediction to a CSV.

INPUT is a CSV file (a header row; columns matched by name, extra ones such as the target
ignored), an ``.npz``/``.npy`` array of samples, or a folder of images (searched
recursively). Inputs are checked against the export's schema exactly as the server checks
them, then predicted in batches; the output has one row per input: its ``id`` (row number,
the ``--id-column``'s value, or the image path), the ``prediction`` (the label, or the value)
and, for classification, one ``p_<class>`` column per class.

A sample the model cannot take (an unseen category, text in a numeric column, an unreadable
image) stops the whole file by default (``--on-error fail``); ``--on-error mark`` predicts
the others and names the problem in an ``error`` column, ``--on-error skip`` leaves such rows
out. ``--evaluate`` scores the predictions against the labels the input carries (the CSV's
training target column, an npz's ``y``, or an image folder's class sub-folders).
"""

from __future__ import annotations

import csv
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from automl.core.atomic import atomic_path
from automl.core.errors import InputError, UserError

if TYPE_CHECKING:
    from automl.results.predictor import Predictor

__all__ = ["main", "read_input", "predict_file", "ON_ERROR"]

ON_ERROR = ("fail", "mark", "skip")
"""``--on-error``: what a sample the model cannot take does to the run."""


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
    p.add_argument(
        "--on-error",
        choices=ON_ERROR,
        default="fail",
        help="a sample the model cannot take: fail (stop, the default), mark (an error column), "
        "skip (leave the row out)",
    )
    p.add_argument(
        "--id-column", default=None, help="CSV column whose values identify the output rows"
    )
    p.add_argument(
        "--evaluate",
        action="store_true",
        help="score the predictions against the labels in INPUT (the target column, npz y, "
        "or the image folder's class sub-folders)",
    )
    return p


def _csv_cell(cell: str) -> float | str | None:
    """A CSV cell as a number when it is one (``""`` is missing), else the text."""
    text = cell.strip()
    if text == "":
        return None
    try:
        return float(text)
    except ValueError:
        return text


def _read_csv(path: Path, predictor: Any) -> tuple[Any, list[dict[str, str]]]:
    """The samples of a CSV in the form the model's schema takes, and the rows as read."""
    from automl.data.table import read_rows

    try:
        rows = read_rows(path)
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise UserError(f"cannot read {path} as CSV ({exc})") from None
    if not rows:
        raise UserError(f"{path} has no data rows; it needs a header row and one row per sample")
    schema = predictor.schema
    if schema.form == "table":
        return rows, rows  # the encoder takes the text cells as training read them
    names = schema.feature_names
    header = list(rows[0])
    if names and all(n in header for n in names):
        return [{n: _csv_cell(r[n]) for n in names} for r in rows], rows
    if names:
        absent = [n for n in names if n not in header]
        raise InputError(
            f"{path} lacks column(s) {', '.join(absent[:8])}{' ...' if len(absent) > 8 else ''}"
            f"; the model needs the {len(names)} training features as named columns"
        )
    return [[_csv_cell(v) for v in r.values()] for r in rows], rows


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


def read_input(
    path: str | Path, predictor: Predictor, key: str | None = None
) -> tuple[Any, list[str]]:
    """The samples in ``path`` and an id per sample, in the form ``Predictor.check`` takes.

    Raises:
        UserError: Unreadable or unsupported input (one line).
    """
    found = _read(Path(path), predictor, key)
    return found.samples, found.ids


class _Input:
    """What an input file holds: samples, their ids, and the labels it carries (if any)."""

    def __init__(
        self, samples: Any, ids: list[str], rows: list[dict[str, str]] | None = None
    ) -> None:
        self.samples, self.ids, self.rows = samples, ids, rows
        self.labels: list[Any] | None = None


def _read(source: Path, predictor: Predictor, key: str | None) -> _Input:
    from automl.data.images import IMAGE_SUFFIXES

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
        found = _Input([str(p) for p in files], [str(p.relative_to(source)) for p in files])
        # A file in a sub-folder is labelled with the sub-folder's name (an image folder's
        # layout); a file at the top carries no label.
        parts = [p.relative_to(source).parts for p in files]
        if predictor.classes and any(len(q) > 1 for q in parts):
            found.labels = [q[0] if len(q) > 1 else None for q in parts]
        return found
    if not source.is_file():
        raise UserError(f"{source} does not exist; pass a .csv, .npz or .npy file or a folder")
    suffix = source.suffix.lower()
    if suffix == ".csv":
        samples, rows = _read_csv(source, predictor)
        found = _Input(samples, [str(i) for i in range(len(rows))], rows)
        target = predictor.target
        if target is not None and target in rows[0]:
            found.labels = [r[target] if r[target].strip() else None for r in rows]
        return found
    if suffix in (".npz", ".npy"):
        x = _read_array(source, key)
        if x.ndim == 0:
            raise UserError(f"{source} holds a single value, not an array of samples")
        found = _Input(x, [str(i) for i in range(len(x))])
        if suffix == ".npz":
            with np.load(source, allow_pickle=False) as archive:
                if "y" in archive.files and len(archive["y"]) == len(x) and key != "y":
                    found.labels = list(archive["y"])
        return found
    raise UserError(f"{source}: unsupported input {suffix!r}; use a .csv, .npz or .npy file")


def _write_csv(path: Path, header: list[str], rows: list[list[Any]]) -> None:
    with atomic_path(path) as partial, open(partial, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)


def _retarget(exc: InputError, name: str, index: int) -> str:
    """The message of a one-sample check (named ``name[0]``) with the sample's real index."""
    text = str(exc)
    return text.replace(f"{name}[0]", f"{name}[{index}]", 1)


def _prepare_each(
    predictor: Predictor, samples: Any, start: int, name: str
) -> tuple[list[int], np.ndarray | None, dict[int, str]]:
    """A batch that failed its check, sample by sample: the indices that passed, their
    prepared inputs, and a message per index that did not."""
    good: list[int] = []
    prepared: list[np.ndarray] = []
    errors: dict[int, str] = {}
    for i in range(len(samples)):
        index = start + i
        try:
            one = samples[i : i + 1]
            prepared.append(predictor.prepare(one, where=name, allow_paths=True))
            good.append(index)
        except InputError as exc:
            errors[index] = _retarget(exc, name, index)
    return good, np.concatenate(prepared) if prepared else None, errors


def _scores(predictor: Predictor, labels: list[Any], predicted: dict[int, Any]) -> dict[str, Any]:
    """Metrics of the predicted rows that carry a label (``--evaluate``)."""
    from automl.core.metrics import task_metrics
    from automl.data.encode import parse_number

    pairs = [(labels[i], p) for i, p in predicted.items() if labels[i] is not None]
    if not pairs:
        raise UserError("--evaluate: no predicted row carries a label to compare with")
    if predictor.task == "classification":
        classes = [str(c) for c in predictor.classes or []]
        index = {c: k for k, c in enumerate(classes)}

        def class_id(label: object) -> int:
            text = str(label).strip()
            if text in index:
                return index[text]
            try:  # an npz's y holds class ids
                number = float(text)
            except ValueError:
                return len(classes)  # a label the model never saw: always wrong
            return int(number) if number.is_integer() and 0 <= number < len(classes) else -1

        truth = np.asarray([class_id(t) for t, _ in pairs])
        pred = np.asarray([int(p) for _, p in pairs])
        unseen = int(np.sum(truth >= len(classes)) + np.sum(truth < 0))
    else:
        numbers = [parse_number(str(t)) for t, _ in pairs]
        if any(v is None for v in numbers):
            first = next(t for (t, _), v in zip(pairs, numbers, strict=True) if v is None)
            raise UserError(
                f"--evaluate: the label {first!r} is not a number; this model predicts values"
            )
        truth = np.asarray(numbers, dtype=np.float64)
        pred = np.asarray([float(p) for _, p in pairs])
        unseen = 0
    metrics = task_metrics(predictor.task, truth, pred)
    return {"rows": len(pairs), "unseen_labels": unseen, "metrics": metrics}


def predict_file(
    predictor: Predictor,
    source: str | Path,
    output: str | Path,
    batch_size: int = 1024,
    key: str | None = None,
    progress: bool = True,
    on_error: str = "fail",
    id_column: str | None = None,
    evaluate: bool = False,
) -> dict[str, Any]:
    """Predict every sample of ``source`` and write ``output`` (CSV, written atomically).

    Args:
        predictor: The loaded export.
        source: A CSV, npz/npy file or image folder.
        output: The CSV to write.
        batch_size: Samples per model call.
        key: The array of an npz.
        progress: Show a progress bar (on stderr) when there is more than one batch.
        on_error: ``fail``: the first sample the model cannot take stops everything;
            ``mark``: its row gets the reason in an ``error`` column; ``skip``: its row is
            left out.
        id_column: A CSV column whose values are the output's ``id``.
        evaluate: Score the predictions against the labels ``source`` carries.

    Returns:
        ``{"rows": written, "output": path, "counts": {label: n}, "errors": {index: why},
        "evaluation": {...}}`` (counts for classification; evaluation when asked).

    Raises:
        InputError: With ``on_error="fail"``, the first sample that does not match the
            model's schema (named).
        UserError: Unreadable input, an unknown ``id_column``, no labels to evaluate on.
    """
    if predictor.generative:
        raise UserError("this model is a generator; it has nothing to predict")
    if on_error not in ON_ERROR:
        raise UserError(f"--on-error {on_error}: not one of {', '.join(ON_ERROR)}")
    found = _read(Path(source), predictor, key)
    samples, ids = found.samples, found.ids
    if id_column is not None:
        if found.rows is None:
            raise UserError("--id-column applies to a CSV input (npz rows and images have ids)")
        if id_column not in found.rows[0]:
            raise UserError(
                f"--id-column {id_column}: {Path(source).name} has no such column; its columns "
                f"are {', '.join(list(found.rows[0])[:20])}"
            )
        ids = [r[id_column] for r in found.rows]
    if evaluate and found.labels is None:
        raise UserError(
            f"--evaluate needs labels in {Path(source).name}: "
            + (
                f"a column {predictor.target!r} (the training target)"
                if predictor.target
                else "a CSV target column, an npz array y, or class sub-folders of images"
            )
        )
    name = Path(source).name
    if on_error == "fail":
        # The whole file is checked first, so nothing is predicted before a bad sample.
        try:
            samples = predictor.check(samples, where=name, allow_paths=True)
        except InputError as exc:
            raise InputError(
                f"{exc} (--on-error mark or skip predicts the other rows)", exc.field
            ) from None
    n = len(ids)
    classify = predictor.task == "classification"
    predicted: dict[int, Any] = {}
    probas: dict[int, np.ndarray] = {}
    errors: dict[int, str] = {}
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
            chunk = samples[start : start + batch_size]
            indices = list(range(start, start + len(chunk)))
            x: np.ndarray | None
            if on_error == "fail":
                x = predictor.preprocess(chunk, name)
            else:
                try:
                    x = predictor.prepare(chunk, where=name, allow_paths=True)
                except InputError:  # find the samples at fault, predict the rest
                    indices, x, bad = _prepare_each(predictor, chunk, start, name)
                    errors.update(bad)
            if x is not None and len(x):
                pred, proba = predictor.outputs(x, proba=classify)
                for k, i in enumerate(indices):
                    predicted[i] = np.asarray(pred)[k]
                    if proba is not None:
                        probas[i] = np.asarray(proba)[k]
            bar.advance(task, len(chunk))
    header = ["id", "prediction"]
    counts: dict[str, int] = {}
    rows: list[list[Any]] = []
    if classify:
        names = predictor.classes or [
            str(c) for c in range(len(next(iter(probas.values()))) if probas else 0)
        ]
        header += [f"p_{c}" for c in names] if probas else []
        labels = (
            dict(
                zip(
                    predicted,
                    predictor.labels_of(np.asarray(list(predicted.values()))),
                    strict=True,
                )
            )
            if predicted
            else {}
        )
        counts = dict(Counter(labels.values()))
        width = len(names) if probas else 0
        for i in range(n):
            if i in predicted:
                cells = [f"{v:.6g}" for v in probas[i]] if i in probas else []
                rows.append([ids[i], labels[i], *cells])
            elif on_error == "mark":
                rows.append([ids[i], "", *([""] * width)])
    else:
        first = next(iter(predicted.values()), np.zeros(1))
        width = int(np.asarray(first).size)
        if width > 1:
            header = ["id", *[f"prediction_{j}" for j in range(width)]]
        for i in range(n):
            if i in predicted:
                rows.append([ids[i], *[f"{v:.9g}" for v in np.asarray(predicted[i]).reshape(-1)]])
            elif on_error == "mark":
                rows.append([ids[i], *([""] * width)])
    if on_error == "mark":
        header.append("error")
        for row, i in zip(rows, range(n), strict=True):  # mark: one row per input
            row.append(errors.get(i, ""))
    _write_csv(Path(output), header, rows)
    result: dict[str, Any] = {
        "rows": len(rows),
        "output": str(output),
        "counts": counts,
        "errors": errors,
    }
    if evaluate:
        assert found.labels is not None
        result["evaluation"] = _scores(predictor, found.labels, predicted)
    return result


def main(argv: Sequence[str]) -> int:
    """``python -m automl predict ...``; returns the exit code."""
    from automl.results.predictor import load_best

    args = _parser().parse_args(argv)
    if args.batch_size < 1:
        raise UserError("python -m automl predict: --batch-size must be >= 1")
    predictor = load_best(args.run_dir)
    result = predict_file(
        predictor,
        args.input,
        args.output,
        args.batch_size,
        args.key,
        on_error=args.on_error,
        id_column=args.id_column,
        evaluate=args.evaluate,
    )
    summary = ", ".join(f"{k}: {v}" for k, v in sorted(result["counts"].items()))
    print(
        f"wrote {result['rows']} predictions to {result['output']}"
        + (f" ({summary})" if summary else ""),
        flush=True,
    )
    errors = result["errors"]
    if errors:
        first = errors[min(errors)]
        what = "marked in its error column" if args.on_error == "mark" else "left out"
        print(
            f"{len(errors)} row(s) could not be predicted ({what}); the first: {first}",
            flush=True,
        )
    evaluation = result.get("evaluation")
    if evaluation:
        scores = ", ".join(f"{k} {v:.4g}" for k, v in evaluation["metrics"].items())
        unseen = evaluation["unseen_labels"]
        print(
            f"evaluated on {evaluation['rows']} labelled rows: {scores}"
            + (f" ({unseen} with a label the model never saw, counted wrong)" if unseen else ""),
            flush=True,
        )
    return 0

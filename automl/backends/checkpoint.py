"""A trial's training state on disk, so that its re-run continues where it stopped.

Every trial writes its state to ``trials/NNNN/checkpoint/`` every ``sweep.checkpoint_every``
(``Every``): a state folder (``lean-000004/``, ``estimator-000011/``, ...) written whole under
a temporary name and renamed, then ``meta.json`` naming it, replaced in one step; the
previous state folder is removed after. ``meta.json`` is the commit point: a kill at any
moment leaves the last complete checkpoint readable.

A trial re-run after its worker was lost (``automl.tuning.retry``) opens the checkpoint of
the trial it re-runs (``TrialCheckpoint.open``), and the backend continues from it when the
checkpoint belongs to the same configuration of the same study (``identity``), and to the
loop or estimator that trains it (``kind``); otherwise the trial starts over, with a note.

What a state folder holds is the backend's: tensors saved with ``torch.save`` and loaded with
``weights_only=True`` (no pickle on a load path), the estimator library's own model format,
and plain values in ``meta.json``. This module imports no torch.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from automl.core.atomic import write_text

__all__ = [
    "CHECKPOINT_DIR",
    "META_FILE",
    "AUTO_MIN_S",
    "AUTO_FACTOR",
    "Every",
    "Saved",
    "TrialCheckpoint",
    "parse_every",
    "study_digest",
    "EVERY_HELP",
]

CHECKPOINT_DIR = "checkpoint"
META_FILE = "meta.json"
FORMAT = 1

AUTO_MIN_S = 2.0
"""``checkpoint_every=auto``: seconds of training at least between two checkpoints."""
AUTO_FACTOR = 32.0
"""``checkpoint_every=auto``: the training between two checkpoints lasts at least this many
times what the last one took to write, so writing costs at most 1/33 (3 %) of a trial."""

EVERY_HELP = (
    "auto (the default: as often as costs at most 3 % of the training), N (every N epochs or "
    "estimator steps), Ns (every N seconds, e.g. 60s) or 0 (never)"
)

Mode = Literal["auto", "steps", "seconds", "off"]


@dataclass(frozen=True)
class Every:
    """When a trial writes a checkpoint: ``sweep.checkpoint_every``, parsed.

    Attributes:
        mode: ``auto`` (cost-bounded), ``steps`` (every ``value`` epochs, estimator steps or
            folds), ``seconds`` (once ``value`` seconds of training have passed) or ``off``.
        value: The number of steps or seconds.
    """

    mode: Mode = "auto"
    value: float = 0.0

    @property
    def off(self) -> bool:
        """No checkpoints: a lost trial starts over."""
        return self.mode == "off"

    def __str__(self) -> str:
        if self.mode == "steps":
            return str(int(self.value))
        if self.mode == "seconds":
            return f"{self.value:g}s"
        return "0" if self.off else "auto"


def parse_every(value: object) -> Every:
    """``sweep.checkpoint_every`` as an ``Every``.

    Raises:
        ValueError: Not one of ``auto``, ``N``, ``Ns`` or ``0`` (the message says so).
    """
    text = str(value).strip().lower()
    if text in ("auto", ""):
        return Every()
    if text in ("0", "none", "off", "false", "never", "0s"):
        return Every("off")
    seconds = text.endswith("s")
    number = text[:-1] if seconds else text
    try:
        amount = float(number) if seconds else int(number)
    except ValueError:
        amount = -1
    if amount <= 0:
        raise ValueError(f"sweep.checkpoint_every={value!r} is not one of {EVERY_HELP}")
    return Every("seconds" if seconds else "steps", float(amount))


def study_digest(fingerprint: Mapping[str, Any]) -> str:
    """The part of a study's identity a checkpoint must match: its fingerprint without the
    searched ranges (a moved range changes no trial's training), hashed."""
    kept = {k: v for k, v in fingerprint.items() if k != "space"}
    text = json.dumps(kept, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _plain(value: object) -> Any:
    """``value`` as JSON reads it back (tuples become lists), to compare identities."""
    return json.loads(json.dumps(value, sort_keys=True, default=str))


@dataclass
class Saved:
    """What ``meta.json`` says about one checkpoint.

    Attributes:
        identity: The trial's configuration and the study it belongs to.
        kind: Who wrote the state: ``lean`` (the lean loop), ``trainer`` (Lightning's
            Trainer), ``estimator`` or ``folds`` (the k-fold protocol).
        step: The last step (0-based epoch, estimator step or fold) the state includes.
        state: The state folder's name inside the checkpoint folder.
        seed: The training seed the trial started with (its re-run keeps it).
        trial: The number of the trial that wrote it.
        values: The backend's plain values (reports sent, ``metrics.csv`` rows, best epoch).
        train_s: Seconds of training the state stands for (every attempt's).
        save_s: Seconds spent writing this trial's checkpoints so far.
        saves: How many were written.
    """

    identity: dict[str, Any]
    kind: str
    step: int
    state: str
    seed: int
    trial: int
    values: dict[str, Any] = field(default_factory=dict)
    train_s: float = 0.0
    save_s: float = 0.0
    saves: int = 0

    def to_json(self) -> str:
        """``meta.json``'s text."""
        body = {"format": FORMAT, **self.__dict__}
        return json.dumps(body, indent=1, sort_keys=True, allow_nan=True)


class Refused(Exception):
    """A checkpoint that cannot be continued from (the message says why)."""


def read_saved(directory: Path) -> Saved | None:
    """The checkpoint in ``directory`` (``None``: there is none).

    Raises:
        Refused: ``meta.json`` is unreadable, of another format or names no state folder.
    """
    path = Path(directory) / META_FILE
    if not path.is_file():
        return None
    try:
        body = json.loads(path.read_text(encoding="utf-8"))
        if body.pop("format", None) != FORMAT:
            raise Refused(f"{path} is of another checkpoint format")
        saved = Saved(**body)
    except (OSError, ValueError, TypeError) as exc:
        raise Refused(f"{path} is not a readable checkpoint ({exc})") from None
    if not isinstance(saved.step, int) or not (Path(directory) / saved.state).is_dir():
        raise Refused(f"{path} names no state folder")
    return saved


class TrialCheckpoint:
    """One trial's checkpoints: when to write, where, and what its re-run continues from.

    Created by the study loop for each trial (``open``); the backends call ``begin`` when
    training starts, ``due`` after each step that does not end the fit, ``save`` when it is
    due, and ``restore`` before training to continue from the source.

    Args:
        directory: This trial's checkpoint folder (``trials/NNNN/checkpoint``).
        identity: The trial's configuration and its study (``params``, ``study``).
        every: When to write.
        seed: The training seed this trial trains with.
        trial: This trial's number.
        source: The checkpoint folder this trial continues from, if any.
        saved: ``source``'s ``meta.json``.
        on_resume: Called with the step and the reports restored once a backend continues
            from ``source`` (the study hears the reports again, the record says so).
        notes: Where notes for the trial's record go (shared with ``scope``s).
        on_note: Called with each note made after opening (a backend refused the source).
    """

    def __init__(
        self,
        directory: Path,
        identity: Mapping[str, Any],
        every: Every,
        *,
        seed: int,
        trial: int,
        source: Path | None = None,
        saved: Saved | None = None,
        on_resume: Callable[[int, list[tuple[int, float]]], None] | None = None,
        notes: list[str] | None = None,
        on_note: Callable[[str], None] | None = None,
    ) -> None:
        self.directory = Path(directory)
        self.identity = _plain(dict(identity))
        self.every = every
        self.seed = int(seed)
        self.trial = int(trial)
        self.source = source
        self.saved = saved
        self.on_resume = on_resume
        self.notes: list[str] = notes if notes is not None else []
        self.on_note = on_note
        self.chain: list[Path] = []
        self.parent: TrialCheckpoint | None = None
        self.resumed: int | None = None
        self._steps = 0
        self._since = time.monotonic()
        self._last: tuple[float, float] | None = None
        self._model, self._grows = "", False
        self.attempt_save_s = 0.0  # seconds this attempt spent writing checkpoints
        self._save_s = saved.save_s if saved is not None else 0.0
        self._saves = saved.saves if saved is not None else 0
        self._train_s = 0.0  # training before this attempt, once a backend continues
        self._begun: float | None = None

    @classmethod
    def open(
        cls,
        directory: Path,
        identity: Mapping[str, Any],
        every: Every,
        *,
        seed: int,
        trial: int,
        sources: list[tuple[int, Path]],
        on_resume: Callable[[int, list[tuple[int, float]]], None] | None = None,
    ) -> TrialCheckpoint:
        """A trial's checkpointing, continuing from the newest checkpoint among ``sources``.

        ``sources`` are the checkpoint folders of the trials this one re-runs, newest first,
        with their numbers. The first that holds a checkpoint is the one: it is taken when it
        belongs to this configuration of this study (its seed then becomes the trial's), and
        refused with a note otherwise. Whatever this trial's own folder held (a study deleted
        and started again in the same run directory) is removed.
        """
        shutil.rmtree(directory, ignore_errors=True)
        notes: list[str] = []
        chosen: tuple[Path, Saved] | None = None
        for number, folder in sources:
            try:
                found = _any_saved(folder)
            except Refused as exc:
                notes.append(f"the checkpoint of trial #{number} was refused ({exc}); started over")
                break
            if found is None:
                continue
            why = _mismatch(found.identity, _plain(dict(identity)))
            if why:
                notes.append(f"the checkpoint of trial #{number} was refused ({why}); started over")
            elif every.off:
                notes.append(
                    f"sweep.checkpoint_every=0: the checkpoint of trial #{number} is not used; "
                    "started over"
                )
            else:
                chosen = (folder, found)
            break
        source, found = chosen if chosen is not None else (None, None)
        saved = read_saved(source) if source is not None else None
        opened = cls(
            directory,
            identity,
            every,
            seed=found.seed if found is not None else seed,
            trial=trial,
            source=source,
            saved=saved,
            on_resume=on_resume,
            notes=notes,
        )
        opened.chain = [folder for _, folder in sources]
        return opened

    def scope(self, name: str) -> TrialCheckpoint:
        """The checkpoints of one part of the trial (a fold) in a sub-folder ``name``; its
        restores are not the trial's reports (``on_resume`` is not called)."""
        source = self.source / name if self.source is not None else None
        saved = None
        if source is not None:
            try:
                saved = read_saved(source)
            except Refused as exc:
                self._note(f"{name}: {exc}; that part started over")
            if saved is None:
                source = None
        child = TrialCheckpoint(
            self.directory / name,
            self.identity,
            self.every,
            seed=self.seed,
            trial=self.trial,
            source=source,
            saved=saved,
            notes=self.notes,
            on_note=self.on_note,
        )
        child.parent = self
        return child

    def drop_scope(self, name: str) -> None:
        """A part finished: its checkpoints are no longer needed."""
        shutil.rmtree(self.directory / name, ignore_errors=True)

    # -- writing ---------------------------------------------------------------------------

    def begin(self, model: str = "", grows: bool = False) -> None:
        """Training starts (or continues): the clock of ``due`` and ``train_s`` starts.

        Args:
            model: What trains (``lean:mlp``, ``estimator:forest``): ``auto`` expects a
                trial's first checkpoint to cost what the last one of the same model did.
            grows: The state grows as it trains (trees, boosting rounds), so a checkpoint
                costs in proportion to the training it holds; a network's does not.
        """
        now = time.monotonic()
        self._since, self._begun = now, now
        self._model, self._grows = model, grows

    def _held(self) -> float:
        """Seconds of training the state holds now (a resumed one's earlier ones too)."""
        return self._train_s + (time.monotonic() - (self._begun or time.monotonic()))

    def _expected_cost(self) -> float:
        """Seconds the next checkpoint is expected to take: the last one's (this trial's, or
        else the last trial's of the same model in this process), scaled by the training it
        holds when the state grows; 0 when nothing is known yet (it is written, and timed)."""
        last = self._last or _LAST_SAVES.get(self._model)
        if last is None:
            return 0.0
        cost, held = last
        return cost * self._held() / max(held, 1e-9) if self._grows else cost

    def due(self) -> bool:
        """One more step ended, and the fit goes on: whether to write a checkpoint now.

        ``auto``: the training since the last checkpoint is at least ``AUTO_MIN_S`` and
        ``AUTO_FACTOR`` times what this one is expected to cost (``_expected_cost``).
        """
        self._steps += 1
        every = self.every
        if every.off:
            return False
        if every.mode == "steps":
            return self._steps >= every.value
        since = time.monotonic() - self._since
        if every.mode == "seconds":
            return since >= every.value
        return since >= max(AUTO_MIN_S, AUTO_FACTOR * self._expected_cost())

    def save(
        self,
        kind: str,
        step: int,
        values: Mapping[str, Any],
        write: Callable[[Path], Any] | None = None,
    ) -> bool:
        """Write the state after ``step``: ``write(folder)`` fills a fresh state folder,
        then ``meta.json`` names it (``values`` are its plain values).

        Returns:
            Whether a state was written (``write`` returned ``False``: the model cannot save
            one, and nothing changes).
        """
        start = time.monotonic()
        name = f"{kind}-{int(step):06d}"
        self.directory.mkdir(parents=True, exist_ok=True)
        partial = self.directory / f".{name}.{os.getpid()}.partial"
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir()
        try:
            if write is not None and write(partial) is False:
                return False
            _sync_tree(partial)
            target = self.directory / name
            shutil.rmtree(target, ignore_errors=True)
            os.rename(partial, target)
        finally:
            shutil.rmtree(partial, ignore_errors=True)
        end = time.monotonic()
        trained = self._train_s + (end - (self._begun or end))
        saved = Saved(
            identity=self.identity,
            kind=kind,
            step=int(step),
            state=name,
            seed=self.seed,
            trial=self.trial,
            values=_plain(dict(values)),
            train_s=trained,
            save_s=self._save_s + (end - start),
            saves=self._saves + 1,
        )
        write_text(self.directory / META_FILE, saved.to_json())
        for old in self.directory.iterdir():
            if old.is_dir() and old.name != name and old.name.startswith(f"{kind}-"):
                shutil.rmtree(old, ignore_errors=True)
        cost = time.monotonic() - start
        self._last = _LAST_SAVES[self._model] = (cost, max(self._held(), 1e-9))
        self._save_s, self._saves, self.attempt_save_s = (
            self._save_s + cost,
            self._saves + 1,
            self.attempt_save_s + cost,
        )
        part = self.parent
        while part is not None:  # a fold's checkpoints are its trial's
            part.attempt_save_s += cost
            part = part.parent
        self._steps, self._since = 0, time.monotonic()
        return True

    # -- reading ---------------------------------------------------------------------------

    def restore(self, kind: str, what: str) -> tuple[Path, Saved] | None:
        """The source's state folder and meta, when it was written by ``kind``.

        Args:
            kind: The writer this fit would be (``lean``, ``trainer``, ``estimator``,
                ``folds``).
            what: How to name the trainer in a note (``the lean loop``, ``xgboost``).
        """
        if self.source is None or self.saved is None:
            return None
        if self.saved.kind != kind:
            self._note(
                f"the checkpoint of trial #{self.saved.trial} was written by "
                f"{_KINDS.get(self.saved.kind, self.saved.kind)}, and {what} trains this "
                "trial; started over"
            )
            self.source = self.saved = None
            return None
        return self.source / self.saved.state, self.saved

    def resumed_at(self, step: int, reports: list[tuple[int, float]]) -> None:
        """A backend continues after ``step``: tell the study, keep it for the record."""
        self.resumed = int(step) + 1
        self._train_s = self.saved.train_s if self.saved is not None else 0.0
        if self.on_resume is not None:
            self.on_resume(int(step), list(reports))

    def refused(self, why: str) -> None:
        """The backend could not continue from the source (unreadable, another model)."""
        number = self.saved.trial if self.saved is not None else "?"
        self._note(f"the checkpoint of trial #{number} was refused ({why}); started over")
        self.source = self.saved = None

    def note(self, text: str) -> None:
        """Something the trial's record should say about its checkpoints."""
        self._note(text)

    def _note(self, text: str) -> None:
        self.notes.append(text)
        if self.on_note is not None:
            self.on_note(text)

    def discard(self) -> None:
        """The trial ended for good: its checkpoints, and those of the trials it re-ran, go."""
        for folder in [self.directory, *self.chain]:
            shutil.rmtree(folder, ignore_errors=True)

    @property
    def train_s(self) -> float:
        """Seconds of training before this attempt (restored), for the record."""
        return self._train_s if self.resumed is not None else 0.0


_LAST_SAVES: dict[str, tuple[float, float]] = {}
"""The last checkpoint written in this process per model (``TrialCheckpoint.begin``): its
cost and the training it held, which ``auto`` expects the next trial's first one to cost
(a forest's file costs about 0.4 s per second of training, a network's a few milliseconds)."""

_KINDS = {
    "lean": "the lean loop",
    "trainer": "Lightning's Trainer",
    "estimator": "an estimator",
    "folds": "the k-fold protocol",
}


def _any_saved(folder: Path) -> Saved | None:
    """The checkpoint in ``folder``, or else one of its parts' (a k-fold trial stopped in its
    first fold has only that fold's); ``None`` when there is none."""
    saved = read_saved(folder)
    if saved is not None or not folder.is_dir():
        return saved
    for part in sorted(p for p in folder.iterdir() if p.is_dir()):
        saved = read_saved(part)
        if saved is not None:
            return saved
    return None


def _mismatch(stored: Mapping[str, Any], current: Mapping[str, Any]) -> str | None:
    """Why a checkpoint's identity is not this trial's, in words (``None``: it is)."""
    if stored.get("study") != current.get("study"):
        return "it belongs to another version of the study (data, model config or settings)"
    if stored.get("params") != current.get("params"):
        return "its parameters are not this trial's"
    if stored != current:
        return "it was written for another trial"
    return None


def _sync_tree(folder: Path) -> None:
    """Every file under ``folder`` on disk before the folder is renamed into place."""
    for path in folder.rglob("*"):
        if path.is_file():
            with open(path, "rb") as handle:
                os.fsync(handle.fileno())

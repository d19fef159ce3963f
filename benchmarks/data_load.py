"""Load time and peak memory of ``data=npz`` on a large file: memory-mapped vs ``numpy.load``.

Writes an uncompressed ``.npz`` of about ``--gb`` GiB of float32 samples, then loads it twice
through the real data path (``automl.data.load_dataset`` with the npz plugin: open, stratified
split, float32 splits, standardization fitted on the training split), each time in a fresh
process so peak memory is that load's alone:

- ``mmap``: ``data.mmap=true``, the array is memory-mapped inside the zip and read once,
  block by block, straight into the splits;
- ``numpy.load``: ``data.mmap=false``, i.e. ``np.load(path)["x"]`` reads the whole array into
  memory first, then the splits are copied out of it.

Peak RSS is the kernel's high-water mark (``VmHWM``); a sampling thread also records the peak of
anonymous memory (``RssAnon``: the process's own copies) and of file-backed mapped pages
(``RssFile``: page-cache pages the process maps, shared and reclaimable). The page cache is warm
in both runs (the file was just written), so times compare CPU and copying, not disk speed.

Usage::

    python benchmarks/data_load.py            # 1 GiB in a temporary folder
    python benchmarks/data_load.py --gb 0.25 --dir /tmp
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

FEATURES = 1024  # float32 features per sample: 4 KiB per row


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def _child(mode: str, path: str) -> None:
    """Load once in this process; print one JSON line with time and memory (MiB)."""
    import numpy as np  # noqa: F401  (imports paid before the baseline)
    import sklearn.model_selection  # noqa: F401

    from automl.data import load_dataset
    from automl.data.npz import NPZ, NpzConfig

    baseline = _status_kib("VmRSS")
    peaks = {"RssAnon": 0, "RssFile": 0}
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            for key in peaks:
                peaks[key] = max(peaks[key], _status_kib(key))
            time.sleep(0.002)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    start = time.perf_counter()
    data = load_dataset(NPZ, NpzConfig(path=path, mmap=(mode == "mmap")))
    seconds = time.perf_counter() - start
    done.set()
    sampler.join()
    held = sum(s.x.nbytes for s in (data.train, data.val, data.test))
    mib = 1024.0
    print(
        json.dumps(
            {
                "mode": mode,
                "seconds": seconds,
                "peak_rss_mib": _status_kib("VmHWM") / mib,
                "baseline_rss_mib": baseline / mib,
                "peak_anon_mib": peaks["RssAnon"] / mib,
                "peak_file_mib": peaks["RssFile"] / mib,
                "splits_mib": held / 2**20,
                "shape": list(data.spec.input_shape),
            }
        )
    )


def _write(path: Path, gib: float) -> int:
    import numpy as np

    rows = int(gib * 2**30) // (FEATURES * 4)
    rng = np.random.default_rng(0)
    x = np.empty((rows, FEATURES), dtype=np.float32)
    for start in range(0, rows, 16384):  # fill in blocks: no float64 temporary of 1 GiB
        block = x[start : start + 16384]
        block[:] = rng.standard_normal(block.shape, dtype=np.float32)
    y = (np.arange(rows) % 10).astype(np.int64)
    np.savez(path, x=x, y=y)
    return rows


def main() -> None:
    """Write the file, run both loads in fresh processes, print the table and the ratios."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gb", type=float, default=1.0, help="GiB of float32 samples")
    parser.add_argument("--dir", default=None, help="folder for the temporary file")
    parser.add_argument("--child", nargs=2, metavar=("MODE", "PATH"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(*args.child)
        return
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        path = Path(tmp) / "big.npz"
        # Written in its own process, so its 1 GiB array never inflates a measured process.
        subprocess.run(
            [
                sys.executable,
                "-c",
                f"import sys; sys.path.insert(0, {str(Path(__file__).parent)!r}); "
                f"import data_load; print(data_load._write(__import__('pathlib').Path("
                f"{str(path)!r}), {args.gb}))",
            ],
            check=True,
            capture_output=True,
        )
        size = path.stat().st_size / 2**30
        print(f"file: {path.name}, {size:.2f} GiB, float32 rows of {FEATURES} features")
        results = {}
        for mode in ("mmap", "numpy.load"):
            out = subprocess.run(
                [sys.executable, __file__, "--child", mode, str(path)],
                check=True,
                capture_output=True,
                text=True,
            )
            results[mode] = json.loads(out.stdout.strip().splitlines()[-1])
    header = (
        f"{'mode':<11} {'time s':>7} {'peak RSS':>9} {'- base':>8} {'anon pk':>8} "
        f"{'file pk':>8} {'splits':>7}  (MiB)"
    )
    print(header)
    for mode, r in results.items():
        print(
            f"{mode:<11} {r['seconds']:7.2f} {r['peak_rss_mib']:9.0f} "
            f"{r['peak_rss_mib'] - r['baseline_rss_mib']:8.0f} {r['peak_anon_mib']:8.0f} "
            f"{r['peak_file_mib']:8.0f} {r['splits_mib']:7.0f}"
        )
    m, n = results["mmap"], results["numpy.load"]
    added_m = m["peak_rss_mib"] - m["baseline_rss_mib"]
    added_n = n["peak_rss_mib"] - n["baseline_rss_mib"]
    print(
        f"ratio numpy.load / mmap: time {n['seconds'] / m['seconds']:.2f}x, "
        f"peak RSS {n['peak_rss_mib'] / m['peak_rss_mib']:.2f}x, "
        f"peak RSS above baseline {added_n / added_m:.2f}x"
    )


if __name__ == "__main__":
    main()

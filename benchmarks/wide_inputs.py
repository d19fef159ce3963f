"""Wide CSV inputs: how long and how much memory ``data=csv`` takes to refuse (or to run) them.

Three files, written once into ``--work``:

- ``narrow.csv``: 30 numeric columns, 200 rows, trained once (``sweep=none``): the baseline;
- ``wide.csv``: ``--columns`` (10^6) one-digit columns and 20 rows (about 48 MB), refused at
  its header by ``data.max_columns``;
- ``long_header.csv``: a header that is one field of ``--header-mb`` MiB (2048: 2 GiB) with no
  line break, refused by ``data.max_line_chars`` after reading 4 Mi characters.

Each runs as ``python -m automl model=forest data=csv ... sweep=none`` in a fresh process; the
table shows its exit code, wall seconds and peak resident memory (the child's ``ru_maxrss``),
and the ratio of each to the narrow baseline measured in the same run. ``--before PYTHON``
runs the same commands with another interpreter too (one whose ``automl`` is an older checkout),
interleaved with this one, so before and after are measured under the same load.

    python benchmarks/wide_inputs.py --json benchmarks/results/wide_inputs.json
    python benchmarks/wide_inputs.py --before /path/to/old/venv/bin/python --timeout 600
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--columns", type=int, default=10**6, help="columns of wide.csv (10^6)")
    p.add_argument("--header-mb", type=int, default=2048, help="MiB of long_header.csv's header")
    p.add_argument("--before", default=None, help="another interpreter to measure as well")
    p.add_argument("--timeout", type=float, default=600, help="seconds before a run is stopped")
    p.add_argument("--work", type=Path, default=HERE / ".work" / "wide", help="where files go")
    p.add_argument("--json", type=Path, default=None, help="write the results here")
    args = p.parse_args(argv)
    if args.columns < 2 or args.header_mb < 1 or args.timeout <= 0:
        p.error("--columns must be >= 2, --header-mb >= 1 and --timeout > 0")
    return args


def write_files(work: Path, columns: int, header_mb: int) -> dict[str, Path]:
    """The three CSV files (kept between runs when their sizes match)."""
    work.mkdir(parents=True, exist_ok=True)
    narrow, wide, long = work / "narrow.csv", work / f"wide-{columns}.csv", work / "long.csv"
    if not narrow.exists():
        import random

        rng = random.Random(0)
        with open(narrow, "w") as f:
            f.write(",".join(f"c{i}" for i in range(30)) + ",y\n")
            for r in range(200):
                f.write(",".join(f"{rng.gauss(0, 1):.4f}" for _ in range(30)) + f",{r % 2}\n")
    if not wide.exists():
        with open(wide, "w") as f:
            f.write(",".join(f"c{i}" for i in range(columns)) + ",y\n")
            row = ",".join(["1"] * columns)
            for r in range(20):
                f.write(f"{row},{r % 2}\n")
    size = header_mb * 2**20
    if not long.exists() or long.stat().st_size != size + 3:
        with open(long, "w") as f:
            chunk = "x" * 2**20
            for _ in range(header_mb):
                f.write(chunk)
            f.write("\n1\n")
    return {"narrow": narrow, "wide": wide, "long_header": long}


def run(python: str, path: Path, work: Path, timeout: float) -> dict[str, Any]:
    """One ``python -m automl`` on ``path``: exit code, wall seconds, peak RSS in MiB."""
    import threading

    args = [python, "-m", "automl", "model=forest", "data=csv", f"data.path={path}"]
    args += ["data.target=y", "sweep=none", "model.n_estimators=20"]
    args += [f"hydra.run.dir={work / 'runs' / path.stem}"]
    log = work / "stderr.txt"
    start = time.perf_counter()
    with open(log, "wb") as err:
        proc = subprocess.Popen(args, cwd=work, stdout=subprocess.DEVNULL, stderr=err)
        timer = threading.Timer(timeout, proc.kill)
        timer.start()
        # wait4 reaps the child and returns its own resource usage (ru_maxrss: KiB on Linux).
        _, status, usage = os.wait4(proc.pid, 0)
        timer.cancel()
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)  # reaped above, not by Popen
    lines = log.read_text(errors="replace").strip().splitlines()
    return {
        "exit": proc.returncode,
        "wall_s": round(wall, 2),
        "peak_mib": round(usage.ru_maxrss / 1024, 1),
        "last_line": lines[-1][:160] if lines else "",
    }


def main(argv=None) -> int:
    args = parse_args(argv)
    files = write_files(args.work, args.columns, args.header_mb)
    pythons = {"after": sys.executable}
    if args.before:
        pythons = {"before": args.before, **pythons}
    results: dict[str, dict[str, Any]] = {}
    for name, path in files.items():
        for label, python in pythons.items():  # interleaved: the same load for both
            results[f"{label}/{name}"] = run(python, path, args.work, args.timeout)
            print(f"{label:6} {name:12} {results[f'{label}/{name}']}", flush=True)
    print()
    print(f"{'run':22} {'exit':>4} {'wall s':>8} {'peak MiB':>9} {'wall/base':>9} {'mem/base':>9}")
    for key, r in results.items():
        base = results[f"{key.split('/')[0]}/narrow"]
        wall_ratio = r["wall_s"] / base["wall_s"]
        mem_ratio = r["peak_mib"] / base["peak_mib"]
        print(
            f"{key:22} {r['exit']:>4} {r['wall_s']:>8.1f} {r['peak_mib']:>9.0f} "
            f"{wall_ratio:>9.2f} {mem_ratio:>9.2f}"
        )
    print(f"load: {open('/proc/loadavg').read().strip()}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

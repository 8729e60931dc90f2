"""CSV output: rnnkit's writer (``rnnkit.data.predict_stream.csv_text``) against pandas' ``to_csv``.

``rnnkit predict`` hands its output writer one frame per input chunk. This script builds the
frames a forecast over a large file produces (by default 1,600,000 rows in chunks of 200,000:
a string id, a date, seven float64 horizons, as the quickstart config writes them) and the frames
of a classification (a string id and label, three float32 probabilities), then writes each chunk
to CSV text both ways, alternating, in one process (no TensorFlow involved):

- ``rnnkit``: ``csv_text(frame, header=...)``, what ``OutputWriter`` writes when it applies;
- ``pandas``: ``frame.to_csv(index=False, header=...)``, what it wrote before.

Both texts are compared character for character on every repeat; the table gives rows per second
(median, min and max of the repeats) and the ratio.

    python benchmarks/csv_output.py             # 1.6M forecast rows, 3 repeats
    python benchmarks/csv_output.py --quick     # 400k rows, 2 repeats
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import fmt, header, med, table

CHUNK = 200_000  # rnnkit predict's default --chunk-rows


def forecast_frames(rows: int, rng: np.random.Generator) -> list[pd.DataFrame]:
    """A forecast's output: store ids, daily dates, seven horizons around 100 in float64."""
    frames = []
    for start in range(0, rows, CHUNK):
        n = min(CHUNK, rows - start)
        frame = {
            "store": np.char.add("S", (np.arange(start, start + n) // 730).astype(str)).astype(object),
            "date": pd.Timestamp("2023-01-28") + pd.to_timedelta(np.arange(n) % 730, unit="D"),
        }
        frame.update({f"demand_h{k}": rng.normal(100, 20, n) for k in range(1, 8)})
        frames.append(pd.DataFrame(frame))
    return frames


def classify_frames(rows: int, rng: np.random.Generator) -> list[pd.DataFrame]:
    """A classification's output: ids, a label, three float32 probabilities."""
    frames = []
    for start in range(0, rows, CHUNK):
        n = min(CHUNK, rows - start)
        p = rng.dirichlet(np.ones(3), n).astype(np.float32)
        labels = np.asarray(["Running", "Standing", "Walking"], dtype=object)
        frame = {"recording": np.char.add("r", np.arange(start, start + n).astype(str)).astype(object)}
        frame.update({"activity": labels[p.argmax(axis=1)], "p_Running": p[:, 0], "p_Standing": p[:, 1], "p_Walking": p[:, 2]})
        frames.append(pd.DataFrame(frame))
    return frames


def write_all(frames: list[pd.DataFrame], contender: str) -> tuple[float, list[str]]:
    from rnnkit.data.predict_stream import csv_text

    start = time.perf_counter()
    texts = []
    for index, frame in enumerate(frames):
        if contender == "rnnkit":
            text = csv_text(frame, header=index == 0)
            assert text is not None, "rnnkit's writer declined a frame it should write"
        else:
            text = frame.to_csv(index=False, header=index == 0)
        texts.append(text)
    return time.perf_counter() - start, texts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_600_000, help="forecast rows (classification: the same)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="400,000 rows, 2 repeats")
    args = parser.parse_args()
    if args.quick:
        args.rows, args.repeats = 400_000, 2
    rng = np.random.default_rng(0)
    jobs = {"forecast": forecast_frames(args.rows, rng), "classify": classify_frames(args.rows, rng)}
    rates: dict[tuple[str, str], list[float]] = {(job, c): [] for job in jobs for c in ("rnnkit", "pandas")}
    for repeat in range(args.repeats):
        for job, frames in jobs.items():
            order = ("rnnkit", "pandas") if repeat % 2 == 0 else ("pandas", "rnnkit")
            texts = {}
            for contender in order:
                seconds, texts[contender] = write_all(frames, contender)
                rates[job, contender].append(args.rows / seconds)
                print(f"repeat {repeat + 1} {job} {contender}: {args.rows / seconds:,.0f} rows/s", file=sys.stderr)
            if texts["rnnkit"] != texts["pandas"]:
                sys.exit(f"{job}: rnnkit's CSV text differs from pandas'")
    print(
        header(
            "CSV output: rnnkit's writer vs pandas to_csv",
            f"{args.rows:,} rows per job in chunks of {CHUNK:,}; identical text checked on every repeat; "
            f"{args.repeats} alternating repeats in one process.",
        )
    )
    rows = []
    for job in jobs:
        ours = med(rates[job, "rnnkit"])
        theirs = med(rates[job, "pandas"])
        for contender, (value, low, high) in (("rnnkit", ours), ("pandas", theirs)):
            rows.append([job, contender, f"{fmt(value)} ({fmt(low)}-{fmt(high)})", f"{ours[0] / value:.2f}x"])
    print(table(["job", "writer", "rows/s median (min-max)", "rnnkit / it"], rows))


if __name__ == "__main__":
    main()

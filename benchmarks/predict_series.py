"""``rnnkit predict`` end to end on forecast inputs of many series: this rnnkit against an earlier commit.

What a user waits for: the whole command, TensorFlow import, reading and cleaning, the model and
writing included. Inputs are generated from the bundled ``data/demand.csv`` (8 stores x 730 days)
and cached under $RNNKIT_BENCH_DIR:

- ``many``: every store's days cut into 40-day pieces, each piece a series of its own, repeated
  400 times under new ids: 57,600 series, 2,304,000 rows.
- ``long``: the file repeated 300 times under new ids: 2,400 series of 730 rows, 1,752,000 rows.

The run folder is ``configs/quickstart.yaml`` trained for one epoch (LSTM(32), window 28), made
once and cached. Each contender runs ``/usr/bin/time -f "%M %e" rnnkit predict RUN --input X
--output out.csv`` in a fresh process with ``RNNKIT_BENCH_SOURCE`` set to a ``git archive``
snapshot of its commit (the working tree when ``--rev`` is not given), contenders alternating
repeat by repeat. The outputs of the two are compared on every repeat: byte for byte, or where a
change moves float rounding (XLA's rounding depends on the batch shape), ids and times exactly and
forecasts to a relative 1e-5 (absolute below 1), the largest difference reported.

    python benchmarks/predict_series.py --base 269e777             # working tree vs 269e777
    python benchmarks/predict_series.py --base 269e777 --rev HEAD --repeats 5
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import CACHE, HERE, ROOT, fmt, header, med, quiet_env, snapshot, table

INPUTS = ("many", "long")


def input_file(name: str) -> Path:
    """The generated input ``name`` (see the module docstring), cached."""
    import pandas as pd

    path = CACHE / f"demand-{name}.csv"
    if path.exists():
        return path
    CACHE.mkdir(parents=True, exist_ok=True)
    frame = pd.read_csv(ROOT / "data" / "demand.csv", dtype={"store": str})
    if name == "many":
        piece = frame.groupby("store").cumcount() // 40
        frame = frame.assign(store=frame["store"] + "-" + piece.astype(str))
        frame = frame[frame.groupby("store")["store"].transform("size") == 40]  # whole pieces only
        copies = 400
    else:
        copies = 300
    frame = pd.concat([frame.assign(store=frame["store"] + f"-{k}") for k in range(copies)], ignore_index=True)
    tmp = path.with_name(path.name + ".tmp")
    frame.to_csv(tmp, index=False)
    os.replace(tmp, path)
    return path


def run_folder() -> Path:
    """The quickstart config trained one epoch (made once with this checkout, and cached)."""
    run = CACHE / "quickstart-1epoch"
    if not (run / "checkpoints" / "best.keras").is_file():
        CACHE.mkdir(parents=True, exist_ok=True)
        subprocess.run(["rm", "-rf", str(run)], check=True)
        command = [sys.executable, str(HERE / "_rnnkit_cli.py"), "train", str(ROOT / "configs" / "quickstart.yaml")]
        command += ["--set", "train.epochs=1", "--run-dir", str(run), "--quiet"]
        subprocess.run(command, check=True, env=quiet_env(), capture_output=True)
    return run


def difference(a: Path, b: Path) -> float:
    """0.0 for identical files, else the largest relative difference of two forecast files whose
    other columns are equal; exits when they differ beyond 1e-5."""
    import numpy as np
    import pandas as pd

    if a.read_bytes() == b.read_bytes():
        return 0.0
    x, y = pd.read_csv(a, dtype={"store": str}), pd.read_csv(b, dtype={"store": str})
    values = [c for c in x.columns if "_h" in c]
    if list(x.columns) != list(y.columns) or not x.drop(columns=values).equals(y.drop(columns=values)):
        sys.exit(f"{a.name}: the two commits wrote different rows")
    relative = np.abs(x[values].to_numpy() - y[values].to_numpy()) / np.maximum(np.abs(y[values].to_numpy()), 1.0)
    if relative.max() > 1e-5:
        sys.exit(f"{a.name}: forecasts differ by up to {relative.max():.2e} (relative)")
    return float(relative.max())


def time_predict(source: Path | None, run: Path, data: Path, out: Path) -> dict:
    """Seconds and peak MiB of one ``rnnkit predict`` with rnnkit from ``source`` (None: this checkout)."""
    env = quiet_env()
    env.pop("RNNKIT_BENCH_SOURCE", None)
    if source is not None:
        env["RNNKIT_BENCH_SOURCE"] = str(source)
    cli = [sys.executable, str(HERE / "_rnnkit_cli.py"), "predict", str(run), "--input", str(data), "--output", str(out)]
    proc = subprocess.run(["/usr/bin/time", "-f", "%M %e", *cli, "--overwrite"], capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr[-2000:])
    kib, seconds = proc.stderr.strip().splitlines()[-1].split()
    return {"seconds": float(seconds), "peak_mib": int(kib) / 1024}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", required=True, help="the earlier commit to compare with")
    parser.add_argument("--rev", help="the commit to measure (default: the working tree)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--inputs", default=",".join(INPUTS), help=f"comma list from {list(INPUTS)}")
    args = parser.parse_args()
    names = args.inputs.split(",")
    if not set(names) <= set(INPUTS):
        parser.error(f"--inputs: any of {list(INPUTS)}")
    contenders = {args.rev or "working tree": snapshot(args.rev) if args.rev else None, args.base: snapshot(args.base)}
    run = run_folder()
    results: dict[tuple[str, str], list[dict]] = {(n, c): [] for n in names for c in contenders}
    differences: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for repeat in range(args.repeats):
            for name in names:
                order = list(contenders)[repeat % 2 :] + list(contenders)[: repeat % 2]
                for contender in order:
                    out = Path(tmp) / f"{name}-{list(contenders).index(contender)}.csv"
                    result = time_predict(contenders[contender], run, input_file(name), out)
                    results[name, contender].append(result)
                    print(f"repeat {repeat + 1} {name} {contender}: {result['seconds']:.1f} s", file=sys.stderr)
                latest = difference(Path(tmp) / f"{name}-0.csv", Path(tmp) / f"{name}-1.csv")
                differences[name] = max(differences.get(name, 0.0), latest)
    print(
        header(
            "rnnkit predict end to end, many series",
            f"the quickstart run (one epoch) over generated inputs; {args.repeats} alternating repeats, one "
            "fresh process each; outputs compared on every repeat (last column: the largest relative "
            "difference of a forecast, 0 where the files were byte for byte equal).",
            rnnkit=f"rnnkit {' against '.join(contenders)}",
        )
    )
    rows = []
    ours, base = list(contenders)
    for name in names:
        for contender in contenders:
            seconds = med(r["seconds"] for r in results[name, contender])
            peak = med(r["peak_mib"] for r in results[name, contender])
            ratio = med(r["seconds"] for r in results[name, base])[0] / seconds[0]
            rows.append(
                [
                    name,
                    contender,
                    f"{fmt(seconds[0], 1)} ({fmt(seconds[1], 1)}-{fmt(seconds[2], 1)})",
                    f"{fmt(peak[0])} ({fmt(peak[1])}-{fmt(peak[2])})",
                    f"{ratio:.2f}x" if contender == ours else "1.00x",
                    f"{differences[name]:.1e}" if differences[name] else "0",
                ]
            )
    headers = ["input", "rnnkit", "seconds median (min-max)", "peak MiB median (min-max)", f"speed vs {base}"]
    print(table([*headers, "output difference"], rows))


if __name__ == "__main__":
    main()

"""Run every rnnkit benchmark in turn and print their markdown tables (docs/performance.md).

    python benchmarks/run_all.py            # full: about 65 minutes on 2 CPU cores
    python benchmarks/run_all.py --quick    # about 30 minutes
    python benchmarks/run_all.py --only train,inference

Each benchmark alternates its contenders and reports medians with min and max; run nothing
else heavy meanwhile. Data is generated under $RNNKIT_BENCH_DIR (default /tmp/rnnkit-bench).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
STEPS = {
    "train": ["train_throughput.py"],  # a, b, c
    "tuning": ["train_throughput.py", "--tuning", "--no-gemm"],  # candidate training settings
    "inference": ["inference.py"],  # d
    # d's goals at a window count where the padded last batch costs about 1%, as in rnnkit
    # predict's 200,000-row chunks, beside the bare forward pass under XLA.
    "goal-d": [
        "inference.py",
        *("--windows", "65836", "--no-gemm", "--repeats", "5"),
        *("--contenders", "rnnkit,keras-predict,torch,bound:matmuls,bound:lstm"),
    ],
    "memory": ["memory.py"],  # e (training), f (predict CLI)
    "pipeline": ["window_pipeline.py", "--batches", "1000", "--keras-batches", "100"],  # e (windows/s)
    "startup": ["startup.py"],  # g
    "tasks": ["tasks.py"],  # the tasks of issue #3: training vs plain Keras
    "task-predict": ["task_predict.py"],  # the tasks of issue #3: prediction vs model.predict, generation
    "csv-output": ["csv_output.py"],  # rnnkit predict's CSV writer vs pandas to_csv
}
# Not in the list: predict_series.py compares two commits of rnnkit (it needs --base).
# --quick: what each step gets instead of its own --quick.
QUICK = {"pipeline": ["--rows", "1000000"], "goal-d": ["--repeats", "3"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller workloads in every benchmark")
    parser.add_argument("--only", help=f"comma list from {','.join(STEPS)}")
    parser.add_argument("--rev", help="benchmark this commit of rnnkit/ (git archive snapshot), not the working tree")
    args = parser.parse_args()
    if args.rev:
        import os

        sys.path.insert(0, str(HERE))
        from _common import snapshot

        os.environ["RNNKIT_BENCH_SOURCE"] = str(snapshot(args.rev))
    failed = []
    for name in args.only.split(",") if args.only else STEPS:
        argv = [sys.executable, str(HERE / STEPS[name][0]), *STEPS[name][1:]]
        if args.quick:
            argv += QUICK.get(name, ["--quick"])
        print(f"\n<!-- {name}: {' '.join(argv[1:])} -->\n", flush=True)
        if subprocess.run(argv, cwd=HERE.parent).returncode != 0:
            failed.append(name)
    if failed:
        sys.exit(f"failed: {', '.join(failed)}")


if __name__ == "__main__":
    main()

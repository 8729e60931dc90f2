"""Start-up: wall time of ``rnnkit --help`` and ``rnnkit validate configs/quickstart.yaml``.

The commands (and two references: a bare ``python -c pass`` and ``python -c "import tensorflow"``)
run as fresh processes, alternating, one run of each per round, after one warm-up round (file
cache). Prints medians with min and max. When hyperfine is installed it is run too, for a second
opinion (it runs each command's repeats back to back).

    python benchmarks/startup.py              # 10 rounds
    python benchmarks/startup.py --quick      # 5 rounds, no hyperfine
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ROOT, header, med, quiet_env, table


def commands() -> dict[str, list[str]]:
    rnnkit = str(Path(sys.executable).with_name("rnnkit"))
    return {
        "rnnkit --help": [rnnkit, "--help"],
        "rnnkit validate configs/quickstart.yaml": [rnnkit, "validate", "configs/quickstart.yaml"],
        'python -c "pass" (reference)': [sys.executable, "-c", "pass"],
        'python -c "import tensorflow" (reference)': [sys.executable, "-c", "import tensorflow"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--no-hyperfine", action="store_true")
    args = parser.parse_args()
    if args.quick:
        args.rounds, args.no_hyperfine = 5, True
    cmds = commands()
    env = quiet_env()
    times: dict[str, list[float]] = {name: [] for name in cmds}
    for round_ in range(args.rounds + 1):
        for name, cmd in cmds.items():
            start = time.perf_counter()
            subprocess.run(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
            if round_:  # round 0 warms the file cache
                times[name].append(time.perf_counter() - start)
    print(header("Start-up", f"{args.rounds} alternating rounds after one warm-up round; wall seconds per command."))
    rows = []
    for name in cmds:
        m = med(times[name])
        rows.append([f"`{name}`", f"{m[0]:.2f}", f"{m[1]:.2f}", f"{m[2]:.2f}"])
    print(table(["command", "s median", "min", "max"], rows))
    hyperfine = shutil.which("hyperfine")
    if hyperfine and not args.no_hyperfine:
        with tempfile.TemporaryDirectory() as tmp:
            export = Path(tmp) / "h.json"
            picked = [n for n in cmds if n.startswith("rnnkit")]
            subprocess.run(
                [hyperfine, "-N", "--warmup", "1", "--runs", str(args.rounds), "--export-json", str(export)]
                + [" ".join(cmds[n]) for n in picked],
                cwd=ROOT,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                check=True,
            )
            data = json.loads(export.read_text())["results"]
        rows = [
            [f"`{n}`", f"{r['median']:.2f}", f"{r['mean']:.2f} ± {r['stddev']:.2f}", f"{r['min']:.2f}", f"{r['max']:.2f}"]
            for n, r in zip(picked, data, strict=True)
        ]
        print("\nhyperfine (-N, --warmup 1):\n")
        print(table(["command", "s median", "mean ± sd", "min", "max"], rows))


if __name__ == "__main__":
    main()

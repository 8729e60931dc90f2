"""Regenerate and check every printed output in README.md from what the commands print now.

    python scripts/readme_outputs.py                    # check (the default): exit 1 if a block differs
    python scripts/readme_outputs.py --write            # rewrite the blocks that differ
    python scripts/readme_outputs.py --only quickstart,activity

In README.md a plain fenced block (three backticks, no language) is a printed output, and the line
just before it names which one: ``<!-- readme-output: NAME -->`` (an HTML comment, invisible on
GitHub). EXAMPLES below holds, for every NAME, the commands that print it, written as the README
writes them. Each example runs in a fresh temporary folder holding copies of configs/ and data/,
with ``rnnkit`` run as ``python -m rnnkit`` of this interpreter on this checkout's code and on the
CPU (the README's numbers are CPU numbers, the same for the same config and seed). A README marker
without an example, an example without a marker, a plain block without a marker, or an example
whose command the README's ``bash`` blocks no longer show is an error (exit 2).

Compared after normalising what legitimately varies: run-folder timestamps (``-20261128-155515``)
and white space at line ends. The temporary folder's path is cut out of what the commands print.
``--write`` leaves blocks that match untouched, so an unchanged output keeps its old timestamp.
Run times on 2 CPU cores: quickstart 27 s, train-log 27 s, predict-wide and predict-long 30 s each,
demand-csv 0 s, activity 13 s, machine 18 s, stories 80 s, sweep 80 s, api 15 s, runs 25 s, errors
11 s; about 6 minutes in all.
"""

from __future__ import annotations

import argparse
import difflib
import glob
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
COPIED = ("configs", "data")  # what every example's temporary folder starts with

MARKER = re.compile(r"<!-- readme-output: (?P<name>[a-z0-9-]+) -->")
FENCE = "```"
TIMESTAMP = re.compile(r"-\d{8}-\d{6}\b")  # run folders: runs/<name>-<YYYYMMDD>-<HHMMSS>


class ReadmeError(ValueError):
    """README.md and EXAMPLES disagree about which blocks exist, or a command did not run as documented."""


# --------------------------------------------------------------------------------------------
# The examples


@dataclass(frozen=True)
class Step:
    """One command, typed as in the README: a leading ``rnnkit`` runs ``python -m rnnkit``, and an
    argument ending in ``-...`` (the README's ``runs/demand-lstm-...``) stands for the one path it starts."""

    command: str
    shown: bool = True  # False: a set-up step whose output is not part of the block
    exit_code: int = 0

    @property
    def argv(self) -> tuple[str, ...]:
        """The command's words after any leading ``NAME=value`` environment settings."""
        words = shlex.split(self.command)
        return tuple(words[len(self.env) :])

    @property
    def env(self) -> dict[str, str]:
        """Leading ``NAME=value`` words (``COLUMNS=80 rnnkit runs``): set for this command."""
        settings = {}
        for word in shlex.split(self.command):
            name, equals, value = word.partition("=")
            if not equals or not re.fullmatch(r"[A-Z_][A-Z0-9_]*", name):
                break
            settings[name] = value
        return settings


@dataclass(frozen=True)
class Example:
    """The commands behind one README output block."""

    steps: tuple[Step, ...]
    stream: str = "stdout"  # the stream the block shows: stdout, stderr, or both (as `> log 2>&1` holds them)
    keep: Callable[[str], str] = lambda text: text  # the part of the output the block shows
    prepare: Callable[[Path], None] = lambda folder: None  # writes extra input files into the folder
    documented: bool = True  # the README's bash blocks show every step's command
    volatile: tuple[str, ...] = ()  # regular expressions of what differs from run to run (timings), masked when comparing


def _first_lines(count: int) -> Callable[[str], str]:
    return lambda text: "".join(text.splitlines(keepends=True)[:count])


def _api_example(folder: Path) -> None:
    # The README's Python example, as the reader would save it.
    text = README.read_text()
    code = re.search(r"^<!-- readme-code: api -->\n```python\n(.*?)^```", text, flags=re.M | re.S)
    if code is None:
        raise ReadmeError("README.md has no <!-- readme-code: api --> ```python block")
    (folder / "example.py").write_text(code.group(1))


def _error_inputs(folder: Path) -> None:
    # A config with a typo, and a predict input whose line 17 holds a bad number.
    config = folder / "configs" / "quickstart.yaml"
    (folder / "configs" / "my.yaml").write_text(config.read_text().replace("cell: lstm", "cell: lstn"))
    lines = (folder / "data" / "demand.csv").read_text().splitlines()[:40]
    lines[16] = ",".join([*lines[16].split(",")[:3], "n/a?"])  # line 17's temperature
    (folder / "data" / "d.csv").write_text("\n".join(lines) + "\n")


# In README order. tests/test_readme.py says which of them the test suite runs.
EXAMPLES: dict[str, Example] = {
    "quickstart": Example((Step("rnnkit train configs/quickstart.yaml"),)),
    "demand-csv": Example((Step("head -n 3 data/demand.csv"),), documented=False),
    "train-log": Example(
        (Step("rnnkit train configs/quickstart.yaml"),),
        stream="both",
        keep=_first_lines(3),
        documented=False,
        volatile=(r"\d+\.\d s", r"ETA [\dhms ]+"),
    ),
    "predict-wide": Example(
        (
            Step("rnnkit train configs/quickstart.yaml", shown=False),
            Step("rnnkit predict runs/demand-lstm-... --input data/demand.csv --output forecasts.csv", shown=False),
            Step("head -n 3 forecasts.csv"),
        )
    ),
    "predict-long": Example(
        (
            Step("rnnkit train configs/quickstart.yaml", shown=False),
            Step("rnnkit predict runs/demand-lstm-... --input data/demand.csv --output steps.csv --format long", shown=False),
            Step("head -n 4 steps.csv"),
        )
    ),
    "activity": Example((Step("rnnkit train configs/activity.yaml"),)),
    "machine": Example((Step("rnnkit train configs/machine.yaml"),)),
    "stories": Example(
        (
            Step("rnnkit train configs/stories.yaml", shown=False),
            Step('rnnkit generate runs/stories-charlm-... --prompt "Ada found" --length 150 --temperature 0.7 --seed 1'),
        )
    ),
    "sweep": Example(
        (
            Step(
                "rnnkit sweep configs/quickstart.yaml --method bayes --trials 8 --set train.epochs=10"
                " --set 'sweep.params.model.cell=[lstm, gru]'"
                " --set 'sweep.params.train.learning_rate={low: 0.0003, high: 0.01, log: true}'"
            ),
        ),
    ),
    "api": Example((Step("python example.py"),), prepare=_api_example),
    "runs": Example(
        (
            Step("rnnkit train configs/quickstart.yaml --set train.epochs=2", shown=False),
            Step("rnnkit train configs/quickstart.yaml --set train.epochs=2 --set model.cell=gru", shown=False),
            Step("rnnkit train configs/activity.yaml --set train.epochs=2", shown=False),
            Step("COLUMNS=80 rnnkit runs"),
        )
    ),
    "errors": Example(
        (
            Step("rnnkit validate configs/my.yaml", exit_code=2),
            Step("rnnkit train configs/quickstart.yaml --set train.epochs=1 --run-dir runs/q", shown=False),
            Step("rnnkit predict runs/q --input data/d.csv --output forecasts.csv", exit_code=3),
        ),
        stream="stderr",
        prepare=_error_inputs,
        documented=False,
    ),
}


# --------------------------------------------------------------------------------------------
# README blocks


@dataclass(frozen=True)
class Block:
    """One marked output block: its body lines are ``lines[first:last]`` of the README."""

    name: str
    first: int
    last: int
    body: str


def read_blocks(text: str) -> dict[str, Block]:
    """Find every marked output block of a README.

    Args:
        text: the README's text.

    Returns:
        The blocks by marker name, in README order.

    Raises:
        ReadmeError: a marker not followed at once by a plain fenced block, a marker used twice, or
            a plain fenced block without a marker (line numbers are 1-based).
    """
    lines = text.splitlines()
    blocks: dict[str, Block] = {}
    index = 0
    while index < len(lines):
        line = lines[index].strip()
        marker = MARKER.fullmatch(line)
        if marker:
            name = marker["name"]
            if index + 1 >= len(lines) or lines[index + 1].strip() != FENCE:
                raise ReadmeError(f"line {index + 1}: marker '{name}' must be followed at once by a plain ``` block")
            if name in blocks:
                raise ReadmeError(f"line {index + 1}: marker '{name}' appears twice")
            last = _closing_fence(lines, index + 1)
            blocks[name] = Block(name, index + 2, last, "\n".join(lines[index + 2 : last]))
            index = last + 1
        elif line.startswith(FENCE):
            if line == FENCE:
                raise ReadmeError(
                    f"line {index + 1}: a plain ``` block (an output) needs a <!-- readme-output: NAME --> line before it"
                )
            index = _closing_fence(lines, index) + 1
        else:
            index += 1
    return blocks


def _closing_fence(lines: list[str], opening: int) -> int:
    for index in range(opening + 1, len(lines)):
        if lines[index].strip() == FENCE:
            return index
    raise ReadmeError(f"line {opening + 1}: ``` block is never closed")


def rewrite(text: str, bodies: dict[str, str]) -> str:
    """Return the README text with the named blocks' bodies replaced (other blocks untouched)."""
    lines = text.splitlines()
    for block in sorted(read_blocks(text).values(), key=lambda b: b.first, reverse=True):
        if block.name in bodies:
            lines[block.first : block.last] = bodies[block.name].splitlines()
    return "\n".join(lines) + ("\n" if text.endswith("\n") else "")


def normalise(text: str, volatile: tuple[str, ...] = ()) -> str:
    """What two outputs must share to count as equal: timestamps and ``volatile`` patterns masked,
    line ends and blank ends trimmed."""
    lines = [TIMESTAMP.sub("-YYYYMMDD-HHMMSS", line).rstrip() for line in text.splitlines()]
    for pattern in volatile:
        lines = [re.sub(pattern, "(varies)", line) for line in lines]
    return "\n".join(lines).strip("\n")


def difference(documented: str, printed: str, name: str) -> str:
    """A unified diff of the normalised texts; empty when they match."""
    volatile = EXAMPLES[name].volatile if name in EXAMPLES else ()
    diff = difflib.unified_diff(
        normalise(documented, volatile).splitlines(),
        normalise(printed, volatile).splitlines(),
        f"README.md ({name})",
        "printed now",
        lineterm="",
    )
    return "\n".join(diff)


def documented_commands(text: str) -> set[tuple[str, ...]]:
    """Every command in the README's ``bash`` blocks as an argv (``.venv/bin/rnnkit`` read as ``rnnkit``)."""
    commands = set()
    for script in re.findall(r"^```bash\n(.*?)^```", text, flags=re.M | re.S):
        for line in script.replace("\\\n", " ").splitlines():
            try:
                words = shlex.split(line, comments=True)
            except ValueError:  # not a command this script runs (an unbalanced quote)
                continue
            command: list[str] = []
            for word in [*words, "&&"]:
                if word != "&&":
                    command.append(word)
                elif command:
                    if Path(command[0]).name == "rnnkit":
                        command[0] = "rnnkit"
                    commands.add(tuple(command))
                    command = []
    return commands


def check_markers(blocks: dict[str, Block], text: str) -> None:
    """Raise ReadmeError unless README markers and EXAMPLES name the same blocks and the README shows their commands."""
    unknown = [name for name in blocks if name not in EXAMPLES]
    missing = [name for name in EXAMPLES if name not in blocks]
    if unknown:
        raise ReadmeError(f"README.md marks {', '.join(unknown)}, which EXAMPLES in {Path(__file__).name} lacks")
    if missing:
        raise ReadmeError(f"README.md has no <!-- readme-output: NAME --> block for {', '.join(missing)}")
    shown = documented_commands(text)
    for name, example in EXAMPLES.items():
        for step in example.steps if example.documented else ():
            if step.argv not in shown:
                raise ReadmeError(f"{name}: README.md's bash blocks no longer show the command {step.command}")


# --------------------------------------------------------------------------------------------
# Running


@dataclass
class Output:
    """What one example printed (temporary folder cut out) and how long its commands took."""

    text: str
    seconds: float


def run_example(name: str, root: Path = ROOT, echo: Callable[[str], None] = lambda line: None) -> Output:
    """Run example ``name`` in a fresh temporary folder and return the part of its output the README shows.

    Args:
        name: a key of EXAMPLES.
        root: the checkout whose configs/, data/ and rnnkit code are used.
        echo: called with each command line before it runs.

    Returns:
        The output, with the temporary folder's path cut out.

    Raises:
        ReadmeError: a command exited with another code than the example expects.
    """
    example = EXAMPLES[name]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(root), os.environ.get("PYTHONPATH")])))
    env["CUDA_VISIBLE_DEVICES"] = ""  # CPU numbers, whatever the machine has
    env["TF_CPP_MIN_LOG_LEVEL"] = "2"
    started = time.perf_counter()
    printed = []
    with tempfile.TemporaryDirectory(prefix="readme-") as temp:
        folder = Path(temp)
        for part in COPIED:
            shutil.copytree(root / part, folder / part)
        example.prepare(folder)
        for step in example.steps:
            echo(step.command)
            argv = [_expand(arg, folder) for arg in step.argv]
            if argv[0] == "rnnkit":
                argv[0:1] = [sys.executable, "-m", "rnnkit"]
            elif argv[0] == "python":
                argv[0] = sys.executable
            both = example.stream == "both"
            done = subprocess.run(
                argv,
                cwd=folder,
                env={**env, **step.env},
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT if both else subprocess.PIPE,
                text=True,
            )
            if done.returncode != step.exit_code:
                tail = "\n".join(done.stderr.strip().splitlines()[-5:])
                raise ReadmeError(f"{name}: {step.command} exited {done.returncode}, expected {step.exit_code}:\n{tail}")
            if step.shown:
                printed.append(done.stdout if both else getattr(done, example.stream))
        text = "".join(printed)
        for path in {str(folder.resolve()), str(folder)}:
            text = text.replace(path + os.sep, "")
    return Output(example.keep(text), time.perf_counter() - started)


def _expand(arg: str, folder: Path) -> str:
    if not arg.endswith("-..."):
        return arg
    matches = glob.glob(glob.escape(arg[:-3]) + "*", root_dir=folder)
    if len(matches) != 1:
        raise ReadmeError(f"{arg} names {len(matches)} paths, not one: {matches}")
    return matches[0]


# --------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    """Check (default) or rewrite README.md's output blocks; returns the exit code (0, 1 a block differs, 2 broken)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--check", action="store_true", help="report differences and exit 1 if any (the default)")
    mode.add_argument("--write", action="store_true", help="rewrite the blocks that differ")
    parser.add_argument("--only", help=f"comma list from {','.join(EXAMPLES)}")
    parser.add_argument("--readme", type=Path, default=README, help="the README to check or rewrite (default: README.md)")
    args = parser.parse_args(argv)
    names = args.only.split(",") if args.only else list(EXAMPLES)
    try:
        text = args.readme.read_text()
        blocks = read_blocks(text)
        check_markers(blocks, text)
        unknown = [name for name in names if name not in EXAMPLES]
        if unknown:
            raise ReadmeError(f"--only: no example {', '.join(unknown)} (choose from {', '.join(EXAMPLES)})")
        differing: dict[str, str] = {}
        for name in names:
            output = run_example(name, echo=lambda command, name=name: print(f"{name}: {command}", flush=True))
            diff = difference(blocks[name].body, output.text, name)
            print(f"{name}: {output.seconds:.1f} s, {'differs' if diff else 'matches'}", flush=True)
            if diff:
                differing[name] = output.text
                if not args.write:
                    print(diff, flush=True)
    except (ReadmeError, OSError) as exc:
        print(f"readme_outputs: error: {exc}", file=sys.stderr)
        return 2
    if args.write:
        if differing:
            args.readme.write_text(rewrite(text, differing))
        print(f"rewrote {len(differing)} block(s) of {args.readme.name}: {', '.join(differing) or 'none'}")
        return 0
    print(f"{len(names) - len(differing)} of {len(names)} block(s) match; differing: {', '.join(differing) or 'none'}")
    return 1 if differing else 0


if __name__ == "__main__":
    sys.exit(main())

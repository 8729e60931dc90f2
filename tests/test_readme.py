"""README.md's printed outputs match what the commands print now (scripts/readme_outputs.py).

The fast examples run here, marked slow because they train: quickstart, demand-csv, activity,
machine, api (the README's Python example, run as a script) and errors, about 85 s together on 2
cores. The others run only through the script, `python scripts/readme_outputs.py --only ...`:
`stories` (train configs/stories.yaml, then generate) and `sweep` (8 trials of the quickstart
model) take about 80 s each; `train-log`, `predict-wide` and `predict-long` each train the
quickstart model again (about 30 s), and `runs` trains three models; together they would more than
triple what this file adds to the suite, for outputs that tests/test_progress.py,
tests/test_cli.py and tests/test_compare.py check on tiny models.
"""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# scripts/ is not a package: load the script as a module (registered first, as dataclasses need).
_spec = importlib.util.spec_from_file_location("readme_outputs", ROOT / "scripts" / "readme_outputs.py")
readme_outputs = sys.modules.setdefault("readme_outputs", importlib.util.module_from_spec(_spec))
_spec.loader.exec_module(readme_outputs)

FAST = ["quickstart", "demand-csv", "activity", "machine", "api", "errors"]
SCRIPT_ONLY = ["train-log", "predict-wide", "predict-long", "stories", "sweep", "runs"]

TINY = """# Title

<!-- readme-output: one -->
```
run: runs/demo-20261128-155515
value 1
```

```bash
.venv/bin/rnnkit train a.yaml && rnnkit sweep a.yaml --set 'x=[1, 2]' \\
  --set y=2   # a comment
```

<!-- readme-output: two -->
```
old
```
"""


def test_every_example_is_run_by_the_tests_or_named_as_script_only():
    assert sorted(FAST + SCRIPT_ONLY) == sorted(readme_outputs.EXAMPLES)


def test_readme_marks_every_example_and_shows_its_commands():
    text = (ROOT / "README.md").read_text()
    blocks = readme_outputs.read_blocks(text)
    readme_outputs.check_markers(blocks, text)  # raises on any mismatch
    assert list(blocks) == list(readme_outputs.EXAMPLES)


def test_blocks_are_found_and_rewritten_in_place():
    blocks = readme_outputs.read_blocks(TINY)
    assert list(blocks) == ["one", "two"]
    assert blocks["one"].body == "run: runs/demo-20261128-155515\nvalue 1"
    assert blocks["two"].body == "old"
    rewritten = readme_outputs.rewrite(TINY, {"two": "new 1\nnew 2"})
    assert rewritten == TINY.replace("```\nold\n```", "```\nnew 1\nnew 2\n```")
    assert readme_outputs.read_blocks(rewritten)["one"] == blocks["one"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("<!-- readme-output: a -->\n\n```\nx\n```\n", "marker 'a' must be followed at once"),
        ("<!-- readme-output: a -->\n```bash\nx\n```\n", "marker 'a' must be followed at once"),
        ("<!-- readme-output: a -->\n```\nx\n```\n<!-- readme-output: a -->\n```\ny\n```\n", "line 5: marker 'a' appears twice"),
        ("text\n\n```\nprinted\n```\n", "line 3: a plain ``` block (an output) needs a <!-- readme-output: NAME --> line"),
        ("<!-- readme-output: a -->\n```\nnever closed\n", "line 2: ``` block is never closed"),
    ],
)
def test_broken_markers_are_named_with_their_line(text, message):
    with pytest.raises(readme_outputs.ReadmeError, match=re.escape(message)):
        readme_outputs.read_blocks(text)


def test_commands_are_read_from_bash_blocks_as_typed():
    commands = readme_outputs.documented_commands(TINY)
    assert ("rnnkit", "train", "a.yaml") in commands
    assert ("rnnkit", "sweep", "a.yaml", "--set", "x=[1, 2]", "--set", "y=2") in commands


def test_normalise_masks_run_timestamps_and_line_end_space_only():
    printed = "\nrun: runs/demand-lstm-20261204-170025  \nval  4.373\n\n"
    documented = "run: runs/demand-lstm-20261128-155515\nval  4.373"
    assert readme_outputs.normalise(printed) == "run: runs/demand-lstm-YYYYMMDD-HHMMSS\nval  4.373"
    assert readme_outputs.difference(documented, printed, "x") == ""
    assert "-val  4.373\n+val  4.374" in readme_outputs.difference(documented, printed.replace("4.373", "4.374"), "x")
    assert readme_outputs.normalise("val 4.373") != readme_outputs.normalise("val  4.373")


def test_examples_run_in_a_temporary_folder_whose_path_is_cut_out(monkeypatch):
    # An argument ending in "-..." names the one path it starts, as the README's runs/demand-lstm-... does.
    script = "import os, sys; print(os.path.join(os.getcwd(), sys.argv[1])); print(*sorted(os.listdir()))"
    example = readme_outputs.Example(
        (readme_outputs.Step(f"{sys.executable} -c '{script}' runs/demo-..."),),
        prepare=lambda folder: (folder / "runs" / "demo-20261128-155515").mkdir(parents=True),
    )
    monkeypatch.setitem(readme_outputs.EXAMPLES, "demo", example)
    output = readme_outputs.run_example("demo")
    assert output.text == "runs/demo-20261128-155515\nconfigs data runs\n"


def test_an_unexpected_exit_code_is_an_error_naming_the_command(monkeypatch):
    step = readme_outputs.Step(f"{sys.executable} -c 'import sys; sys.exit(\"rnnkit: error: boom\")'", exit_code=0)
    monkeypatch.setitem(readme_outputs.EXAMPLES, "demo", readme_outputs.Example((step,)))
    with pytest.raises(readme_outputs.ReadmeError, match=r"demo: .* exited 1, expected 0:\nrnnkit: error: boom"):
        readme_outputs.run_example("demo")


def test_check_exits_1_on_a_stale_block_and_write_fixes_it(tmp_path, capsys):
    readme = tmp_path / "README.md"
    text = (ROOT / "README.md").read_text()
    block = readme_outputs.read_blocks(text)["demand-csv"]
    readme.write_text(readme_outputs.rewrite(text, {"demand-csv": block.body.replace("114.33", "114.34")}))
    assert readme_outputs.main(["--readme", str(readme), "--only", "demand-csv"]) == 1
    assert "-S01,2023-01-01,114.34,4.9\n+S01,2023-01-01,114.33,4.9" in capsys.readouterr().out
    assert readme_outputs.main(["--readme", str(readme), "--only", "demand-csv", "--write"]) == 0
    assert readme.read_text() == text


@pytest.mark.slow
@pytest.mark.parametrize("name", FAST)
def test_documented_output_is_what_the_command_prints(name):
    block = readme_outputs.read_blocks((ROOT / "README.md").read_text())[name]
    output = readme_outputs.run_example(name)
    assert readme_outputs.difference(block.body, output.text, name) == ""

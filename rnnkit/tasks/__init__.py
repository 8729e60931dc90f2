"""Tasks: what each of forecast, classify, tag and generate does with data, model and metrics.

Each task is an object with the same methods (see :class:`rnnkit.tasks.base.Task`); the
registry maps the config's ``task`` value to it, and :mod:`rnnkit.training` runs any of them
the same way. TensorFlow is imported only inside the methods that need it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rnnkit.data.schema import load_schema
from rnnkit.errors import RunError
from rnnkit.tasks.base import Task
from rnnkit.tasks.forecast import ForecastTask
from rnnkit.tasks.generate import GenerateTask
from rnnkit.tasks.sequence import SequenceTask

TASKS: dict[str, Task] = {
    "forecast": ForecastTask(),
    "classify": SequenceTask("classify"),
    "tag": SequenceTask("tag"),
    "generate": GenerateTask(),
}


def get_task(name: str) -> Task:
    """The task object for a config's ``task`` value."""
    return TASKS[name]


def load_preprocessor(path: Path) -> tuple[Task, Any]:
    """Read schema.json and rebuild the preprocessor of the task that wrote it.

    Raises:
        RunError: missing, unreadable, or of an unknown task.
    """
    data = load_schema(path)
    name = data.get("task", "forecast") if isinstance(data, dict) else None
    if name not in TASKS:
        raise RunError(f"{path}: unknown task {name!r}; this rnnkit knows {', '.join(TASKS)}")
    task = TASKS[name]
    return task, task.preprocessor_class.from_dict(data, str(path))

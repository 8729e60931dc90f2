"""The tf.distribute strategy behind ``train.distribute``, and which worker writes the run folder.

``none`` is TensorFlow's default strategy (one device); ``mirrored`` replicates the model on every
local GPU (on a machine without one, on the CPU); ``multi_worker`` spans the machines that
``TF_CONFIG`` lists, every one of them running the same ``rnnkit train`` command. All workers
train in lockstep and end with identical weights; only the chief (``chief`` task, or worker 0
when the cluster has none) writes the run folder.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass

from rnnkit.errors import ConfigError


@dataclass(frozen=True)
class Worker:
    """This process's place in the cluster."""

    index: int = 0
    count: int = 1
    chief: bool = True

    def describe(self) -> str:
        return "chief" if self.chief else f"worker {self.index} of {self.count}"


def check_tf_config(distribute: str) -> Worker:
    """Read ``TF_CONFIG`` for ``multi_worker`` (without TensorFlow) and say who this process is.

    Raises:
        ConfigError: ``multi_worker`` without a usable ``TF_CONFIG``.
    """
    if distribute != "multi_worker":
        return Worker()
    text = os.environ.get("TF_CONFIG", "")
    hint = 'expected JSON like {"cluster": {"worker": ["host1:port", "host2:port"]}, "task": {"type": "worker", "index": 0}}'
    if not text.strip():
        raise ConfigError(f"train.distribute is multi_worker but the TF_CONFIG environment variable is not set; {hint}")
    try:
        spec = json.loads(text)
        cluster, task = spec["cluster"], spec["task"]
        kind, index = task["type"], int(task["index"])
        workers = list(cluster.get("worker", []))
        chiefs = list(cluster.get("chief", []))
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ConfigError(f"TF_CONFIG: cannot read it ({type(exc).__name__}: {exc}); {hint}") from None
    members = {"worker": workers, "chief": chiefs}
    if kind not in members or not 0 <= index < len(members[kind]):
        raise ConfigError(
            f"TF_CONFIG: task {kind!r} index {index} is not in the cluster (chief: {len(chiefs)}, worker: {len(workers)}); {hint}"
        )
    chief = kind == "chief" or (kind == "worker" and index == 0 and not chiefs)
    position = index + (len(chiefs) if kind == "worker" else 0)
    return Worker(index=position, count=len(workers) + len(chiefs), chief=chief)


def make_strategy(tf, distribute: str):
    """The strategy for ``train.distribute``; call before TensorFlow runs its first op
    (the multi-worker strategy configures collective ops at start-up)."""
    if distribute == "mirrored":
        return tf.distribute.MirroredStrategy()
    if distribute == "multi_worker":
        return tf.distribute.MultiWorkerMirroredStrategy()
    return tf.distribute.get_strategy()


def finish_together(tf, strategy) -> None:
    """Return once every worker of a multi-worker run gets here, so none exits while another (the
    chief, evaluating and plotting) still runs: the collective runtime reports a worker that
    stops early as crashed."""
    if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return

    def arrive():
        return tf.distribute.get_replica_context().all_reduce("SUM", 1.0)

    @tf.function
    def barrier():
        return strategy.run(arrive)

    strategy.experimental_local_results(barrier())[0].numpy()


def gpu_warnings(tf, cell: str, recurrent_dropout: float) -> list[str]:
    """Settings that keep a recurrent layer off its cuDNN kernel, when a GPU would run it."""
    if not tf.config.list_physical_devices("GPU"):
        return []
    warnings = []
    if recurrent_dropout > 0:
        warnings.append(
            "model.recurrent_dropout is above 0, which rules out the cuDNN kernels: the GPU runs the generic, "
            "several times slower loop; use model.dropout instead"
        )
    if cell == "simple":
        warnings.append("model.cell simple has no cuDNN kernel; lstm and gru train several times faster on a GPU")
    return warnings

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
import signal
import socket
import threading
import time
from dataclasses import dataclass

from rnnkit.errors import ConfigError, ResourceError

# While the cluster forms, a line every this many seconds says which workers have not answered.
WAIT_REPORT_SECONDS = 15


@dataclass(frozen=True)
class Worker:
    """This process's place in the cluster; ``peers``: ``(name, "host:port")`` of every other task."""

    index: int = 0
    count: int = 1
    chief: bool = True
    address: str = ""  # this task's "host:port" in the cluster
    peers: tuple[tuple[str, str], ...] = ()

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
    members = {"chief": chiefs, "worker": workers}
    for role, addresses in members.items():
        for number, address in enumerate(addresses):
            host, _, port = str(address).rpartition(":")
            if not host or not port.isdigit() or not 0 < int(port) < 65536:
                raise ConfigError(f"TF_CONFIG: cluster {role} {number} is {address!r}; expected host:port; {hint}")
    if kind not in members or not 0 <= index < len(members[kind]):
        raise ConfigError(
            f"TF_CONFIG: task {kind!r} index {index} is not in the cluster (chief: {len(chiefs)}, worker: {len(workers)}); {hint}"
        )
    chief = kind == "chief" or (kind == "worker" and index == 0 and not chiefs)
    position = index + (len(chiefs) if kind == "worker" else 0)
    peers = tuple(
        (f"{role} {number}", str(address))
        for role, addresses in members.items()
        for number, address in enumerate(addresses)
        if (role, number) != (kind, index)
    )
    address = str(members[kind][index])
    return Worker(index=position, count=len(workers) + len(chiefs), chief=chief, address=address, peers=peers)


def wait_for_cluster(worker: Worker, timeout: float, report=None) -> None:
    """Return once every other worker of the cluster answers on its address, within ``timeout`` seconds.

    TensorFlow's multi-worker strategy waits for its peers in native code that holds the
    interpreter, where no timeout, signal handler or Python thread can run: a worker whose peer
    never starts would wait forever. So the workers meet before TensorFlow starts: each listens on
    its own address (so that the others see it) while it tries theirs, then lets the address go
    to TensorFlow's server.

    Args:
        worker: this process's place in the cluster (``check_tf_config``).
        timeout: seconds to wait (``train.worker_timeout``).
        report: called every WAIT_REPORT_SECONDS with a line naming the workers still missing.

    Raises:
        ResourceError: a worker did not answer in time, or this worker cannot listen on its address.
    """
    if not worker.peers:
        return
    try:
        listener = socket.create_server(("", _split_address(worker.address)[1]))
    except OSError as exc:
        raise ResourceError(
            f"TF_CONFIG: this worker cannot listen on its address {worker.address}: {exc.strerror or exc}"
        ) from None
    try:
        start = time.monotonic()
        next_report = WAIT_REPORT_SECONDS
        missing = _unreachable(worker.peers)
        while missing:
            waited = time.monotonic() - start
            if waited >= timeout:
                raise ResourceError(
                    f"TF_CONFIG: {', '.join(missing)} did not answer within {timeout:g} s (train.worker_timeout); start the "
                    "same rnnkit train command on every machine of the cluster, and check their addresses and firewalls"
                )
            if report is not None and waited >= next_report:
                next_report += WAIT_REPORT_SECONDS
                report(f"waiting for the cluster: {', '.join(missing)} ({waited:.0f} s of {timeout:g} s)")
            time.sleep(0.5)
            missing = _unreachable(worker.peers)
    finally:
        listener.close()


def make_strategy(tf, distribute: str):
    """The strategy for ``train.distribute``; call before TensorFlow runs its first op
    (the multi-worker strategy configures collective ops at start-up) and, for
    ``multi_worker``, after :func:`wait_for_cluster`. While the multi-worker strategy connects,
    SIGINT and SIGTERM end the process at once, as they would any program waiting in native code
    (nothing has been written yet)."""
    if distribute == "mirrored":
        return tf.distribute.MirroredStrategy()
    if distribute == "multi_worker":
        in_main = threading.current_thread() is threading.main_thread()
        handlers = {sig: signal.signal(sig, signal.SIG_DFL) for sig in (signal.SIGINT, signal.SIGTERM)} if in_main else {}
        try:
            return tf.distribute.MultiWorkerMirroredStrategy()
        finally:
            for sig, handler in handlers.items():
                signal.signal(sig, handler)
    return tf.distribute.get_strategy()


def _unreachable(peers) -> list[str]:
    """Peers whose address takes no TCP connection now, as "worker 1 at host:port"."""
    missing = []
    for name, address in peers:
        try:
            socket.create_connection(_split_address(address), timeout=2.0).close()
        except (OSError, ValueError):
            missing.append(f"{name} at {address}")
    return missing


def _split_address(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    return host.strip("[]"), int(port)


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

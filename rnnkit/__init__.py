"""rnnkit: train, evaluate and apply recurrent neural networks on sequence data from YAML configs.

The Python API (:mod:`rnnkit.api`): ``rnnkit.train(config)`` and ``rnnkit.load_run(path)`` return a
:class:`~rnnkit.api.Run`; ``rnnkit.resume(path)`` continues one. They are loaded on first use, so
that ``import rnnkit`` and ``rnnkit --help`` stay instant.
"""

__version__ = "0.1.0"
__all__ = ["Run", "__version__", "load_run", "resume", "train"]

_API = ("Run", "load_run", "resume", "train")


def __getattr__(name: str):
    if name in _API:
        from rnnkit import api

        return getattr(api, name)
    raise AttributeError(f"module 'rnnkit' has no attribute {name!r}")

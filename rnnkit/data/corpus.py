"""A plain text corpus for language modelling: tokens, vocabulary, chronological splits.

The text is read whole (a corpus for a character model is megabytes, not gigabytes), tokenized,
and split by position: the last ``split.test`` fraction is the test part, the ``split.val``
fraction before it validation. The vocabulary comes from the training part only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from rnnkit.config import Config
from rnnkit.data.schema import SCHEMA_VERSION, SchemaRecord
from rnnkit.data.text import OOV_ID, Vocabulary, build_vocabulary, tokenize
from rnnkit.errors import DataError
from rnnkit.files import describe_os_error, regular_file

SPLITS = ("train", "val", "test")


@dataclass
class CorpusPreprocessor(SchemaRecord):
    """What schema.json holds for generate runs."""

    tokenize: str
    lowercase: bool
    vocab: list[str]
    window: int
    stride: int
    unigram: list[float] = field(default_factory=list)  # training frequency of each id (baseline)
    sources: dict[str, str] = field(default_factory=dict)
    task: str = "generate"
    schema_version: int = SCHEMA_VERSION

    @property
    def targets(self) -> list[str]:
        return []

    def vocabulary(self) -> Vocabulary:
        return Vocabulary(self.vocab)


@dataclass
class Corpus:
    """Token ids of the whole text and the window origins of each split."""

    ids: np.ndarray  # (tokens,) int32
    bounds: dict[str, tuple[int, int]]  # split -> [start, end) token positions
    origins: dict[str, np.ndarray]
    warnings: list[str] = field(default_factory=list)


def read_text(path: str | Path) -> str:
    """A whole UTF-8 text file.

    Raises:
        DataError: missing, a directory, empty, or not UTF-8.
    """
    text_path = str(path)
    if "://" in text_path:
        raise DataError(f"{text_path}: URLs are not read; rnnkit reads local files only")
    path = regular_file(path, DataError, "data file")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not UTF-8 text near byte {exc.start}; save the file as UTF-8") from None
    except OSError as exc:
        raise DataError(f"{path}: cannot read: {describe_os_error(exc)}") from None
    if not text.strip():
        raise DataError(f"{path}: file is empty; expected text to learn from")
    return text


def prepare_corpus(config: Config, pre: CorpusPreprocessor | None = None) -> tuple[CorpusPreprocessor, Corpus]:
    """Tokenize, split and encode the text; fit the vocabulary on the training part.

    Raises:
        DataError: unreadable file, or too little text for one training window.
    """
    data = config.data
    parts = [tokenize(read_text(p), data.tokenize, data.lowercase) for p in (data.path, data.val_path, data.test_path) if p]
    tokens = [t for part in parts for t in part]
    n = len(tokens)
    if data.val_path or data.test_path:
        sizes = [len(p) for p in parts]
        starts = np.cumsum([0, *sizes])
        names = ["train"] + [s for s, p in (("val", data.val_path), ("test", data.test_path)) if p]
        bounds = {name: (int(starts[i]), int(starts[i + 1])) for i, name in enumerate(names)}
        for name in SPLITS:
            bounds.setdefault(name, (n, n))
    else:
        n_test, n_val = round(n * data.split.test), round(n * data.split.val)
        bounds = {"train": (0, n - n_val - n_test), "val": (n - n_val - n_test, n - n_test), "test": (n - n_test, n)}
    if pre is None:
        train_tokens = tokens[bounds["train"][0] : bounds["train"][1]]
        vocab = build_vocabulary([train_tokens], data.vocab_size)
        ids = np.asarray(Vocabulary(vocab).encode(train_tokens), dtype=np.int64)
        counts = np.bincount(ids, minlength=len(vocab) + 2).astype(np.float64) + 1.0  # add-one smoothing
        counts[0] = 0.0
        pre = CorpusPreprocessor(
            data.tokenize, data.lowercase, vocab, data.window, data.stride, unigram=(counts / counts.sum()).tolist()
        )
    ids = np.asarray(pre.vocabulary().encode(tokens), dtype=np.int32)
    corpus = Corpus(ids, bounds, {})
    for name in SPLITS:
        # Training windows at the configured stride; held-out windows tile their part so each
        # token is predicted once.
        stride = pre.stride if name == "train" else pre.window
        corpus.origins[name] = lm_origins(bounds[name], pre.window, stride, from_start=name == "train")
    if len(corpus.origins["train"]) == 0:
        raise DataError(
            f"{data.path}: no training window: the training part has {bounds['train'][1] - bounds['train'][0]} tokens, "
            f"data.window + 1 = {pre.window + 1} are needed"
        )
    oov = float(np.mean(ids[bounds["val"][0] :] == OOV_ID)) if bounds["val"][0] < n else 0.0
    if oov > 0.05:
        corpus.warnings.append(f"{oov:.0%} of held-out tokens are outside the vocabulary; raise data.vocab_size")
    return pre, corpus


def lm_origins(bounds: tuple[int, int], window: int, stride: int, from_start: bool) -> np.ndarray:
    """Positions of the last input token of each window whose next-token targets lie in ``bounds``.

    Held-out windows (``from_start=False``) may read context from before their part, like
    forecasting's test windows; their targets stay inside it.
    """
    start, end = bounds
    first = start + window - 1 if from_start else max(window - 1, start + window - 2)
    last = end - 2
    if last < first:
        return np.zeros(0, dtype=np.int64)
    return np.arange(first, last + 1, stride, dtype=np.int64)


def summarize_corpus(pre: CorpusPreprocessor, corpus: Corpus) -> dict[str, Any]:
    """Counts for ``rnnkit validate``."""
    return {
        "tokens": {name: int(end - start) for name, (start, end) in corpus.bounds.items()},
        "windows": {name: len(o) for name, o in corpus.origins.items()},
        "vocabulary": len(pre.vocab) + 2,
        "tokenize": pre.tokenize,
        "warnings": list(corpus.warnings),
    }

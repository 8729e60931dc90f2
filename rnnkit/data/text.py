"""Text: tokenizing by character or word, and vocabularies built on training text only.

Ids 0 and 1 are reserved: 0 pads (and is masked), 1 stands for any token outside the vocabulary.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable

PAD_ID = 0
OOV_ID = 1
_WORD = re.compile(r"\w+|[^\w\s]", re.UNICODE)


def tokenize(text: str, mode: str, lowercase: bool = False) -> list[str]:
    """Split ``text`` into characters (``mode="char"``) or words and punctuation (``"word"``)."""
    if lowercase:
        text = text.lower()
    return list(text) if mode == "char" else _WORD.findall(text)


def join_tokens(tokens: Iterable[str], mode: str) -> str:
    """Inverse of :func:`tokenize` as far as it goes: characters concatenate, words take spaces."""
    return "".join(tokens) if mode == "char" else " ".join(tokens)


def build_vocabulary(token_lists: Iterable[Iterable[str]], size: int) -> list[str]:
    """The ``size - 2`` most frequent tokens (ties broken by first appearance), for ids 2, 3, ...

    Args:
        token_lists: tokens of the training rows only.
        size: vocabulary size including the two reserved ids.
    """
    counts: Counter[str] = Counter()
    for tokens in token_lists:
        counts.update(tokens)
    return [token for token, _ in counts.most_common(max(0, size - 2))]


class Vocabulary:
    """Maps tokens to ids and back; unknown tokens map to OOV_ID."""

    def __init__(self, tokens: list[str]) -> None:
        self.tokens = list(tokens)
        self._ids = {token: index + 2 for index, token in enumerate(self.tokens)}

    def __len__(self) -> int:
        return len(self.tokens) + 2

    def encode(self, tokens: Iterable[str]) -> list[int]:
        return [self._ids.get(token, OOV_ID) for token in tokens]

    def decode(self, ids: Iterable[int]) -> list[str]:
        return ["" if i == PAD_ID else "\ufffd" if i == OOV_ID else self.tokens[i - 2] for i in ids]

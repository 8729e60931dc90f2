"""Language modelling on plain text, and sampling from it one token at a time through the state."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from rnnkit.config import Config
from rnnkit.data.corpus import Corpus, CorpusPreprocessor, prepare_corpus, read_text, summarize_corpus
from rnnkit.data.text import OOV_ID, PAD_ID, join_tokens, tokenize
from rnnkit.errors import ConfigError, DataError
from rnnkit.metrics import language_model_metrics
from rnnkit.tasks.base import Datasets, FileEvaluation, Task, epoch_datasets, softmax

EVAL_BATCH = 256


class GenerateTask(Task):
    name = "generate"
    preprocessor_class = CorpusPreprocessor
    metrics = ("accuracy",)

    def prepare(self, config: Config, pre=None):
        return prepare_corpus(config, pre)

    def summarize(self, config: Config, pre: CorpusPreprocessor, data: Corpus) -> dict[str, Any]:
        return summarize_corpus(pre, data)

    def examples(self, data: Corpus, split: str) -> int:
        return len(data.origins.get(split, ()))

    def model_kwargs(self, pre: CorpusPreprocessor) -> dict[str, Any]:
        size = len(pre.vocab) + 2
        return {
            "input_features": 1,
            "output_steps": 1,
            "output_dim": size,
            "window": pre.window,
            "output_mode": "sequence",
            "vocab_size": size,
        }

    def loss(self, keras, config: Config):
        return keras.losses.SparseCategoricalCrossentropy(from_logits=True)

    def datasets(self, config: Config, pre: CorpusPreprocessor, data: Corpus, initial_epoch: int) -> Datasets:
        from rnnkit.data.seq_pipeline import TokenWindows

        windows = TokenWindows(data.ids, pre.window)
        return epoch_datasets(
            config,
            windows,
            data.origins["train"],
            val=data.origins.get("val"),
            initial_epoch=initial_epoch,
            eval_batch=EVAL_BATCH,
        )

    def evaluate(self, model, pre: CorpusPreprocessor, data: Corpus, split: str):
        import tensorflow as tf

        from rnnkit.data.pipeline import ordered_dataset
        from rnnkit.data.seq_pipeline import TokenWindows

        origins = data.origins.get(split)
        if origins is None or len(origins) == 0:
            return None
        total, count, correct = 0.0, 0, 0
        unigram = np.asarray(pre.unigram)
        baseline_total = 0.0
        # One batch at a time: a batch's logits are (batch, window, vocabulary), about 1 GB at
        # batch 256, window 48 and 20,000 words, so a second batch in flight would double that.
        infer = self.compiled_pass(model, tf.TensorSpec((None, pre.window), tf.int32))
        for x, y in ordered_dataset(TokenWindows(data.ids, pre.window), origins, EVAL_BATCH):
            logits = infer(x)
            losses = tf.keras.losses.sparse_categorical_crossentropy(y, logits, from_logits=True).numpy()
            total += float(losses.sum())
            count += losses.size
            correct += int((np.asarray(logits).argmax(-1) == y.numpy()).sum())
            baseline_total += float(-np.log(unigram[y.numpy()]).sum())
        model_metrics = language_model_metrics(total / count, count)
        model_metrics["accuracy"] = correct / count
        baseline = language_model_metrics(baseline_total / count, count)
        baseline["method"] = "unigram (training token frequencies)"
        return model_metrics, baseline

    def labelled_stream(self, pre: CorpusPreprocessor, path: str | Path, chunk_rows: int, progress=None) -> Corpus:
        """The whole text file, tokenized (not streamed: corpora for these models are small,
        and a window reads across any chunk boundary)."""
        from rnnkit.data.corpus import lm_origins

        tokens = tokenize(read_text(path), pre.tokenize, pre.lowercase)
        ids = np.asarray(pre.vocabulary().encode(tokens), dtype=np.int32)
        bounds = {"train": (0, 0), "val": (0, 0), "test": (0, len(ids))}
        origins = {"test": lm_origins(bounds["test"], pre.window, pre.window, from_start=True)}
        if len(origins["test"]) == 0:
            raise DataError(f"{path}: too short: {len(ids)} tokens; one window needs {pre.window + 1}")
        return Corpus(ids, bounds, origins)

    def evaluate_file(self, model, pre: CorpusPreprocessor, stream: Corpus) -> FileEvaluation:
        """Every token window of the text, beside the unigram baseline (no plots)."""
        model_metrics, baseline = self.evaluate(model, pre, stream, "test")
        return FileEvaluation(model_metrics, baseline, lambda folder: [])

    def checked_stream(self, pre, input_path, chunk_rows: int, progress=None):
        raise ConfigError("this run is a language model: sample from it with 'rnnkit generate RUN --prompt TEXT'")

    def write_predictions(self, model, pre, stream, writer, *, batch_size: int, last_only: bool, streams=None):
        raise ConfigError("this run is a language model: sample from it with 'rnnkit generate RUN --prompt TEXT'")


def sample(model, pre: CorpusPreprocessor, prompt: str, length: int, temperature: float, top_k: int | None, seed: int) -> str:
    """Continue ``prompt`` by ``length`` tokens, one step at a time through the model's state.

    The prompt is fed once; each new token is then fed alone with the states returned by the
    previous step (``initial_state`` / ``return_state``), never re-running the prefix. The same
    seed gives the same text.

    Args:
        model: a generate run's model.
        pre: its preprocessor (vocabulary, tokenization).
        prompt: text to continue; empty starts from a token drawn from training frequencies.
        length: tokens to generate.
        temperature: above 0; lower is more conservative.
        top_k: sample among the k most likely tokens only (None: all).
        seed: random seed of the sampler.

    Returns:
        The prompt followed by the generated text.
    """
    import tensorflow as tf

    rng = np.random.default_rng(seed)
    vocab = pre.vocabulary()
    tokens = tokenize(prompt, pre.tokenize, pre.lowercase)
    if tokens:
        ids = vocab.encode(tokens)
    else:
        unigram = np.asarray(pre.unigram)
        unigram[OOV_ID] = 0.0
        ids = [int(rng.choice(len(unigram), p=unigram / unigram.sum()))]
        tokens = vocab.decode(ids)
        prompt = join_tokens(tokens, pre.tokenize)  # the text starts with the drawn token
    # One graph for the prompt and every new token: fed eagerly, a Keras RNN runs the prompt step
    # by step from Python (about 3 ms a token here: 7 s for a 2,000-character prompt). Zero states
    # are what the model starts from without any.
    states = [
        [tf.zeros((1, units), model.compute_dtype) for _ in names]
        for names, units in zip(model.state_structure, model.units, strict=True)
    ]
    signature = [tf.TensorSpec((1, None), tf.int32), tf.nest.map_structure(tf.TensorSpec.from_tensor, states)]
    step = tf.function(lambda x, s: model(x, initial_state=s, training=False, return_state=True), input_signature=signature)
    logits, states = step(np.asarray([ids], dtype=np.int32), states)
    generated: list[int] = []
    for _ in range(length):
        next_id = _draw(np.asarray(logits)[0, -1], temperature, top_k, rng)
        generated.append(next_id)
        logits, states = step(np.asarray([[next_id]], dtype=np.int32), states)
    return (
        join_tokens([*tokens, *vocab.decode(generated)], pre.tokenize)
        if pre.tokenize == "word"
        else prompt + join_tokens(vocab.decode(generated), "char")
    )


def _draw(logits: np.ndarray, temperature: float, top_k: int | None, rng: np.random.Generator) -> int:
    logits = logits.astype(np.float64)
    logits[PAD_ID] = -np.inf
    logits[OOV_ID] = -np.inf  # never emit the unknown-token marker
    if top_k is not None and top_k < len(logits):
        cutoff = np.partition(logits, -top_k)[-top_k]
        logits = np.where(logits >= cutoff, logits, -np.inf)
    probabilities = softmax(logits / temperature)
    return int(rng.choice(len(probabilities), p=probabilities))

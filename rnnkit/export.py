"""Export a run's best model as a TensorFlow SavedModel for TF Serving.

The serving signature takes raw, unscaled inputs: the run's scaling, detrending, padding mask,
vocabulary and label names travel inside the SavedModel, so a client needs nothing from rnnkit.

- forecast: ``inputs`` ``(batch, window, features)`` float32 in original units (plus
  ``last_value`` ``(batch, targets)`` when detrending uses a target that is not an input)
  -> ``forecast`` ``(batch, horizon, targets)`` in original units.
- classify / tag on numeric channels: ``inputs`` ``(batch, time, features)`` and ``lengths``
  ``(batch,)`` (steps past a sequence's length are padding) -> ``probabilities`` and ``label``.
- classify on text: ``text`` ``(batch,)`` strings -> ``probabilities`` and ``label``.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np

from rnnkit.errors import ConfigError, ResourceError
from rnnkit.files import describe_os_error, fsync_dir, fsync_tree, remove_dead_temporaries, temporary_sibling

FORMATS = ("savedmodel",)


def export_savedmodel(model, task: str, pre, target: Path) -> dict:
    """Write the SavedModel to ``target`` (a new folder), atomically; returns its signature summary.

    Raises:
        ConfigError: ``target`` exists, or the task cannot be exported (generate).
        ResourceError: the folder cannot be written.
    """
    import keras
    import tensorflow as tf

    if target.exists():
        raise ConfigError(f"{target}: export folder already exists; choose another --output or remove it")
    if task == "generate":
        raise ConfigError("generate runs sample step by step with 'rnnkit generate'; exporting them is not supported")
    archive = keras.export.ExportArchive()
    archive.track(model)
    if task == "forecast":
        fn, signature, summary = _forecast_endpoint(tf, model, pre)
    elif pre.is_text:
        fn, signature, summary, table = _text_endpoint(tf, model, pre)
        archive.track(table)
    else:
        fn, signature, summary = _sequence_endpoint(tf, model, pre, per_step=task == "tag")
    archive.add_endpoint("serve", fn, input_signature=signature)
    temp = temporary_sibling(target, suffix="")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        remove_dead_temporaries(target.parent)  # left by an export that was killed
        archive.write_out(str(temp), verbose=False)
        fsync_tree(temp)
        os.replace(temp, target)
        fsync_dir(target.parent)
    except OSError as exc:
        raise ResourceError(f"{target}: cannot write the SavedModel: {describe_os_error(exc)}") from None
    finally:
        if temp.exists():
            shutil.rmtree(temp, ignore_errors=True)
    return summary


def _forecast_endpoint(tf, model, pre):
    features, targets = list(pre.features), list(pre.targets)
    center = tf.constant([pre.center[c] for c in features], tf.float32)
    spread = tf.constant([pre.spread[c] for c in features], tf.float32)
    shift = tf.constant(pre.detrended_features, tf.float32)
    t_center = tf.constant([pre.center[t] for t in targets], tf.float32)
    t_spread = tf.constant([pre.spread[t] for t in targets], tf.float32)
    detrend = pre.detrend == "last_value"
    # Under detrending the anchor is each target's last observed value: read from the inputs
    # when the target is an input, otherwise passed in as `last_value`.
    anchor_from_inputs = all(t in features for t in targets)
    anchor_index = [features.index(t) for t in targets] if anchor_from_inputs else []
    inputs_spec = tf.TensorSpec((None, pre.window, len(features)), tf.float32, name="inputs")

    def forecast(inputs, last_value=None):
        x = (inputs - center) / spread
        if detrend:
            x = x - x[:, -1:, :] * shift
        y = model(x, training=False) * t_spread
        if not detrend:
            return {"forecast": y + t_center}
        anchor = tf.gather(inputs[:, -1, :], anchor_index, axis=1) if anchor_from_inputs else last_value
        return {"forecast": y + anchor[:, None, :]}

    summary = {
        "inputs": f"(batch, {pre.window}, {len(features)}) float32: {', '.join(features)}",
        "forecast": f"(batch, {pre.horizon}, {len(targets)})",
    }
    if detrend and not anchor_from_inputs:
        spec = [inputs_spec, tf.TensorSpec((None, len(targets)), tf.float32, name="last_value")]
        summary["last_value"] = f"(batch, {len(targets)}) float32: last observed {', '.join(targets)}"
        return forecast, spec, summary
    return (lambda inputs: forecast(inputs)), [inputs_spec], summary


def _labelled(tf, logits, labels_t):
    probabilities = tf.nn.softmax(logits, axis=-1)
    return {"probabilities": probabilities, "label": tf.gather(labels_t, tf.argmax(probabilities, axis=-1))}


def _sequence_endpoint(tf, model, pre, per_step: bool):
    from rnnkit.models.rnn import PAD_VALUE

    features = list(pre.features)
    center = tf.constant([pre.center[c] for c in features], tf.float32)
    spread = tf.constant([pre.spread[c] for c in features], tf.float32)
    labels_t = tf.constant(pre.labels)
    truncate = pre.max_length if pre.truncate_predict and not per_step else None

    def classify(inputs, lengths):
        x = (inputs - center) / spread
        steps = tf.range(tf.shape(x)[1])
        valid = steps[None, :] < tf.cast(lengths, tf.int32)[:, None]
        x = tf.where(valid[:, :, None], x, tf.constant(PAD_VALUE, tf.float32))
        if truncate is not None:
            # Keep each sequence's last max_length steps, as training did.
            start = tf.maximum(tf.cast(lengths, tf.int32) - truncate, 0)
            index = tf.minimum(start[:, None] + tf.range(truncate)[None, :], tf.shape(x)[1] - 1)
            keep = tf.range(truncate)[None, :] < tf.minimum(tf.cast(lengths, tf.int32), truncate)[:, None]
            x = tf.where(keep[:, :, None], tf.gather(x, index, batch_dims=1), tf.constant(PAD_VALUE, tf.float32))
        return _labelled(tf, model(x, training=False), labels_t)

    spec = [
        tf.TensorSpec((None, None, len(features)), tf.float32, name="inputs"),
        tf.TensorSpec((None,), tf.int32, name="lengths"),
    ]
    shape = "(batch, time, classes)" if per_step else "(batch, classes)"
    summary = {
        "inputs": f"(batch, time, {len(features)}) float32: {', '.join(features)}",
        "lengths": "(batch,) int32",
        "probabilities": shape,
        "labels": pre.labels,
    }
    return classify, spec, summary


def _text_endpoint(tf, model, pre):
    from rnnkit.data.text import OOV_ID

    vocab = list(pre.vocab)
    table = tf.lookup.StaticHashTable(
        tf.lookup.KeyValueTensorInitializer(
            tf.constant(vocab or [""], tf.string), tf.constant(np.arange(2, 2 + max(1, len(vocab))), tf.int64)
        ),
        default_value=OOV_ID,
    )
    labels_t = tf.constant(pre.labels)
    truncate = pre.max_length if pre.truncate_predict else None

    def classify(text):
        if pre.lowercase:
            text = tf.strings.lower(text, encoding="utf-8")
        if pre.tokenize == "char":
            tokens = tf.strings.unicode_split(text, "UTF-8")
        else:
            # The same split as rnnkit.data.text.tokenize: runs of word characters, and each
            # other non-space character on its own.
            spaced = tf.strings.regex_replace(text, r"([^\p{L}\p{N}_\s])", r" \1 ")
            tokens = tf.strings.split(spaced)
        ids = tf.ragged.map_flat_values(table.lookup, tokens)
        if truncate is not None:
            ids = ids[:, -truncate:]
        dense = ids.to_tensor(default_value=0)
        empty = tf.equal(tf.shape(dense)[1], 0)
        dense = tf.cond(empty, lambda: tf.fill([tf.shape(dense)[0], 1], tf.constant(OOV_ID, tf.int64)), lambda: dense)
        return _labelled(tf, model(tf.cast(dense, tf.int32), training=False), labels_t)

    summary = {"text": "(batch,) string", "probabilities": "(batch, classes)", "labels": pre.labels}
    return classify, [tf.TensorSpec((None,), tf.string, name="text")], summary, table

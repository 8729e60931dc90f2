"""One training loop for every tf.distribute strategy.

The default strategy (one device), ``MirroredStrategy`` (every local GPU) and
``MultiWorkerMirroredStrategy`` (several machines, ``TF_CONFIG``) all run the same step through
``strategy.run``. Keras 3.15's ``Model.fit`` cannot be that loop: under the multi-worker strategy
its first-batch build and its reduction of per-replica logs both fail, so rnnkit drives the
model, the optimizer and the usual Keras callbacks itself.

Numbers are exact over any number of replicas: each replica returns sums (loss, metrics, count
of real output elements); gradients of the summed loss are divided by the global count before
the optimizer all-reduces them, and epoch logs are totals over the whole epoch divided by its
count, i.e. the mean over every (unpadded) output element.
"""

from __future__ import annotations

from typing import Any

import keras
import tensorflow as tf

# Keras metric functions by the names tasks use; each returns one value per output element.
METRIC_FUNCTIONS = {"mae": keras.metrics.mean_absolute_error, "accuracy": keras.metrics.sparse_categorical_accuracy}


class TrainingLoop:
    """Fits ``model`` (built and compiled under ``strategy.scope()``) with its compiled optimizer.

    Args:
        model: a :class:`rnnkit.models.RecurrentModel`.
        loss: a Keras loss object or name (reduced here, so its own reduction is ignored).
        metrics: names in METRIC_FUNCTIONS, logged as ``name`` and ``val_name``.
        strategy: the tf.distribute strategy the model's variables were created under.
        jit_compile: compile the forward and backward pass with XLA.
    """

    def __init__(self, model, loss, metrics, strategy, *, jit_compile: bool = False) -> None:
        self.model = model
        self.strategy = strategy
        self.loss = _unreduced(loss)
        self.metrics = {name: METRIC_FUNCTIONS[name] for name in metrics}
        self._gradients = tf.function(self._replica_gradients, jit_compile=jit_compile)
        self._train_step = tf.function(self._distributed_train_step)
        self._eval_step = tf.function(self._distributed_eval_step, reduce_retracing=True)

    def fit(
        self,
        train,
        *,
        steps: int,
        epochs: int,
        initial_epoch: int = 0,
        validation=None,
        callbacks: list | None = None,
        verbose: int = 0,
    ) -> None:
        """Train for epochs ``initial_epoch .. epochs - 1`` on ``steps`` batches each.

        ``train`` yields the batches of those epochs back to back; ``validation`` (if any) is
        evaluated at the end of each epoch. Callbacks see the same calls and logs as under
        ``Model.fit``; one that sets ``model.stop_training`` ends training after the epoch.
        """
        callback_list = keras.callbacks.CallbackList(
            callbacks, add_progbar=verbose != 0, model=self.model, verbose=verbose, epochs=epochs, steps=steps
        )
        iterator = iter(self.strategy.experimental_distribute_dataset(_sharded(train)))
        validation = self.strategy.experimental_distribute_dataset(_sharded(validation)) if validation is not None else None
        self.model.stop_training = False
        callback_list.on_train_begin()
        for epoch in range(initial_epoch, epochs):
            callback_list.on_epoch_begin(epoch)
            totals: dict[str, Any] = {}
            for step in range(steps):
                callback_list.on_train_batch_begin(step)
                _accumulate(totals, self._train_step(iterator))
                callback_list.on_train_batch_end(step, _means(totals) if verbose else {})
            logs = _means(totals)
            if validation is not None:
                logs.update({f"val_{k}": v for k, v in self.evaluate(validation).items()})
            callback_list.on_epoch_end(epoch, logs)
            if self.model.stop_training:
                break
        callback_list.on_train_end()

    def evaluate(self, batches) -> dict[str, float]:
        """Loss and metrics over distributed ``batches`` (no dropout)."""
        totals: dict[str, Any] = {}
        for batch in batches:
            _accumulate(totals, self._eval_step(batch))
        return _means(totals)

    # Replica functions ------------------------------------------------------------------------

    def _sums(self, batch, training: bool):
        x, y, weight = keras.utils.unpack_x_y_sample_weight(batch)
        predicted = keras.ops.cast(self.model(x, training=training), "float32")
        mask = self.model.output_mask(x)
        losses = self.loss(y, predicted)
        counted = keras.ops.ones_like(losses) if mask is None else keras.ops.cast(mask, "float32")
        weighted = counted if weight is None else counted * keras.ops.cast(weight, "float32")
        sums = {"loss": keras.ops.sum(losses * weighted), "count": keras.ops.sum(counted)}
        for name, function in self.metrics.items():
            sums[name] = keras.ops.sum(keras.ops.cast(function(y, predicted), "float32") * counted)
        return sums

    def _replica_gradients(self, batch):
        variables = self.model.trainable_variables
        with tf.GradientTape() as tape:
            sums = self._sums(batch, training=True)
            scaled = self.model.optimizer.scale_loss(sums["loss"])
        return tape.gradient(scaled, variables), sums

    def _replica_train_step(self, batch):
        gradients, sums = self._gradients(batch)
        count = tf.distribute.get_replica_context().all_reduce("SUM", sums["count"])
        scale = 1.0 / keras.ops.maximum(count, 1.0)
        self.model.optimizer.apply_gradients(
            (g * scale, v) for g, v in zip(gradients, self.model.trainable_variables, strict=True)
        )
        return sums

    def _replica_eval_step(self, batch):
        return self._sums(batch, training=False)

    def _distributed_train_step(self, iterator):
        return self._global_sums(self.strategy.run(self._replica_train_step, args=(next(iterator),)))

    def _distributed_eval_step(self, batch):
        return self._global_sums(self.strategy.run(self._replica_eval_step, args=(batch,)))

    def _global_sums(self, sums):
        # Summed over replicas (and workers), in float64 so that epoch totals stay exact.
        return {k: tf.cast(self.strategy.reduce("SUM", v, axis=None), tf.float64) for k, v in sums.items()}


def _unreduced(loss):
    # A loss function (by name) or a Loss object, as a function of one value per output element.
    loss = keras.losses.get(loss) if isinstance(loss, str) else loss
    if isinstance(loss, keras.losses.Loss):
        config = loss.get_config()
        config["reduction"] = None
        return type(loss).from_config(config)
    return loss


def _sharded(dataset):
    # Every worker runs the same seeded pipeline and keeps its share of each global batch.
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return dataset.with_options(options)


def _accumulate(totals: dict, sums: dict) -> None:
    for key, value in sums.items():
        totals[key] = totals[key] + value if key in totals else value


def _means(totals: dict) -> dict[str, float]:
    count = max(float(totals.get("count", 0.0)), 1.0)
    return {key: float(value) / count for key, value in totals.items() if key != "count"}

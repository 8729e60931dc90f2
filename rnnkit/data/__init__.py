"""Data: readers, preparation (splitting, scaling, window origins), schema.json and tf.data pipelines.

Everything here but :mod:`rnnkit.data.pipeline` works without TensorFlow, so ``rnnkit validate``
summarises data without importing it.
"""

"""rnnkit: train, evaluate and apply recurrent neural networks on sequence data from YAML configs."""

__version__ = "0.1.0"

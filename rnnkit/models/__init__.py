"""The recurrent model of rnnkit and the factory that builds it from a config."""

from rnnkit.models.factory import build_model, load_model
from rnnkit.models.rnn import RecurrentModel

__all__ = ["RecurrentModel", "build_model", "load_model"]

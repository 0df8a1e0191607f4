"""kzoo: a Keras 3 model zoo with training, compression and TF Serving-compatible serving.

Example:
    >>> import zoo
    >>> zoo.list_models("resnet*")
    ['resnet18', 'resnet20', 'resnet32', 'resnet34', 'resnet50', 'resnet56']
"""

from zoo.inference import predict
from zoo.presets import save_preset
from zoo.registry import create, info, list_models, register_model

__version__ = "0.1.0"
__all__ = ["create", "info", "list_models", "predict", "register_model", "save_preset", "__version__"]

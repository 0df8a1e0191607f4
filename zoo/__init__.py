"""kzoo: a Keras 3 model zoo with training, compression and TF Serving-compatible serving.

Example:
    >>> import zoo
    >>> zoo.list_models("resnet*")
    ['resnet18', 'resnet20', 'resnet32', 'resnet34', 'resnet50', 'resnet56']
"""

from zoo.cpu_kernels import prefer_onednn_kernels

prefer_onednn_kernels()  # before anything imports TensorFlow

from zoo.factory import create, info  # noqa: E402
from zoo.inference import predict  # noqa: E402
from zoo.presets import save_preset  # noqa: E402
from zoo.registry import BUILTIN_FAMILIES, list_models, register_family_package, register_model  # noqa: E402
from zoo.version import __version__  # noqa: E402

register_family_package(BUILTIN_FAMILIES)  # the families register themselves when zoo.models is imported
__all__ = ["create", "info", "list_models", "predict", "register_model", "save_preset", "__version__"]

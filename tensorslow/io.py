"""`ts.io`: the parts of TF1's `tf.io` namespace TensorSlow has, parsing `tf.Example` protos
(see tensorslow/ops/parsing_ops.py)."""

from tensorslow.ops.parsing_ops import *  # noqa: F403
from tensorslow.ops.parsing_ops import __all__  # noqa: F401 - the same names

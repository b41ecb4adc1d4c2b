"""Top-level names re-exported by tensorslow/__init__.py (see __all__): the array ops, clipping,
argmax/argmin, softmax at top level, while_loop, TensorArray, map_fn/scan/foldl/foldr, the
`nn`, `losses` and `io` namespaces, and parsing tf.Examples (parse_example, the feature
descriptions, SparseTensor), and `strings` with `string_join`."""

from tensorslow import io, losses, nn
from tensorslow.framework.sparse_tensor import SparseTensor, SparseTensorValue
from tensorslow.ops.array_ops import (
    argmax,
    argmin,
    clip_by_value,
    concat,
    expand_dims,
    gather,
    invert_permutation,
    newaxis,
    one_hot,
    pad,
    reverse,
    reverse_sequence,
    reverse_v2,
    slice,
    split,
    squeeze,
    stack,
    strided_slice,
    tile,
    transpose,
    unsorted_segment_sum,
    unstack,
)
from tensorslow.ops.functional_ops import while_loop
from tensorslow.ops.map_fn import foldl, foldr, map_fn, scan
from tensorslow.ops.math_ops import div_no_nan
from tensorslow.ops.nn_ops import log_softmax, softmax
from tensorslow.ops.parsing_ops import (
    FixedLenFeature,
    FixedLenSequenceFeature,
    VarLenFeature,
    parse_example,
    parse_single_example,
)
from tensorslow.ops.string_ops import string_join, strings
from tensorslow.ops.tensor_array_ops import TensorArray

__all__ = [
    "FixedLenFeature",
    "FixedLenSequenceFeature",
    "SparseTensor",
    "SparseTensorValue",
    "TensorArray",
    "VarLenFeature",
    "argmax",
    "argmin",
    "clip_by_value",
    "concat",
    "div_no_nan",
    "expand_dims",
    "gather",
    "invert_permutation",
    "io",
    "string_join",
    "strings",
    "log_softmax",
    "losses",
    "newaxis",
    "nn",
    "one_hot",
    "pad",
    "parse_example",
    "parse_single_example",
    "slice",
    "softmax",
    "split",
    "squeeze",
    "stack",
    "strided_slice",
    "reverse",
    "reverse_sequence",
    "reverse_v2",
    "tile",
    "transpose",
    "unsorted_segment_sum",
    "unstack",
    "while_loop",
    "foldl",
    "foldr",
    "map_fn",
    "scan",
]

"""TensorSlow: TensorFlow 1.x's graph core in readable Python on numpy.

`import tensorslow as ts` mirrors `tensorflow.compat.v1`: the same names, argument names,
defaults and semantics for what it offers.
"""

from tensorslow.framework import dtypes, errors
from tensorslow.framework.dtypes import (
    DType,
    as_dtype,
    bool,
    complex64,
    complex128,
    double,
    float16,
    float32,
    float64,
    half,
    int8,
    int16,
    int32,
    int64,
    resource,
    string,
    uint8,
    uint16,
    uint32,
    uint64,
)
from tensorslow.framework.ops import (
    Graph,
    GraphKeys,
    NoGradient,
    NotDifferentiable,
    Operation,
    RegisterGradient,
    Tensor,
    add_to_collection,
    add_to_collections,
    colocate_with,
    control_dependencies,
    convert_to_tensor,
    device,
    get_collection,
    get_collection_ref,
    get_default_graph,
    name_scope,
    register_tensor_conversion_function,
    reset_default_graph,
)
from tensorslow.framework.tensor_shape import Dimension, TensorShape, dimension_value
from tensorslow.ops.constant_op import constant
from tensorslow.ops.math_ops import (
    abs,
    add,
    add_n,
    cast,
    ceil,
    cos,
    div,
    divide,
    equal,
    exp,
    expm1,
    floor,
    floordiv,
    floormod,
    greater,
    greater_equal,
    is_finite,
    is_nan,
    less,
    less_equal,
    log,
    log1p,
    logical_and,
    logical_not,
    logical_or,
    matmul,
    maximum,
    minimum,
    mod,
    multiply,
    negative,
    not_equal,
    pow,
    reciprocal,
    reduce_all,
    reduce_any,
    reduce_max,
    reduce_mean,
    reduce_min,
    reduce_prod,
    reduce_sum,
    round,
    rsqrt,
    sigmoid,
    sign,
    sin,
    sqrt,
    square,
    squared_difference,
    subtract,
    tanh,
    to_float,
    to_int32,
    to_int64,
    truediv,
)
from tensorslow.ops.array_ops import (
    broadcast_to,
    fill,
    identity,
    ones,
    ones_like,
    placeholder,
    placeholder_with_default,
    range,
    rank,
    reshape,
    shape,
    size,
    stop_gradient,
    where,
    where_v2,
    zeros,
    zeros_like,
)
from tensorslow.ops.control_flow_ops import (
    Assert,
    case,
    cond,
    group,
    no_op,
    tuple,
    with_dependencies,
)
from tensorslow.ops.variables import (
    Variable,
    all_variables,
    assert_variables_initialized,
    assign,
    assign_add,
    assign_sub,
    global_variables,
    global_variables_initializer,
    initialize_all_variables,
    is_variable_initialized,
    local_variables,
    local_variables_initializer,
    model_variables,
    report_uninitialized_variables,
    trainable_variables,
    variables_initializer,
)
from tensorslow.ops import variables as _variables
from tensorslow.ops import resource_variable_ops as _resource_variable_ops  # noqa: F401 - ops
from tensorslow.ops.gradients import gradients, hessians
from tensorslow.client.session import (
    InteractiveSession,
    Session,
    get_default_session,
)

from tensorslow.framework.graph_io import import_graph_def
from tensorslow.framework.tensor_util import make_ndarray, make_tensor_proto
from tensorslow.framework import graph_util
from tensorslow import saved_model
from tensorslow import client
from tensorslow.client import timeline as _timeline  # noqa: F401 - ts.client.timeline

_variables._install_variable_operators()

# Protobuf message classes TF1 exposes at top level; resolved on first use so that importing
# tensorslow does not load the descriptors.
_PROTO_NAMES = {"GraphDef", "NodeDef", "MetaGraphDef", "RunOptions", "RunMetadata",
                "ConfigProto", "GPUOptions", "GraphOptions", "OptimizerOptions", "Summary",
                "Event", "SessionLog", "AttrValue", "TensorInfo", "SignatureDef",
                "TensorShapeProto", "TensorProto", "HistogramProto", "NameAttrList"}


def __getattr__(name):
    if name in _PROTO_NAMES:
        from tensorslow import proto

        return getattr(proto, name)
    raise AttributeError(f"module 'tensorslow' has no attribute {name!r}")

__version__ = "0.1.0"

from tensorslow._exports_ops import *  # noqa: E402,F403 - names listed in its __all__
from tensorslow._exports_train import *  # noqa: E402,F403 - names listed in its __all__

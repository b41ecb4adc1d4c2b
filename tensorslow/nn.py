"""`ts.nn`: TF1's `tf.nn` namespace (activations, softmax, cross-entropies, dropout,
convolution and pooling, recurrent cells (`rnn_cell`) with `dynamic_rnn` and `static_rnn`,
...)."""

from tensorslow.ops import rnn_cell_impl as rnn_cell
from tensorslow.ops.array_ops import gather as _gather
from tensorslow.ops.batch_norm_ops import batch_normalization, fused_batch_norm
from tensorslow.ops.conv_ops import (
    avg_pool,
    conv1d,
    conv2d,
    conv2d_transpose,
    depthwise_conv2d,
    max_pool,
    separable_conv2d,
)
from tensorslow.ops.math_ops import sigmoid, tanh
from tensorslow.ops.nn_ops import (
    bias_add,
    dropout,
    elu,
    l2_loss,
    l2_normalize,
    leaky_relu,
    log_softmax,
    moments,
    relu,
    relu6,
    selu,
    sigmoid_cross_entropy_with_logits,
    softmax,
    softmax_cross_entropy_with_logits,
    softmax_cross_entropy_with_logits_v2,
    softplus,
    softsign,
    sparse_softmax_cross_entropy_with_logits,
    xw_plus_b,
)
from tensorslow.ops.rnn import bidirectional_dynamic_rnn, dynamic_rnn, static_rnn

avg_pool2d = avg_pool
max_pool2d = max_pool

__all__ = [
    "avg_pool",
    "avg_pool2d",
    "batch_normalization",
    "bias_add",
    "bidirectional_dynamic_rnn",
    "conv1d",
    "conv2d",
    "conv2d_transpose",
    "depthwise_conv2d",
    "dropout",
    "dynamic_rnn",
    "elu",
    "embedding_lookup",
    "fused_batch_norm",
    "l2_loss",
    "l2_normalize",
    "leaky_relu",
    "log_softmax",
    "max_pool",
    "max_pool2d",
    "moments",
    "relu",
    "relu6",
    "rnn_cell",
    "selu",
    "separable_conv2d",
    "sigmoid",
    "sigmoid_cross_entropy_with_logits",
    "softmax",
    "softmax_cross_entropy_with_logits",
    "softmax_cross_entropy_with_logits_v2",
    "softplus",
    "softsign",
    "static_rnn",
    "sparse_softmax_cross_entropy_with_logits",
    "tanh",
    "xw_plus_b",
]


def embedding_lookup(params, ids, partition_strategy="mod", name=None, validate_indices=True,
                     max_norm=None):
    """Rows of `params` (one tensor, or a one-element list of it) picked by `ids`."""
    if isinstance(params, (list, tuple)):
        if len(params) != 1:
            raise NotImplementedError("embedding_lookup over partitioned params is not "
                                      "supported")
        params = params[0]
    if max_norm is not None:
        raise NotImplementedError("embedding_lookup's max_norm is not supported")
    return _gather(params, ids, name=name or "embedding_lookup")

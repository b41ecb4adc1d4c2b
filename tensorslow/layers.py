"""TF1's `tf.layers`: `dense`, `conv1d`, `conv2d`, `conv2d_transpose`, `max_pooling2d`,
`average_pooling2d`, `batch_normalization`, `flatten`, `dropout` and their layer classes.

A layer opens a variable scope (named after its `name`, else a unique "dense", "dense_1", ...)
and makes its variables with `get_variable` there, so `dense(x, 4, name="out")` creates
"out/kernel" and "out/bias", and `reuse=True` (or calling the same layer object again) shares
them. The ops go in the matching name scope: "out/MatMul", "out/BiasAdd".
"""

from __future__ import annotations

import numpy as np

from tensorslow.framework import dtypes
from tensorslow.framework.ops import GraphKeys, add_to_collection, convert_to_tensor, name_scope
from tensorslow.framework.tensor_shape import dimension_value
from tensorslow.ops import array_ops, init_ops, math_ops
from tensorslow.ops import variable_scope as vs

# TF's default bias initializer (it holds only a dtype, so one shared instance is safe).
_ZEROS = init_ops.zeros_initializer()


class Layer:
    """What the layers share: a variable scope made on first call, and reused after."""

    _default_name = "layer"

    def __init__(self, trainable=True, name=None, dtype=None, _scope=None, _reuse=None,
                 **kwargs):
        self.trainable = trainable
        self.name = name
        self.dtype = None if dtype is None else dtypes.as_dtype(dtype)
        self._scope = _scope if _scope is not None else name
        self._reuse = _reuse
        self._variable_scope: vs.VariableScope | None = None
        self.built = False
        self._variables: list = []

    @property
    def variables(self) -> list:
        return list(self._variables)

    weights = variables

    @property
    def trainable_variables(self) -> list:
        return [v for v in self._variables if v.trainable]

    trainable_weights = trainable_variables

    @property
    def non_trainable_variables(self) -> list:
        return [v for v in self._variables if not v.trainable]

    @property
    def scope_name(self) -> str:
        if self._variable_scope is None:
            raise ValueError("No name available for layer scope because the layer has not been "
                             "used yet.")
        return self._variable_scope.name

    def add_weight(self, name, shape, dtype=None, initializer=None, regularizer=None,
                   trainable=True, constraint=None):
        v = vs.get_variable(name, shape=shape, dtype=dtype or self.dtype,
                            initializer=initializer, regularizer=regularizer,
                            trainable=trainable and self.trainable, constraint=constraint)
        if v not in self._variables:
            self._variables.append(v)
        return v

    def build(self, input_shape) -> None:
        self.built = True

    def call(self, inputs):
        raise NotImplementedError

    def __call__(self, inputs, *args, **kwargs):
        inputs = convert_to_tensor(inputs)
        if self.dtype is None:
            self.dtype = (inputs.dtype.base_dtype if inputs.dtype is not None
                          else dtypes.float32)
        if self._variable_scope is None:
            with vs.variable_scope(self._scope, default_name=self._default_name,
                                   reuse=self._reuse, values=[inputs]) as captured:
                self._variable_scope = captured
                if self.name is None:
                    self.name = captured.name
                self.build(inputs.shape)
                self.built = True
                return self.call(inputs, *args, **kwargs)
        # A later call: the same variables, and the ops again in the first call's name scope.
        with vs.variable_scope(self._variable_scope, reuse=True, values=[inputs],
                               auxiliary_name_scope=False), name_scope(
                                   self._variable_scope.original_name_scope):
            return self.call(inputs, *args, **kwargs)

    apply = __call__


class _KernelLayer(Layer):
    """A layer with a kernel, an optional bias and activation: Dense and Conv2D."""

    def __init__(self, activation=None, use_bias=True, kernel_initializer=None,
                 bias_initializer=_ZEROS, kernel_regularizer=None, bias_regularizer=None,
                 activity_regularizer=None, kernel_constraint=None, bias_constraint=None,
                 trainable=True, name=None, **kwargs):
        super().__init__(trainable=trainable, name=name, **kwargs)
        self.activation = activation
        self.use_bias = use_bias
        self.kernel_initializer = kernel_initializer
        self.bias_initializer = bias_initializer
        self.kernel_regularizer = kernel_regularizer
        self.bias_regularizer = bias_regularizer
        self.activity_regularizer = activity_regularizer
        self.kernel_constraint = kernel_constraint
        self.bias_constraint = bias_constraint
        self.kernel = None
        self.bias = None

    def _add_kernel_and_bias(self, kernel_shape: list, units: int) -> None:
        self.kernel = self.add_weight("kernel", kernel_shape,
                                      initializer=self.kernel_initializer,
                                      regularizer=self.kernel_regularizer,
                                      constraint=self.kernel_constraint)
        if self.use_bias:
            self.bias = self.add_weight("bias", [units], initializer=self.bias_initializer,
                                        regularizer=self.bias_regularizer,
                                        constraint=self.bias_constraint)
        self.built = True

    def _finish(self, outputs, data_format: str = "NHWC"):
        """The bias, the activation and the activity loss, after the kernel's product."""
        if self.use_bias:
            from tensorslow.ops.nn_ops import bias_add

            outputs = bias_add(outputs, self.bias, data_format=data_format)
        if self.activation is not None:
            outputs = self.activation(outputs)
        if self.activity_regularizer is not None:
            _add_activity_loss(self.activity_regularizer, outputs)
        return outputs


class Dense(_KernelLayer):
    """outputs = activation(inputs @ kernel + bias)."""

    _default_name = "dense"

    def __init__(self, units, activation=None, use_bias=True, kernel_initializer=None,
                 bias_initializer=_ZEROS, kernel_regularizer=None, bias_regularizer=None,
                 activity_regularizer=None, kernel_constraint=None, bias_constraint=None,
                 trainable=True, name=None, **kwargs):
        super().__init__(activation, use_bias, kernel_initializer, bias_initializer,
                         kernel_regularizer, bias_regularizer, activity_regularizer,
                         kernel_constraint, bias_constraint, trainable, name, **kwargs)
        self.units = int(units)

    def build(self, input_shape) -> None:
        if not (self.dtype.is_floating or self.dtype.is_complex):
            raise TypeError(f"Unable to build `Dense` layer with non-floating point dtype "
                            f"{self.dtype.name}")
        if input_shape.ndims is not None and input_shape.ndims < 2:
            raise ValueError(f"Input 0 of layer {self.name or 'dense'} is incompatible with the "
                             f"layer: expected min_ndim=2, found ndim={input_shape.ndims}. "
                             f"Full shape received: {input_shape}")
        last = dimension_value(input_shape[-1]) if input_shape.ndims else None
        if last is None:
            raise ValueError("The last dimension of the inputs to `Dense` should be defined. "
                             "Found `None`.")
        self._add_kernel_and_bias([last, self.units], self.units)

    def call(self, inputs):
        rank = inputs.shape.ndims
        if rank is not None and rank > 2:
            outputs = _matmul_last_axis(inputs, self.kernel, self.units)
        else:
            outputs = math_ops.matmul(inputs, self.kernel)
        return self._finish(outputs)


def _matmul_last_axis(inputs, kernel, units):
    """inputs (..., n) times kernel (n, units), for inputs of rank above two."""
    dims = inputs.shape.as_list()
    flat = array_ops.reshape(inputs, [-1, dims[-1]])
    outputs = math_ops.matmul(flat, kernel)
    if all(d is not None for d in dims[:-1]):
        return array_ops.reshape(outputs, dims[:-1] + [units])
    leading = array_ops.shape(inputs)[:-1]
    target = array_ops.concat([leading, [units]], axis=0)
    outputs = array_ops.reshape(outputs, target)
    outputs.set_shape(dims[:-1] + [units])
    return outputs


def _add_activity_loss(regularizer, outputs) -> None:
    """The activity loss, divided by the batch size, goes to REGULARIZATION_LOSSES."""
    with name_scope("ActivityRegularizer"):
        loss = regularizer(outputs)
        if loss is None:
            return
        batch = dimension_value(outputs.shape[0]) if outputs.shape.ndims else None
        if batch is None:
            batch = math_ops.cast(array_ops.shape(outputs)[0], loss.dtype)
        else:
            batch = convert_to_tensor(float(batch), dtype=loss.dtype)
        add_to_collection(GraphKeys.REGULARIZATION_LOSSES, math_ops.truediv(loss, batch))


def dense(inputs, units, activation=None, use_bias=True, kernel_initializer=None,
          bias_initializer=_ZEROS, kernel_regularizer=None, bias_regularizer=None,
          activity_regularizer=None, kernel_constraint=None, bias_constraint=None,
          trainable=True, name=None, reuse=None):
    """A densely connected layer: activation(inputs @ kernel + bias).

    Variables "<name>/kernel" (glorot_uniform unless `kernel_initializer`) and "<name>/bias"
    (zeros unless `bias_initializer`); `name` defaults to a unique "dense", "dense_1", ...
    """
    layer = Dense(units, activation=activation, use_bias=use_bias,
                  kernel_initializer=kernel_initializer, bias_initializer=bias_initializer,
                  kernel_regularizer=kernel_regularizer, bias_regularizer=bias_regularizer,
                  activity_regularizer=activity_regularizer,
                  kernel_constraint=kernel_constraint, bias_constraint=bias_constraint,
                  trainable=trainable, name=name, _scope=name, _reuse=reuse)
    return layer.apply(inputs)


class Flatten(Layer):
    """Flattens all but the first (batch) dimension."""

    _default_name = "flatten"

    def __init__(self, data_format="channels_last", name=None, **kwargs):
        super().__init__(name=name, **kwargs)
        if data_format not in ("channels_last", "channels_first"):
            raise ValueError(f"The `data_format` argument must be one of \"channels_first\", "
                             f"\"channels_last\". Received: {data_format}")
        self.data_format = data_format

    def call(self, inputs):
        rank = inputs.shape.ndims
        if self.data_format == "channels_first" and rank is not None and rank > 1:
            inputs = array_ops.transpose(inputs, [0, *range(2, rank), 1])
        dims = inputs.shape.as_tuple()
        if dims is not None and dims and dims[0] is not None:
            return array_ops.reshape(inputs, [dims[0], -1])
        if dims is not None and all(d is not None for d in dims[1:]):
            return array_ops.reshape(inputs, [-1, int(np.prod(dims[1:], dtype=np.int64))])
        target = array_ops.stack([array_ops.shape(inputs)[0], -1])
        return array_ops.reshape(inputs, target)


def flatten(inputs, name=None, data_format="channels_last"):
    """Flattens `inputs` to (batch, -1), keeping the batch dimension."""
    return Flatten(data_format=data_format, name=name).apply(inputs)


class Dropout(Layer):
    """Randomly zeroes a fraction `rate` of the inputs while training, scaling up the rest."""

    _default_name = "dropout"

    def __init__(self, rate=0.5, noise_shape=None, seed=None, name=None, **kwargs):
        super().__init__(name=name, **kwargs)
        self.rate = rate
        self.noise_shape = noise_shape
        self.seed = seed

    def call(self, inputs, training=False):
        from tensorslow.nn import dropout as nn_dropout

        def dropped():
            return nn_dropout(inputs, rate=self.rate, noise_shape=self.noise_shape,
                              seed=self.seed)

        if isinstance(training, (bool, np.bool_)):
            return dropped() if training else array_ops.identity(inputs)
        from tensorslow.ops.control_flow_ops import cond

        return cond(training, dropped, lambda: array_ops.identity(inputs))


def dropout(inputs, rate=0.5, noise_shape=None, seed=None, training=False, name=None):
    """Dropout while `training` (a Python bool, or a bool tensor decided at run time), the
    identity otherwise."""
    return Dropout(rate=rate, noise_shape=noise_shape, seed=seed, name=name).apply(
        inputs, training=training)


def _pair(value, name: str) -> tuple[int, int]:
    values = (value, value) if isinstance(value, int) else tuple(int(v) for v in value)
    if len(values) != 2:
        raise ValueError(f"The `{name}` argument must be an int or a tuple of 2 ints, "
                         f"got {value!r}")
    return values


def _layer_format(data_format: str) -> str:
    if data_format not in ("channels_last", "channels_first"):
        raise ValueError(f"The `data_format` argument must be one of \"channels_first\", "
                         f"\"channels_last\". Received: {data_format}")
    return "NHWC" if data_format == "channels_last" else "NCHW"


def _layer_padding(padding: str) -> str:
    if str(padding).lower() not in ("valid", "same"):
        raise ValueError(f"The `padding` argument must be \"valid\" or \"same\", got {padding!r}")
    return str(padding).upper()


def _apply_layer(cls, arguments: dict):
    """`cls` made from a layer function's arguments (its `locals()`), applied to `inputs`:
    the function's `name` and `reuse` open the layer's variable scope."""
    arguments = dict(arguments)
    inputs, reuse = arguments.pop("inputs"), arguments.pop("reuse")
    return cls(**arguments, _scope=arguments["name"], _reuse=reuse).apply(inputs)


class Conv2D(_KernelLayer):
    """outputs = activation(conv2d(inputs, kernel) + bias), kernel [kh, kw, in, filters]."""

    _default_name = "conv2d"

    def __init__(self, filters, kernel_size, strides=(1, 1), padding="valid",
                 data_format="channels_last", dilation_rate=(1, 1), activation=None,
                 use_bias=True, kernel_initializer=None, bias_initializer=_ZEROS,
                 kernel_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 kernel_constraint=None, bias_constraint=None, trainable=True, name=None,
                 **kwargs):
        super().__init__(activation, use_bias, kernel_initializer, bias_initializer,
                         kernel_regularizer, bias_regularizer, activity_regularizer,
                         kernel_constraint, bias_constraint, trainable, name, **kwargs)
        self.filters = int(filters)
        self.kernel_size = _pair(kernel_size, "kernel_size")
        self.strides = _pair(strides, "strides")
        self.padding = _layer_padding(padding)
        self.data_format = _layer_format(data_format)
        self.dilation_rate = _pair(dilation_rate, "dilation_rate")

    def _window(self) -> list[int]:
        """The kernel's spatial dimensions."""
        return list(self.kernel_size)

    def build(self, input_shape) -> None:
        ndim = len(self._window()) + 2
        if input_shape.ndims is not None and input_shape.ndims != ndim:
            raise ValueError(f"Input 0 of layer {self.name or self._default_name} is "
                             f"incompatible with the layer: expected ndim={ndim}, found "
                             f"ndim={input_shape.ndims}. Full shape received: {input_shape}")
        axis = -1 if self.data_format == "NHWC" else 1
        channels = dimension_value(input_shape[axis]) if input_shape.ndims else None
        if channels is None:
            raise ValueError("The channel dimension of the inputs should be defined. Found "
                             "`None`.")
        self._add_kernel_and_bias([*self._window(), channels, self.filters], self.filters)

    def call(self, inputs):
        from tensorslow.ops.conv_ops import conv2d

        outputs = conv2d(inputs, self.kernel, strides=self.strides, padding=self.padding,
                         data_format=self.data_format, dilations=self.dilation_rate)
        return self._finish(outputs, self.data_format)


def conv2d(inputs, filters, kernel_size, strides=(1, 1), padding="valid",
           data_format="channels_last", dilation_rate=(1, 1), activation=None, use_bias=True,
           kernel_initializer=None, bias_initializer=_ZEROS, kernel_regularizer=None,
           bias_regularizer=None, activity_regularizer=None, kernel_constraint=None,
           bias_constraint=None, trainable=True, name=None, reuse=None):
    """A 2-D convolution layer: variables "<name>/kernel" (glorot_uniform unless
    `kernel_initializer`) and "<name>/bias"; `name` defaults to "conv2d", "conv2d_1", ..."""
    return _apply_layer(Conv2D, locals())


class Conv2DTranspose(Conv2D):
    """The transpose of Conv2D (a "deconvolution"): kernel [kh, kw, filters, in], each
    spatial size multiplied by its stride ("same"), plus max(kernel - stride, 0) ("valid")."""

    _default_name = "conv2d_transpose"

    def _add_kernel_and_bias(self, kernel_shape: list, units: int) -> None:
        kh, kw, channels, filters = kernel_shape  # Conv2D's layout; the transpose swaps them
        super()._add_kernel_and_bias([kh, kw, filters, channels], units)

    def call(self, inputs):
        from tensorslow.ops.conv_ops import conv2d_transpose

        nhwc = self.data_format == "NHWC"
        spatial = (1, 2) if nhwc else (2, 3)
        sizes = []
        for axis, k, stride in zip(spatial, self.kernel_size, self.strides, strict=True):
            size = dimension_value(inputs.shape[axis]) if inputs.shape.ndims else None
            if size is None:
                raise ValueError("Conv2DTranspose needs the spatial sizes of its input")
            sizes.append(size * stride + (max(k - stride, 0) if self.padding == "VALID"
                                          else 0))
        batch = array_ops.shape(inputs)[0]
        shape = ([batch, *sizes, self.filters] if nhwc else [batch, self.filters, *sizes])
        outputs = conv2d_transpose(inputs, self.kernel, array_ops.stack(shape),
                                   strides=self.strides, padding=self.padding,
                                   data_format=self.data_format)
        known = [dimension_value(inputs.shape[0]) if inputs.shape.ndims else None]
        outputs.set_shape(known + sizes + [self.filters] if nhwc
                          else known + [self.filters] + sizes)
        return self._finish(outputs, self.data_format)


def conv2d_transpose(inputs, filters, kernel_size, strides=(1, 1), padding="valid",
                     data_format="channels_last", activation=None, use_bias=True,
                     kernel_initializer=None, bias_initializer=_ZEROS, kernel_regularizer=None,
                     bias_regularizer=None, activity_regularizer=None, kernel_constraint=None,
                     bias_constraint=None, trainable=True, name=None, reuse=None):
    """A transposed 2-D convolution layer (variables "<name>/kernel" [kh, kw, filters, in]
    and "<name>/bias")."""
    return _apply_layer(Conv2DTranspose, locals())


class Conv1D(Conv2D):
    """A 1-D convolution layer over [batch, width, channels]: kernel [k, in, filters]."""

    _default_name = "conv1d"

    def __init__(self, filters, kernel_size, strides=1, padding="valid",
                 data_format="channels_last", dilation_rate=1, **kwargs):
        super().__init__(filters, (1, _single(kernel_size, "kernel_size")),
                         strides=(1, _single(strides, "strides")), padding=padding,
                         data_format=data_format,
                         dilation_rate=(1, _single(dilation_rate, "dilation_rate")), **kwargs)

    def _window(self) -> list[int]:
        return [self.kernel_size[1]]  # (held as a 1 x k Conv2D window)

    def call(self, inputs):
        from tensorslow.ops.conv_ops import conv1d

        outputs = conv1d(inputs, self.kernel, stride=self.strides[1], padding=self.padding,
                         data_format="NWC" if self.data_format == "NHWC" else "NCW",
                         dilations=self.dilation_rate[1])
        return self._finish(outputs, self.data_format)


def _single(value, name: str) -> int:
    values = [value] if isinstance(value, int) else [int(v) for v in value]
    if len(values) != 1:
        raise ValueError(f"The `{name}` argument must be an int or a tuple of 1 int, "
                         f"got {value!r}")
    return values[0]


def conv1d(inputs, filters, kernel_size, strides=1, padding="valid",
           data_format="channels_last", dilation_rate=1, activation=None, use_bias=True,
           kernel_initializer=None, bias_initializer=_ZEROS, kernel_regularizer=None,
           bias_regularizer=None, activity_regularizer=None, kernel_constraint=None,
           bias_constraint=None, trainable=True, name=None, reuse=None):
    """A 1-D convolution layer (variables "<name>/kernel" [k, in, filters] and "bias")."""
    return _apply_layer(Conv1D, locals())


class _Pooling2D(Layer):
    _op = ""

    def __init__(self, pool_size, strides, padding="valid", data_format="channels_last",
                 name=None, **kwargs):
        super().__init__(name=name, **kwargs)
        self.pool_size = _pair(pool_size, "pool_size")
        self.strides = _pair(strides, "strides")
        self.padding = _layer_padding(padding)
        self.data_format = _layer_format(data_format)

    def call(self, inputs):
        from tensorslow.ops import conv_ops

        pool = getattr(conv_ops, self._op)
        return pool(inputs, ksize=self.pool_size, strides=self.strides, padding=self.padding,
                    data_format=self.data_format)


class MaxPooling2D(_Pooling2D):
    """The maximum of each pool_size window, every `strides`."""

    _default_name = "max_pooling2d"
    _op = "max_pool"


class AveragePooling2D(_Pooling2D):
    """The mean of each pool_size window, every `strides`."""

    _default_name = "average_pooling2d"
    _op = "avg_pool"


def max_pooling2d(inputs, pool_size, strides, padding="valid", data_format="channels_last",
                  name=None):
    return MaxPooling2D(pool_size, strides, padding=padding, data_format=data_format,
                        name=name).apply(inputs)


def average_pooling2d(inputs, pool_size, strides, padding="valid",
                      data_format="channels_last", name=None):
    return AveragePooling2D(pool_size, strides, padding=padding, data_format=data_format,
                            name=name).apply(inputs)


class BatchNormalization(Layer):
    """Normalizes with the batch's statistics while training (and moves the moving averages,
    by ops in the UPDATE_OPS collection, as TF1), with the moving averages otherwise.

    Variables "<name>/gamma", "beta" (trainable), "moving_mean" and "moving_variance" (not).
    The moving averages follow TF's update: moving -= (moving - batch) * (1 - momentum). As in
    TF, the batch variance is Bessel-corrected for 4-D inputs normalized over their channel
    axis (where TF uses its fused kernel) and taken as is otherwise. `training` is a Python
    bool or a bool tensor (then a cond decides at run time).
    """

    _default_name = "batch_normalization"

    def __init__(self, axis=-1, momentum=0.99, epsilon=1e-3, center=True, scale=True,
                 beta_initializer=None, gamma_initializer=None,
                 moving_mean_initializer=None, moving_variance_initializer=None,
                 beta_regularizer=None, gamma_regularizer=None, beta_constraint=None,
                 gamma_constraint=None, trainable=True, name=None, **kwargs):
        kwargs.pop("fused", None)
        kwargs.pop("renorm", None)
        super().__init__(trainable=trainable, name=name, **kwargs)
        self.axis = axis
        self.momentum = float(momentum)
        self.epsilon = float(epsilon)
        self.center, self.scale = center, scale
        self.initializers = {
            "beta": beta_initializer or init_ops.zeros_initializer(),
            "gamma": gamma_initializer or init_ops.ones_initializer(),
            "moving_mean": moving_mean_initializer or init_ops.zeros_initializer(),
            "moving_variance": moving_variance_initializer or init_ops.ones_initializer()}
        self.regularizers = {"beta": beta_regularizer, "gamma": gamma_regularizer}
        self.constraints = {"beta": beta_constraint, "gamma": gamma_constraint}

    def build(self, input_shape) -> None:
        ndims = input_shape.ndims
        if ndims is None:
            raise ValueError("Input has undefined rank.")
        self._axis = self.axis % ndims
        depth = dimension_value(input_shape[self._axis])
        if depth is None:
            raise ValueError(f"Input has undefined `axis` dimension. Input shape: {input_shape}")
        self.gamma = self.add_weight("gamma", [depth], initializer=self.initializers["gamma"],
                                     regularizer=self.regularizers["gamma"],
                                     constraint=self.constraints["gamma"]) if self.scale else None
        self.beta = self.add_weight("beta", [depth], initializer=self.initializers["beta"],
                                    regularizer=self.regularizers["beta"],
                                    constraint=self.constraints["beta"]) if self.center else None
        self.moving_mean = self.add_weight(
            "moving_mean", [depth], initializer=self.initializers["moving_mean"],
            trainable=False)
        self.moving_variance = self.add_weight(
            "moving_variance", [depth], initializer=self.initializers["moving_variance"],
            trainable=False)
        self.built = True

    def call(self, inputs, training=False):
        from tensorslow.ops.batch_norm_ops import batch_normalization
        from tensorslow.ops.nn_ops import moments

        ndims = inputs.shape.ndims
        axes = [a for a in range(ndims) if a != self._axis]
        shape = [1] * ndims
        shape[self._axis] = -1

        def per_channel(v):
            return array_ops.reshape(v, shape) if v is not None else None

        def normalize(mean, variance):
            return batch_normalization(inputs, per_channel(mean), per_channel(variance),
                                       per_channel(self.beta), per_channel(self.gamma),
                                       self.epsilon)

        def with_batch_statistics():
            mean, variance = moments(inputs, axes)
            moving_variance = variance
            if ndims == 4 and self._axis in (1, 3):  # TF's fused kernel: Bessel-corrected
                n = math_ops.cast(array_ops.size(inputs), variance.dtype) / math_ops.cast(
                    array_ops.shape(inputs)[self._axis], variance.dtype)
                moving_variance = variance * n / math_ops.maximum(n - 1, 1)
            decay = 1.0 - self.momentum
            for moving, batch in ((self.moving_mean, mean),
                                  (self.moving_variance, moving_variance)):
                add_to_collection(GraphKeys.UPDATE_OPS, moving.assign_sub(
                    (moving - batch) * decay, read_value=False))
            return normalize(mean, variance)

        def with_moving_averages():
            return normalize(self.moving_mean.value(), self.moving_variance.value())

        if isinstance(training, (bool, np.bool_)):
            return with_batch_statistics() if training else with_moving_averages()
        from tensorslow.ops.control_flow_ops import cond

        return cond(training, with_batch_statistics, with_moving_averages)



def batch_normalization(inputs, axis=-1, momentum=0.99, epsilon=1e-3, center=True, scale=True,
                        beta_initializer=None, gamma_initializer=None,
                        moving_mean_initializer=None, moving_variance_initializer=None,
                        beta_regularizer=None, gamma_regularizer=None, beta_constraint=None,
                        gamma_constraint=None, training=False, trainable=True, name=None,
                        reuse=None, renorm=False, fused=None, **kwargs):
    """Batch normalization over all axes but `axis` (see BatchNormalization); run the ops in
    ts.get_collection(ts.GraphKeys.UPDATE_OPS) with the training step to move the averages."""
    if renorm:
        raise NotImplementedError("batch_normalization with renorm=True is not supported")
    layer = BatchNormalization(
        axis=axis, momentum=momentum, epsilon=epsilon, center=center, scale=scale,
        beta_initializer=beta_initializer, gamma_initializer=gamma_initializer,
        moving_mean_initializer=moving_mean_initializer,
        moving_variance_initializer=moving_variance_initializer,
        beta_regularizer=beta_regularizer, gamma_regularizer=gamma_regularizer,
        beta_constraint=beta_constraint, gamma_constraint=gamma_constraint,
        trainable=trainable, name=name, _scope=name, _reuse=reuse)
    return layer.apply(inputs, training=training)

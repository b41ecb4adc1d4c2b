"""TF1's recurrent cells (`tf.nn.rnn_cell`): BasicRNNCell, BasicLSTMCell, LSTMCell, GRUCell,
MultiRNNCell, and the DropoutWrapper and ResidualWrapper around them.

A cell maps (inputs [batch, depth], state) to (output, new state). Its variables have
TensorFlow's names, so checkpoints move between the two: a cell called inside `dynamic_rnn`
makes "rnn/lstm_cell/kernel" and "rnn/lstm_cell/bias" (inside a MultiRNNCell,
"rnn/multi_rnn_cell/cell_0/lstm_cell/kernel"), made on the first call and shared by every later
one. Gates follow TensorFlow's layout: an LSTM's kernel is [depth + units, 4 units] with the
gates in the order i, j (the candidate), f, o.
"""

from __future__ import annotations

import collections
import contextlib
import numbers

from tensorslow.framework import dtypes
from tensorslow.framework.ops import Tensor, convert_to_tensor, name_scope
from tensorslow.framework.tensor_shape import TensorShape, dimension_value
from tensorslow.layers import Layer
from tensorslow.ops import array_ops, constant_op, init_ops, lstm_ops, math_ops, nn_ops
from tensorslow.ops import variable_scope as vs
from tensorslow.ops.control_flow_ops import _flatten, _pack


class LSTMStateTuple(collections.namedtuple("LSTMStateTuple", ("c", "h"))):
    """An LSTM's state: the cell state `c` and the output `h`."""

    __slots__ = ()

    @property
    def dtype(self):
        c, h = self
        if c.dtype != h.dtype:
            raise TypeError(f"Inconsistent internal state: {c.dtype} vs {h.dtype}")
        return c.dtype


def _zeros(size, batch_size, dtype):
    """Zeros [batch_size, *size] for each size in the structure `size` (ints or shapes)."""
    if isinstance(size, tuple):  # LSTMStateTuple, or a tuple of states
        items = [_zeros(s, batch_size, dtype) for s in size]
        return type(size)(*items) if hasattr(size, "_fields") else tuple(items)
    dims = TensorShape(size).as_list() if isinstance(size, TensorShape) else [int(size)]
    if isinstance(batch_size, Tensor):
        shape = array_ops.concat([array_ops.reshape(batch_size, [1]), dims], 0)
        return array_ops.zeros(shape, dtype)
    return array_ops.zeros([int(batch_size), *dims], dtype)


class RNNCell(Layer):
    """The cell interface: `state_size`, `output_size`, `zero_state`, and
    `cell(inputs, state)` -> (output, new_state). Subclasses implement `build(inputs_shape)`
    and `call(inputs, state)`."""

    _default_name = "rnn_cell"

    def __init__(self, trainable=True, name=None, dtype=None, _reuse=None, **kwargs):
        super().__init__(trainable=trainable, name=name, dtype=dtype, _reuse=_reuse, **kwargs)

    @property
    def state_size(self):
        raise NotImplementedError

    @property
    def output_size(self):
        raise NotImplementedError

    def zero_state(self, batch_size, dtype):
        """Zeros of the state's structure, [batch_size, size] each."""
        with name_scope(type(self).__name__ + "ZeroState"):
            return _zeros(self.state_size, batch_size, dtypes.as_dtype(dtype))

    def get_initial_state(self, inputs=None, batch_size=None, dtype=None):
        if inputs is not None:
            inputs = convert_to_tensor(inputs)
            batch_size = array_ops.shape(inputs)[0] if dimension_value(
                inputs.shape[0]) is None else dimension_value(inputs.shape[0])
            dtype = dtype or inputs.dtype
        return self.zero_state(batch_size, dtype or dtypes.float32)

    def __call__(self, inputs, state, scope=None, *args, **kwargs):
        inputs = convert_to_tensor(inputs)
        with self._cell_scope(inputs, inputs.shape, scope):
            return self.call(inputs, state, *args, **kwargs)

    @contextlib.contextmanager
    def _cell_scope(self, inputs, inputs_shape, scope=None):
        """The variable scope the cell's ops go in (TF1's: `scope`, else one of the cell's
        own made on the first call and reused by every later one), building the cell's
        variables for `inputs_shape` ([batch, depth]) the first time."""
        if self.dtype is None:
            self.dtype = inputs.dtype.base_dtype if inputs.dtype is not None else dtypes.float32
        if scope is not None:  # TF1: the variables go in `scope`, shared on reuse
            with vs.variable_scope(scope, reuse=self._reuse) as captured:
                if not self.built:
                    self._variable_scope = captured
                    self.build(inputs_shape)
                    self.built = True
                yield
        elif self._variable_scope is None:
            with vs.variable_scope(self._scope, default_name=self._default_name,
                                   reuse=self._reuse, values=[inputs]) as captured:
                self._variable_scope = captured
                if self.name is None:
                    self.name = captured.name
                self.build(inputs_shape)
                self.built = True
                yield
        else:
            with vs.variable_scope(self._variable_scope, reuse=True, values=[inputs],
                                   auxiliary_name_scope=False), name_scope(
                                       self._variable_scope.original_name_scope):
                yield

    def _fuses(self, dtype) -> bool:
        """Whether `_fused_sequence` computes this cell over inputs of `dtype`."""
        return False

    def _fused_sequence(self, inputs, state, steps_run=None):
        """The cell over time-major `inputs` [time, batch, depth] (the first `steps_run`
        steps, an int64 scalar, when given; zeros after) as fused ops: (outputs, states),
        [time, batch, ...] each, the states in the state's structure. Only where `_fuses`
        (else dynamic_rnn loops over time)."""
        raise NotImplementedError


def _input_depth(inputs_shape, cell) -> int:
    depth = dimension_value(TensorShape(inputs_shape)[-1]) if TensorShape(
        inputs_shape).ndims else None
    if depth is None:
        raise ValueError(f"Expected inputs.shape[-1] to be known for {type(cell).__name__}, "
                         f"saw shape: {inputs_shape}")
    return depth


def _activation(activation):
    if activation is None:
        return math_ops.tanh
    if isinstance(activation, str):
        from tensorslow import nn

        if not callable(getattr(nn, activation, None)):
            raise ValueError(f"Unknown activation {activation!r}: not a function of ts.nn")
        return getattr(nn, activation)
    return activation


class BasicRNNCell(RNNCell):
    """output = new_state = activation(W [inputs, state] + b)."""

    _default_name = "basic_rnn_cell"

    def __init__(self, num_units, activation=None, reuse=None, name=None, dtype=None,
                 **kwargs):
        super().__init__(name=name, dtype=dtype, _reuse=reuse, **kwargs)
        self._num_units = int(num_units)
        self._activation = _activation(activation)

    @property
    def state_size(self):
        return self._num_units

    @property
    def output_size(self):
        return self._num_units

    def build(self, inputs_shape):
        depth = _input_depth(inputs_shape, self)
        self._kernel = self.add_weight("kernel", [depth + self._num_units, self._num_units])
        self._bias = self.add_weight("bias", [self._num_units],
                                     initializer=init_ops.zeros_initializer())

    def call(self, inputs, state):
        gate = nn_ops.bias_add(math_ops.matmul(array_ops.concat([inputs, state], 1),
                                               self._kernel), self._bias)
        output = self._activation(gate)
        return output, output


class GRUCell(RNNCell):
    """Gated Recurrent Unit (Cho et al. 2014): reset and update gates ("gates/kernel",
    "gates/bias", the bias starting at 1.0), then the candidate ("candidate/kernel", ...)."""

    _default_name = "gru_cell"

    def __init__(self, num_units, activation=None, reuse=None, kernel_initializer=None,
                 bias_initializer=None, name=None, dtype=None, **kwargs):
        super().__init__(name=name, dtype=dtype, _reuse=reuse, **kwargs)
        self._num_units = int(num_units)
        self._activation = _activation(activation)
        self._kernel_initializer = kernel_initializer
        self._bias_initializer = bias_initializer

    @property
    def state_size(self):
        return self._num_units

    @property
    def output_size(self):
        return self._num_units

    def build(self, inputs_shape):
        depth = _input_depth(inputs_shape, self)
        n = self._num_units
        gate_bias = self._bias_initializer or init_ops.constant_initializer(1.0)
        with vs.variable_scope("gates"):
            self._gate_kernel = self.add_weight("kernel", [depth + n, 2 * n],
                                                initializer=self._kernel_initializer)
            self._gate_bias = self.add_weight("bias", [2 * n], initializer=gate_bias)
        with vs.variable_scope("candidate"):
            self._candidate_kernel = self.add_weight("kernel", [depth + n, n],
                                                     initializer=self._kernel_initializer)
            self._candidate_bias = self.add_weight(
                "bias", [n], initializer=self._bias_initializer or init_ops.zeros_initializer())

    def call(self, inputs, state):
        gates = math_ops.sigmoid(nn_ops.bias_add(math_ops.matmul(
            array_ops.concat([inputs, state], 1), self._gate_kernel), self._gate_bias))
        r, u = array_ops.split(gates, 2, axis=1)
        candidate = self._activation(nn_ops.bias_add(math_ops.matmul(
            array_ops.concat([inputs, r * state], 1), self._candidate_kernel),
            self._candidate_bias))
        new_h = u * state + (1 - u) * candidate
        return new_h, new_h


class BasicLSTMCell(RNNCell):
    """The LSTM of Zaremba et al. 2014 (no peepholes, no projection); `forget_bias` is added to
    the forget gate."""

    _default_name = "basic_lstm_cell"

    def __init__(self, num_units, forget_bias=1.0, state_is_tuple=True, activation=None,
                 reuse=None, name=None, dtype=None, **kwargs):
        super().__init__(name=name, dtype=dtype, _reuse=reuse, **kwargs)
        self._num_units = int(num_units)
        self._forget_bias = forget_bias
        self._state_is_tuple = state_is_tuple
        self._activation = _activation(activation)

    @property
    def state_size(self):
        n = self._num_units
        return LSTMStateTuple(n, n) if self._state_is_tuple else 2 * n

    @property
    def output_size(self):
        return self._num_units

    def build(self, inputs_shape):
        depth = _input_depth(inputs_shape, self)
        n = self._num_units
        self._kernel = self.add_weight("kernel", [depth + n, 4 * n])
        self._bias = self.add_weight("bias", [4 * n],
                                     initializer=init_ops.zeros_initializer())

    def _split_state(self, state):
        if self._state_is_tuple:
            return state
        return array_ops.split(state, 2, axis=1)

    def _join_state(self, c, h):
        return LSTMStateTuple(c, h) if self._state_is_tuple else array_ops.concat([c, h], 1)

    def call(self, inputs, state):
        c, h = self._split_state(state)
        gates = nn_ops.bias_add(math_ops.matmul(array_ops.concat([inputs, h], 1),
                                                self._kernel), self._bias)
        i, j, f, o = array_ops.split(gates, 4, axis=1)
        forget_bias = constant_op.constant(self._forget_bias, dtype=f.dtype)
        new_c = c * math_ops.sigmoid(f + forget_bias) + math_ops.sigmoid(i) * \
            self._activation(j)
        new_h = self._activation(new_c) * math_ops.sigmoid(o)
        return new_h, self._join_state(new_c, new_h)

    def _peepholes(self):
        """(wci, wcf, wco) for BlockLSTM, or None: this cell has none."""
        return None

    def _block_lstm_computes_this(self) -> bool:
        """Whether BlockLSTM computes this cell exactly: tanh activations, a numeric forget
        bias (and, for LSTMCell, no projection and no clipping)."""
        return self._activation is math_ops.tanh and isinstance(self._forget_bias,
                                                                   numbers.Real)

    def _fuses(self, dtype) -> bool:
        return dtype in (dtypes.float32, dtypes.float16) and self._block_lstm_computes_this()

    def _fused_sequence(self, inputs, state, steps_run=None):
        """The whole sequence as one BlockLSTM op (TensorFlow's fused LSTM, the same math as
        the loop over time)."""
        steps = dimension_value(inputs.shape[0])
        dtype = inputs.dtype.base_dtype
        with self._cell_scope(inputs, inputs.shape[1:]):
            c, h = self._split_state(state)
            peepholes = self._peepholes()
            zeros = array_ops.zeros([self._num_units], dtype) if peepholes is None else None
            if steps_run is None:
                steps_run = constant_op.constant(steps, dtypes.int64)
            _, cs, _, _, _, _, hs = lstm_ops.block_lstm(
                steps_run, inputs, c, h, self._kernel, *(peepholes or (zeros, zeros, zeros)),
                self._bias, forget_bias=float(self._forget_bias),
                use_peephole=peepholes is not None)
            states = LSTMStateTuple(cs, hs) if self._state_is_tuple else \
                array_ops.concat([cs, hs], 2)
            return hs, states


class LSTMCell(BasicLSTMCell):
    """The LSTM of Hochreiter & Schmidhuber 1997 with TensorFlow's options: peepholes
    ("w_f_diag", "w_i_diag", "w_o_diag"), `cell_clip`, a projection of the output to
    `num_proj` units ("projection/kernel") clipped to `proj_clip`."""

    _default_name = "lstm_cell"

    def __init__(self, num_units, use_peepholes=False, cell_clip=None, initializer=None,
                 num_proj=None, proj_clip=None, num_unit_shards=None, num_proj_shards=None,
                 forget_bias=1.0, state_is_tuple=True, activation=None, reuse=None, name=None,
                 dtype=None, **kwargs):
        super().__init__(num_units, forget_bias=forget_bias, state_is_tuple=state_is_tuple,
                         activation=activation, reuse=reuse, name=name, dtype=dtype, **kwargs)
        if num_unit_shards is not None or num_proj_shards is not None:
            raise ValueError("num_unit_shards and num_proj_shards are deprecated in TensorFlow "
                             "and not supported; leave them None")
        self._use_peepholes = use_peepholes
        self._cell_clip = cell_clip
        self._initializer = initializer
        self._num_proj = None if num_proj is None else int(num_proj)
        self._proj_clip = proj_clip

    @property
    def state_size(self):
        n, out = self._num_units, self._num_proj or self._num_units
        return LSTMStateTuple(n, out) if self._state_is_tuple else n + out

    @property
    def output_size(self):
        return self._num_proj or self._num_units

    def build(self, inputs_shape):
        depth = _input_depth(inputs_shape, self)
        n = self._num_units
        h_depth = self._num_proj or n
        self._kernel = self.add_weight("kernel", [depth + h_depth, 4 * n],
                                       initializer=self._initializer)
        self._bias = self.add_weight("bias", [4 * n],
                                     initializer=init_ops.zeros_initializer())
        if self._use_peepholes:
            self._w_f_diag = self.add_weight("w_f_diag", [n], initializer=self._initializer)
            self._w_i_diag = self.add_weight("w_i_diag", [n], initializer=self._initializer)
            self._w_o_diag = self.add_weight("w_o_diag", [n], initializer=self._initializer)
        if self._num_proj is not None:
            with vs.variable_scope("projection"):
                self._proj_kernel = self.add_weight("kernel", [n, self._num_proj],
                                                    initializer=self._initializer)

    def _peepholes(self):
        if not self._use_peepholes:
            return None
        return self._w_i_diag, self._w_f_diag, self._w_o_diag

    def _block_lstm_computes_this(self) -> bool:
        return super()._block_lstm_computes_this() and self._num_proj is None and \
            self._cell_clip is None

    def _split_state(self, state):
        if self._state_is_tuple:
            return state
        c = array_ops.slice(state, [0, 0], [-1, self._num_units])
        h = array_ops.slice(state, [0, self._num_units], [-1, self.output_size])
        return c, h

    def call(self, inputs, state):
        c_prev, h_prev = self._split_state(state)
        gates = nn_ops.bias_add(math_ops.matmul(array_ops.concat([inputs, h_prev], 1),
                                                self._kernel), self._bias)
        i, j, f, o = array_ops.split(gates, 4, axis=1)
        forget_bias = constant_op.constant(self._forget_bias, dtype=f.dtype)
        if self._use_peepholes:
            c = (math_ops.sigmoid(f + forget_bias + self._w_f_diag * c_prev) * c_prev
                 + math_ops.sigmoid(i + self._w_i_diag * c_prev) * self._activation(j))
        else:
            c = math_ops.sigmoid(f + forget_bias) * c_prev + math_ops.sigmoid(i) * \
                self._activation(j)
        if self._cell_clip is not None:
            c = array_ops.clip_by_value(c, -self._cell_clip, self._cell_clip)
        if self._use_peepholes:
            m = math_ops.sigmoid(o + self._w_o_diag * c) * self._activation(c)
        else:
            m = math_ops.sigmoid(o) * self._activation(c)
        if self._num_proj is not None:
            m = math_ops.matmul(m, self._proj_kernel)
            if self._proj_clip is not None:
                m = array_ops.clip_by_value(m, -self._proj_clip, self._proj_clip)
        return m, self._join_state(c, m)


class MultiRNNCell(RNNCell):
    """Cells stacked: cell k's output is cell k+1's input; the state is the tuple of theirs.
    Cell k's variables are under "cell_k"."""

    _default_name = "multi_rnn_cell"

    def __init__(self, cells, state_is_tuple=True):
        super().__init__()
        if not cells:
            raise ValueError("Must specify at least one cell for MultiRNNCell.")
        if not isinstance(cells, (list, tuple)):
            raise TypeError(f"cells must be a list or tuple, but saw: {cells}.")
        if len({id(c) for c in cells}) < len(cells):
            raise ValueError("MultiRNNCell got the same cell object twice: each layer needs a "
                             "cell of its own ([Cell() for _ in range(n)])")
        self._cells = list(cells)
        self._state_is_tuple = state_is_tuple
        if not state_is_tuple and any(isinstance(c.state_size, tuple) for c in cells):
            raise ValueError("Some cells return tuples of states, but the flag state_is_tuple "
                             "is not set.")

    @property
    def state_size(self):
        if self._state_is_tuple:
            return tuple(c.state_size for c in self._cells)
        return sum(c.state_size for c in self._cells)

    @property
    def output_size(self):
        return self._cells[-1].output_size

    def zero_state(self, batch_size, dtype):
        with name_scope(type(self).__name__ + "ZeroState"):
            if self._state_is_tuple:
                return tuple(c.zero_state(batch_size, dtype) for c in self._cells)
            return _zeros(self.state_size, batch_size, dtypes.as_dtype(dtype))

    def build(self, inputs_shape):
        pass  # each cell builds its own variables

    def _fuses(self, dtype) -> bool:
        return self._state_is_tuple and all(cell._fuses(dtype) for cell in self._cells)

    def _fused_sequence(self, inputs, state, steps_run=None):
        """Layer after layer, each over the whole sequence of the one below."""
        current, states = inputs, []
        with self._cell_scope(inputs, inputs.shape[1:]):
            for k, cell in enumerate(self._cells):
                with vs.variable_scope(f"cell_{k}"):
                    current, cell_states = cell._fused_sequence(current, state[k], steps_run)
                    states.append(cell_states)
        return current, tuple(states)

    def call(self, inputs, state):
        current, new_states, offset = inputs, [], 0
        for k, cell in enumerate(self._cells):
            with vs.variable_scope(f"cell_{k}"):
                if self._state_is_tuple:
                    cell_state = state[k]
                else:
                    size = cell.state_size
                    cell_state = array_ops.slice(state, [0, offset], [-1, size])
                    offset += size
                current, new_state = cell(current, cell_state)
                new_states.append(new_state)
        if self._state_is_tuple:
            return current, tuple(new_states)
        return current, array_ops.concat(new_states, 1)


class _Wrapper(RNNCell):
    def __init__(self, cell):
        super().__init__()
        self._cell = cell

    @property
    def state_size(self):
        return self._cell.state_size

    @property
    def output_size(self):
        return self._cell.output_size

    def zero_state(self, batch_size, dtype):
        return self._cell.zero_state(batch_size, dtype)

    def __call__(self, inputs, state, scope=None):
        return self.call(convert_to_tensor(inputs), state, scope)


class DropoutWrapper(_Wrapper):
    """Dropout on the cell's inputs, outputs and (the h of LSTM) state, keeping each with the
    given probability (a float, or a scalar tensor such as a placeholder)."""

    def __init__(self, cell, input_keep_prob=1.0, output_keep_prob=1.0, state_keep_prob=1.0,
                 variational_recurrent=False, input_size=None, dtype=None, seed=None,
                 dropout_state_filter_visitor=None):
        super().__init__(cell)
        if variational_recurrent:
            raise NotImplementedError("DropoutWrapper(variational_recurrent=True) is not "
                                      "supported")
        for name, p in (("input_keep_prob", input_keep_prob),
                        ("output_keep_prob", output_keep_prob),
                        ("state_keep_prob", state_keep_prob)):
            if isinstance(p, (int, float)) and not 0 < p <= 1:
                raise ValueError(f"Parameter {name} must be between 0 and 1: {p}")
        self._input_keep, self._output_keep = input_keep_prob, output_keep_prob
        self._state_keep, self._seed = state_keep_prob, seed

    def _drop(self, value, keep, salt):
        if isinstance(keep, (int, float)) and keep == 1:
            return value
        seed = None if self._seed is None else self._seed + salt
        return nn_ops.dropout(value, keep_prob=keep, seed=seed)

    def call(self, inputs, state, scope=None):
        inputs = self._drop(inputs, self._input_keep, 0)
        output, new_state = self._cell(inputs, state, scope)
        if not (isinstance(self._state_keep, (int, float)) and self._state_keep == 1):
            if isinstance(new_state, LSTMStateTuple):  # TF drops the h, never the memory c
                new_state = LSTMStateTuple(new_state.c,
                                           self._drop(new_state.h, self._state_keep, 1))
            else:
                new_state = _pack(new_state, [self._drop(s, self._state_keep, 1)
                                              for s in _flatten(new_state)])
        return self._drop(output, self._output_keep, 2), new_state


class ResidualWrapper(_Wrapper):
    """The cell's output plus its input (`residual_fn(inputs, outputs)` if given)."""

    def __init__(self, cell, residual_fn=None):
        super().__init__(cell)
        self._residual_fn = residual_fn or (lambda i, o: i + o)

    def call(self, inputs, state, scope=None):
        output, new_state = self._cell(inputs, state, scope)
        return self._residual_fn(inputs, output), new_state


__all__ = ["BasicLSTMCell", "BasicRNNCell", "DropoutWrapper", "GRUCell", "LSTMCell",
           "LSTMStateTuple", "MultiRNNCell", "RNNCell", "ResidualWrapper"]

"""TF1's recurrent networks: `dynamic_rnn` (one while_loop over time, inputs and outputs in
TensorArrays), `bidirectional_dynamic_rnn` (two of them, one over the inputs reversed in time)
and `static_rnn` (the cell unrolled over a Python list of inputs).

Both open the variable scope "rnn" (or `scope`) around the cell, so an LSTMCell's variables
are "rnn/lstm_cell/kernel" and "rnn/lstm_cell/bias", as TensorFlow names them. With
`sequence_length`, a batch row's outputs past its length are zeros and its state stays the
state at its last step.
"""

from __future__ import annotations

from tensorslow.framework import dtypes
from tensorslow.framework.ops import convert_to_tensor, name_scope
from tensorslow.framework.tensor_shape import TensorShape, dimension_value
from tensorslow.ops import array_ops, constant_op, math_ops
from tensorslow.ops import variable_scope as vs
from tensorslow.ops.control_flow_ops import _flatten, _pack
from tensorslow.ops.functional_ops import while_loop
from tensorslow.ops.rnn_cell_impl import RNNCell
from tensorslow.ops.tensor_array_ops import TensorArray


def _batch_size(flat_inputs, batch_axis: int):
    """The batch size: static where some input knows it, else a scalar tensor."""
    for t in flat_inputs:
        if t.shape.ndims is not None and t.shape.ndims < 2:
            raise ValueError(f"Input size (depth of inputs) must be accessible via shape "
                             f"inference, but saw value None; inputs need rank >= 2, got "
                             f"{t.shape}")
        size = dimension_value(t.shape[batch_axis]) if t.shape.ndims else None
        if size is not None:
            return size
    return array_ops.shape(flat_inputs[0])[batch_axis]


def _initial_state(cell, initial_state, batch_size, dtype):
    if initial_state is not None:
        return initial_state
    if dtype is None:
        raise ValueError("If there is no initial_state, you must give a dtype.")
    return cell.zero_state(batch_size, dtype)


def _check_sequence_length(sequence_length):
    if sequence_length is None:
        return None
    sequence_length = math_ops.cast(convert_to_tensor(sequence_length), dtypes.int32)
    if sequence_length.shape.ndims not in (None, 1):
        raise ValueError(f"sequence_length must be a vector of length batch_size, but saw "
                         f"shape: {sequence_length.shape}")
    return array_ops.identity(sequence_length, name="sequence_length")


def _masked_step(time, sequence_length, zero_output, state, output, new_state):
    """Rows whose sequence has ended (time >= length) output zeros and keep their state."""
    done = math_ops.greater_equal(time, sequence_length)

    def pick(finished, fresh):
        return array_ops.where(done, finished, fresh)

    flat_zero, flat_out = _flatten(zero_output), _flatten(output)
    output = _pack(output, [pick(z, o) for z, o in zip(flat_zero, flat_out)])
    new_state = _pack(new_state, [pick(s, n) for s, n in zip(_flatten(state),
                                                             _flatten(new_state))])
    return output, new_state


def _size_shape(size) -> TensorShape:
    return TensorShape([size]) if isinstance(size, int) else TensorShape(size)


def _zero_output(cell, batch_size, dtype):
    from tensorslow.ops.rnn_cell_impl import _zeros

    size = cell.output_size
    return _pack(size, [_zeros(_size_shape(s), batch_size, dtype) for s in _flatten(size)])


def dynamic_rnn(cell, inputs, sequence_length=None, initial_state=None, dtype=None,
                parallel_iterations=None, swap_memory=False, time_major=False, scope=None):
    """Runs `cell` over the time steps of `inputs` ([batch, time, depth], or [time, batch,
    depth] with `time_major`; or a structure of such tensors): (outputs, final state), outputs
    [batch, time, output_size] (time-major with `time_major`)."""
    if not callable(cell):
        raise TypeError("cell must be an instance of RNNCell")
    with vs.variable_scope(scope or "rnn"):
        flat = [convert_to_tensor(t) for t in _flatten(inputs)]
        if not time_major:
            flat = [_swap_batch_time(t) for t in flat]
        sequence_length = _check_sequence_length(sequence_length)
        batch_size = _batch_size(flat, 1)
        state = _initial_state(cell, initial_state, batch_size, dtype)
        out_dtype = dtype or _flatten(state)[0].dtype
        fused = _fused_rnn(cell, flat, state, sequence_length) if len(flat) == 1 and \
            isinstance(cell, RNNCell) else None
        if fused is not None:
            outputs, final_state = fused
        else:
            outputs, final_state = _dynamic_rnn_loop(
                cell, flat, inputs, state, parallel_iterations or 32, swap_memory,
                sequence_length, batch_size, out_dtype)
        if not time_major:
            outputs = _pack(outputs, [_swap_batch_time(t) for t in _flatten(outputs)])
        return outputs, final_state


def _fused_rnn(cell, flat, state, sequence_length):
    """(outputs, final state) from the cell's fused op over the whole sequence, or None. With
    `sequence_length`, a row's outputs past its length are zeros and its final state is its
    state at its last step (the initial state for a length <= 0), as the loop gives; the op
    runs the steps up to the longest."""
    inputs = flat[0]
    steps = dimension_value(inputs.shape[0]) if inputs.shape.ndims == 3 else None
    dtype = inputs.dtype.base_dtype if inputs.dtype is not None else None
    if steps is None or steps < 1 or not cell._fuses(dtype) or any(
            convert_to_tensor(s).dtype.base_dtype != dtype for s in _flatten(state)):
        return None
    steps_run = None
    if sequence_length is not None:
        steps_run = math_ops.cast(math_ops.minimum(math_ops.maximum(
            math_ops.reduce_max(sequence_length), 0), steps), dtypes.int64)
    outputs, states = cell._fused_sequence(inputs, state, steps_run)
    flat_states = _flatten(states)
    if sequence_length is None:
        return outputs, _pack(state, [s[-1] for s in flat_states])
    with name_scope("sequence_length_mask"):
        live = math_ops.less(array_ops.range(steps)[:, None], sequence_length[None, :])
        outputs = outputs * array_ops.expand_dims(math_ops.cast(live, outputs.dtype), -1)
        batch = array_ops.shape(inputs)[1]
        last = math_ops.minimum(math_ops.maximum(sequence_length, 1), steps) - 1
        rows = last * batch + array_ops.range(batch)
        started = math_ops.greater(sequence_length, 0)
        final = [array_ops.where(started, array_ops.gather(
                     array_ops.reshape(s, [-1, dimension_value(s.shape[-1])]), rows), initial)
                 for s, initial in zip(flat_states, _flatten(state))]
    return outputs, _pack(state, final)


def _swap_batch_time(t):
    if t.shape.ndims is not None and t.shape.ndims < 2:
        raise ValueError(f"Expected inputs of rank >= 2 ([batch, time, ...]), got {t.shape}")
    rank = t.shape.ndims
    if rank is None:
        raise ValueError("dynamic_rnn needs inputs of known rank")
    return array_ops.transpose(t, [1, 0, *range(2, rank)])


def _dynamic_rnn_loop(cell, flat_inputs, structure, state, parallel_iterations, swap_memory,
                      sequence_length, batch_size, dtype):
    with name_scope("dynamic_rnn"):
        time_steps = dimension_value(flat_inputs[0].shape[0])
        if time_steps is None:
            time_steps = array_ops.shape(flat_inputs[0])[0]
        time = constant_op.constant(0, dtypes.int32, name="time")
        input_tas = [TensorArray(t.dtype, size=time_steps, element_shape=t.shape[1:])
                     .unstack(t) for t in flat_inputs]
        static_batch = batch_size if isinstance(batch_size, int) else None
        output_tas = [TensorArray(dtype, size=time_steps,
                                  element_shape=TensorShape([static_batch]).concatenate(
                                      _size_shape(s)))
                      for s in _flatten(cell.output_size)]
        zero_output = _zero_output(cell, batch_size, dtype) if sequence_length is not None \
            else None
        if sequence_length is not None:
            loop_bound = math_ops.minimum(time_steps, math_ops.maximum(
                1, math_ops.reduce_max(sequence_length)))
        else:
            loop_bound = time_steps

        def step(time, outputs, state):
            inputs_t = [ta.read(time) for ta in input_tas]
            for t, source in zip(inputs_t, flat_inputs):
                t.set_shape(source.shape[1:])
            output, new_state = cell(_pack(structure, inputs_t), state)
            if sequence_length is not None:
                output, new_state = _masked_step(time, sequence_length, zero_output, state,
                                                 output, new_state)
            outputs = [ta.write(time, o) for ta, o in zip(outputs, _flatten(output))]
            return time + 1, outputs, new_state

        _, output_tas, final_state = while_loop(
            lambda time, *_: time < loop_bound, step, (time, output_tas, state),
            parallel_iterations=parallel_iterations, swap_memory=swap_memory,
            maximum_iterations=time_steps)
        outputs = [ta.stack() for ta in output_tas]
        if isinstance(time_steps, int):
            for t in outputs:
                t.set_shape(TensorShape([time_steps]).concatenate(t.shape[1:]))
        return _pack(cell.output_size, outputs), final_state


def static_rnn(cell, inputs, initial_state=None, dtype=None, sequence_length=None, scope=None):
    """The cell unrolled over `inputs`, a list of [batch, depth] tensors: (list of outputs,
    final state). The variables are made at the first step and shared by the others."""
    if not callable(cell):
        raise TypeError("cell must be an instance of RNNCell")
    if not isinstance(inputs, (list, tuple)):
        raise TypeError("inputs must be a sequence")
    if not inputs:
        raise ValueError("inputs must not be empty")
    with vs.variable_scope(scope or "rnn"):
        flat0 = [convert_to_tensor(t) for t in _flatten(inputs[0])]
        batch_size = _batch_size(flat0, 0)
        state = _initial_state(cell, initial_state, batch_size, dtype)
        sequence_length = _check_sequence_length(sequence_length)
        out_dtype = dtype or _flatten(state)[0].dtype
        zero_output = _zero_output(cell, batch_size, out_dtype) \
            if sequence_length is not None else None
        outputs = []
        for time, input_t in enumerate(inputs):
            output, new_state = cell(input_t, state)
            if sequence_length is not None:
                output, new_state = _masked_step(time, sequence_length, zero_output, state,
                                                 output, new_state)
            outputs.append(output)
            state = new_state
        return outputs, state


def _reverse_time(structure, sequence_length, time_axis: int, batch_axis: int):
    """Each tensor of `structure` with its time steps reversed: the first
    sequence_length[b] steps of each row b when lengths are given, else all of them."""
    def reverse(t):
        if sequence_length is None:
            return array_ops.reverse(t, [time_axis])
        return array_ops.reverse_sequence(t, sequence_length, seq_axis=time_axis,
                                          batch_axis=batch_axis)
    return _pack(structure, [reverse(t) for t in _flatten(structure)])


def bidirectional_dynamic_rnn(cell_fw, cell_bw, inputs, sequence_length=None,
                              initial_state_fw=None, initial_state_bw=None, dtype=None,
                              parallel_iterations=None, swap_memory=False, time_major=False,
                              scope=None):
    """dynamic_rnn forward over `inputs` with `cell_fw` and backward with `cell_bw` (on the
    inputs reversed in time, each row within its sequence_length, and its outputs reversed
    back): ((outputs_fw, outputs_bw), (final_state_fw, final_state_bw)). The variables are
    under "bidirectional_rnn/fw" and "bidirectional_rnn/bw" (or `scope`), as TensorFlow
    names them."""
    for name, cell in (("cell_fw", cell_fw), ("cell_bw", cell_bw)):
        if not callable(cell):
            raise TypeError(f"{name} must be an instance of RNNCell")
    time_axis, batch_axis = (0, 1) if time_major else (1, 0)
    with vs.variable_scope(scope or "bidirectional_rnn"):
        with vs.variable_scope("fw") as fw_scope:
            outputs_fw, state_fw = dynamic_rnn(
                cell_fw, inputs, sequence_length=sequence_length, initial_state=initial_state_fw,
                dtype=dtype, parallel_iterations=parallel_iterations, swap_memory=swap_memory,
                time_major=time_major, scope=fw_scope)
        with vs.variable_scope("bw") as bw_scope:
            lengths = None if sequence_length is None else convert_to_tensor(sequence_length)
            reversed_inputs = _reverse_time(inputs, lengths, time_axis, batch_axis)
            reversed_outputs, state_bw = dynamic_rnn(
                cell_bw, reversed_inputs, sequence_length=sequence_length,
                initial_state=initial_state_bw, dtype=dtype,
                parallel_iterations=parallel_iterations, swap_memory=swap_memory,
                time_major=time_major, scope=bw_scope)
    outputs_bw = _reverse_time(reversed_outputs, lengths, time_axis, batch_axis)
    return (outputs_fw, outputs_bw), (state_fw, state_bw)


__all__ = ["bidirectional_dynamic_rnn", "dynamic_rnn", "static_rnn"]

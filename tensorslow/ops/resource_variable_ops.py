"""Resource variables: the ops TensorFlow's graphs use for them (TF2's tf.compat.v1 makes
variables this way unless `disable_v2_behavior()` or `use_resource=False`), so such graphs,
and SavedModels exported from them, import and run.

    VarHandleOp(container, shared_name, dtype, shape) -> resource   a handle naming the state
    ReadVariableOp(resource) -> value                                the value, now
    AssignVariableOp(resource, value)                                replace the value
    AssignAddVariableOp / AssignSubVariableOp(resource, value)       add / subtract in place
    VarIsInitializedOp(resource) -> bool

The state lives in the session beside reference variables (KernelContext.variables, keyed by
`variable_key(handle_op)`: its shared_name, or its name when that is empty), so Saver and
SavedModel loading find both kinds by name. Reading a variable that holds no value is
FailedPreconditionError, as in TensorFlow (no initialization on first read: that is the seed
style of reference variables). An op runs in the order the plan puts it (creation order, with
control dependencies), as TensorFlow orders resource reads and writes.

Graphs built with this library make reference variables; these ops serve graphs TensorFlow
wrote. Their gradients are TensorFlow's: a read passes its gradient to the handle.
"""

from __future__ import annotations

import numpy as np

from tensorslow.framework import dtypes, errors
from tensorslow.framework.ops import (
    REQUIRED,
    NotDifferentiable,
    Operation,
    RegisterGradient,
    register_op,
)
from tensorslow.framework.tensor_shape import TensorShape


class ResourceHandle:
    """What a VarHandleOp outputs: the key of the variable's state, its dtype and shape."""

    __slots__ = ("key", "dtype", "shape", "op_name")

    def __init__(self, key: str, dtype: dtypes.DType, shape: TensorShape, op_name: str):
        self.key = key
        self.dtype = dtype
        self.shape = shape
        self.op_name = op_name

    def __repr__(self) -> str:
        return f"<resource {self.key!r} {self.dtype.name}{self.shape}>"


def variable_key(handle_op: Operation) -> str:
    """Where a VarHandleOp's state is kept: its shared_name, or its name."""
    return handle_op._attrs.get("shared_name") or handle_op.name


def _handle_kernel(op, ctx):
    handle = ResourceHandle(variable_key(op), op._attrs["dtype"], op._attrs["shape"], op.name)
    return lambda: handle


register_op("VarHandleOp", infer=lambda op: [(dtypes.resource, TensorShape([]))],
            kernel=_handle_kernel,
            attrs={"container": ("string", ""), "shared_name": ("string", ""),
                   "dtype": ("type", REQUIRED), "shape": ("shape", REQUIRED),
                   "allowed_devices": ("list(string)", [])})
NotDifferentiable("VarHandleOp")


def _handle(value, op) -> ResourceHandle:
    if type(value) is not ResourceHandle:
        raise errors.InvalidArgumentError(
            None, op, f"Input 0 of '{op.name}' ({op.type}) must be a resource handle from a "
            f"VarHandleOp, got {type(value).__name__}")
    return value


def _read(ctx, handle: ResourceHandle, op) -> np.ndarray:
    try:
        return ctx.variables[handle.key]
    except KeyError:
        raise errors.FailedPreconditionError(
            None, op, f"Error while reading resource variable {handle.key} from Container: "
            f"localhost. This could mean that the variable was uninitialized.") from None


def _read_kernel(op, ctx):
    want = op._attrs["dtype"]

    def read(value):
        handle = _handle(value, op)
        if handle.dtype != want:
            raise errors.InvalidArgumentError(
                None, op, f"Trying to read variable {handle.key} with wrong dtype. Expected "
                f"{handle.dtype.name} got {want.name}")
        return _read(ctx, handle, op)
    return read


register_op("ReadVariableOp",
            infer=lambda op: [(op._attrs["dtype"], TensorShape(None))],
            kernel=_read_kernel, stateful=True, attrs={"dtype": ("type", REQUIRED)})


@RegisterGradient("ReadVariableOp")
def _read_gradient(op, grad):
    return grad


def _checked(op, handle: ResourceHandle, value) -> np.ndarray:
    value = np.asarray(value)
    np_type = handle.dtype.as_numpy_dtype
    if value.dtype != np_type:
        if not np.can_cast(value.dtype, np_type, "same_kind"):
            raise errors.InvalidArgumentError(
                None, op, f"Trying to assign variable {handle.key} of dtype "
                f"{handle.dtype.name} a value of dtype {value.dtype}")
        value = value.astype(np_type)
    if not handle.shape.is_compatible_with(TensorShape(value.shape)):
        raise errors.InvalidArgumentError(
            None, op, f"Trying to assign to variable with tensor with wrong shape. Expected "
            f"{handle.shape} got {list(value.shape)} (variable {handle.key})")
    return value


def _assign_kernel(op, ctx):
    def assign(resource, value):
        handle = _handle(resource, op)
        ctx.assign_variable(handle.key, _checked(op, handle, value))
    return assign


def _update_kernel(update):
    def build(op, ctx):
        def apply(resource, value):
            handle = _handle(resource, op)
            current = _read(ctx, handle, op)
            ctx.assign_variable(handle.key, _checked(op, handle, update(current, value)), True)
        return apply
    return build


_ASSIGN_ATTRS = {"dtype": ("type", REQUIRED)}
register_op("AssignVariableOp", infer=lambda op: [], kernel=_assign_kernel, stateful=True,
            attrs={**_ASSIGN_ATTRS, "validate_shape": ("bool", False)})
register_op("AssignAddVariableOp", infer=lambda op: [], kernel=_update_kernel(np.add),
            stateful=True, attrs=_ASSIGN_ATTRS)
register_op("AssignSubVariableOp", infer=lambda op: [], kernel=_update_kernel(np.subtract),
            stateful=True, attrs=_ASSIGN_ATTRS)


def _is_initialized_kernel(op, ctx):
    return lambda resource: np.array(_handle(resource, op).key in ctx.variables)


register_op("VarIsInitializedOp", infer=lambda op: [(dtypes.bool, TensorShape([]))],
            kernel=_is_initialized_kernel, stateful=True)
# TensorFlow 2's save functions call it before reading a variable to save it: variable values
# here are never shared writable buffers, so there is nothing to do.
register_op("DisableCopyOnRead", infer=lambda op: [], stateful=True,
            kernel=lambda op, ctx: (lambda resource: None))
for _type in ("AssignVariableOp", "AssignAddVariableOp", "AssignSubVariableOp",
              "VarIsInitializedOp", "DisableCopyOnRead"):
    NotDifferentiable(_type)


class ResourceVariable:
    """A resource variable of an imported graph (a VariableDef with is_resource set): its
    VarHandleOp, the op that initializes it and the tensor that reads it. It serves what
    programs do with the variables of a loaded graph: run or evaluate them, assign to them,
    save and restore them (ts.train.Saver), list them (ts.global_variables())."""

    def __init__(self, handle, initializer, snapshot, initial_value, trainable: bool):
        if handle.op.type != "VarHandleOp":
            raise ValueError(f"'{handle.name}' is a {handle.op.type}, not a VarHandleOp")
        self.handle = handle
        self._initializer_op = initializer
        self._snapshot = snapshot
        self._initial_value = initial_value
        self._trainable = bool(trainable)

    def __repr__(self) -> str:
        return f"<ts.ResourceVariable '{self.name}' shape={self.shape} dtype={self.dtype.name}>"

    name = property(lambda self: self.handle.name)
    op = property(lambda self: self.handle.op)
    graph = property(lambda self: self.handle.graph)
    device = property(lambda self: self.handle.op.device)
    dtype = property(lambda self: self.handle.op._attrs["dtype"])
    shape = property(lambda self: self.handle.op._attrs["shape"])
    trainable = property(lambda self: self._trainable)
    initializer = property(lambda self: self._initializer_op)
    initial_value = property(lambda self: self._initial_value)

    def get_shape(self) -> TensorShape:
        return self.shape

    def value(self):
        return self._snapshot

    def read_value(self):
        from tensorslow.framework.ops import make_op

        return make_op("ReadVariableOp", [self.handle], {"dtype": self.dtype})._outputs[0]

    def _as_graph_element(self):
        return self._snapshot

    def eval(self, session=None):
        from tensorslow.client.session import _default_session_for

        return _default_session_for(self.graph, session).run(self._snapshot)

    def _update(self, op_type: str, value, name, read_value: bool):
        from tensorslow.framework.ops import convert_to_tensor, make_op
        from tensorslow.ops.control_flow_ops import with_dependencies

        value = convert_to_tensor(value, dtype=self.dtype)
        update = make_op(op_type, [self.handle, value], {"dtype": self.dtype}, name=name)
        return with_dependencies([update], self.read_value()) if read_value else update

    def assign(self, value, use_locking=None, name=None, read_value=True):
        return self._update("AssignVariableOp", value, name, read_value)

    def assign_add(self, delta, use_locking=None, name=None, read_value=True):
        return self._update("AssignAddVariableOp", delta, name, read_value)

    def assign_sub(self, delta, use_locking=None, name=None, read_value=True):
        return self._update("AssignSubVariableOp", delta, name, read_value)

"""The graph: `Graph`, `Operation`, `Tensor`, and the registry that gives each op type its meaning.

A graph only grows: an op's inputs exist before the op does, so the order of creation is a
topological order. The executor, the gradient builder and the serializer all rely on that
(`Operation._id`), which is why no walk over the graph ever recurses.

One registry entry per op type (`register_op`) holds everything the rest of the library needs
to know about it, side by side: how its outputs' dtypes and shapes follow from its inputs
(`infer`), how to build its numpy kernel (`kernel`), and which attrs it takes. Gradients are
registered separately by type name (`RegisterGradient`), as in TensorFlow, so users can add
their own.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tensorslow.framework import device as device_lib
from tensorslow.framework import dtypes, errors
from tensorslow.framework.tensor_shape import TensorShape, as_shape

# --------------------------------------------------------------------------------------------
# The op registry
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class OpInfo:
    """What the library knows of one op type.

    infer(op) -> [(dtype or None, TensorShape), ...], one per output; it validates the inputs
        and attrs and raises BuildTypeError/BuildShapeError when they cannot work.
    kernel(op, ctx) -> callable(*input_values) -> value (one output) or tuple (several).
        Called once per plan; the callable runs once per step. `ctx` is the session's
        `KernelContext`. Kernels never write into their inputs.
    attrs: name -> (kind, default) where kind is one of "type", "bool", "int", "float",
        "string", "shape", "tensor", "list(int)", "list(type)", "list(string)"...; default
        `REQUIRED` means the attr must be given.
    ref_inputs: input indices that name a variable to update rather than carry a value.
    stateful: the op reads or changes state (variables, random generators).
    """

    type: str
    infer: Callable
    kernel: Callable
    attrs: dict = field(default_factory=dict)
    ref_inputs: tuple = ()
    stateful: bool = False
    # From `attrs`: the (name, default) of each optional attr, and the names of required ones.
    defaults: tuple = field(init=False, repr=False, compare=False)
    required: tuple = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        items = self.attrs.items()
        object.__setattr__(self, "defaults", tuple((name, default) for name, (_, default)
                                                   in items if default is not REQUIRED))
        object.__setattr__(self, "required", tuple(name for name, (_, default) in items
                                                   if default is REQUIRED))


REQUIRED = object()
_OPS: dict[str, OpInfo] = {}
_GRADIENTS: dict[str, Callable | None] = {}


def register_op(op_type: str, *, infer, kernel, attrs=None, ref_inputs=(), stateful=False):
    if op_type in _OPS:
        raise KeyError(f"Op type {op_type!r} is already registered")
    _OPS[op_type] = OpInfo(op_type, infer, kernel, dict(attrs or {}), tuple(ref_inputs), stateful)


def get_op_info(op_type: str) -> OpInfo | None:
    return _OPS.get(op_type)


def registered_op_types() -> list[str]:
    return sorted(_OPS)


class RegisterGradient:
    """Decorator: `@RegisterGradient("OpType")` registers `fn(op, *output_grads)`.

    The function returns one gradient per input of the op (a Tensor or None), or a single
    Tensor for a one-input op.
    """

    def __init__(self, op_type: str):
        if not isinstance(op_type, str):
            raise TypeError("op_type must be a string")
        self._op_type = op_type

    def __call__(self, fn):
        if self._op_type in _GRADIENTS:
            raise KeyError(f"Registering two gradient functions with name {self._op_type!r}")
        _GRADIENTS[self._op_type] = fn
        return fn


def NotDifferentiable(op_type: str) -> None:  # noqa: N802 - TensorFlow's name
    """Declares that ops of this type have no gradient (their inputs get None)."""
    if not isinstance(op_type, str):
        raise TypeError("op_type must be a string")
    _GRADIENTS[op_type] = None


NoGradient = NotDifferentiable


def get_gradient_function(op: Operation):
    """The registered gradient of `op`'s type; LookupError when none was registered."""
    op_type = op.get_attr("_gradient_op_type") if "_gradient_op_type" in op._attrs else op.type
    try:
        return _GRADIENTS[op_type]
    except KeyError:
        raise LookupError(f"No gradient defined for operation '{op.name}' (op type: "
                          f"{op_type})") from None


# --------------------------------------------------------------------------------------------
# Tensor
# --------------------------------------------------------------------------------------------


class Tensor:
    """The `value_index`-th output of an Operation, named "op_name:index".

    `dtype` is None for the seed style's untyped tensors (a placeholder made without a dtype
    and what is computed from it): their dtype is the fed value's, decided at run time.
    """

    # `_consumer_ops`: the ops that take this tensor as an input, as None (no op), the op
    # (one: most tensors) or a list of them (`Graph._add_op`): no list for most tensors.
    __slots__ = ("_op", "_value_index", "_dtype", "_shape", "_consumer_ops", "__weakref__")

    def __init__(self, op: Operation, value_index: int, dtype, shape: TensorShape):
        self._op = op
        self._value_index = value_index
        self._dtype = dtype
        self._shape = shape
        self._consumer_ops = None

    @property
    def _consumers(self) -> list[Operation]:
        """The ops that take this tensor as an input, in the order they were made."""
        ops = self._consumer_ops
        if ops is None:
            return []
        return ops if type(ops) is list else [ops]

    @property
    def op(self) -> Operation:
        return self._op

    @property
    def value_index(self) -> int:
        return self._value_index

    @property
    def name(self) -> str:
        return f"{self._op._name}:{self._value_index}"

    @property
    def dtype(self):
        return self._dtype

    @property
    def shape(self) -> TensorShape:
        return self._shape

    def get_shape(self) -> TensorShape:
        return self._shape

    def set_shape(self, shape) -> None:
        try:
            self._shape = self._shape.merge_with(as_shape(shape))
        except ValueError as e:
            raise errors.BuildShapeError(None, self._op, f"{self.name}: {e}") from None

    @property
    def graph(self) -> Graph:
        return self._op._graph

    @property
    def device(self) -> str:
        return self._op._device

    def consumers(self) -> list[Operation]:
        return list(self._consumers)

    def eval(self, feed_dict=None, session=None):
        from tensorslow.client.session import _default_session_for

        return _default_session_for(self.graph, session).run(self, feed_dict)

    def __repr__(self):
        dtype = "untyped" if self._dtype is None else self._dtype.name
        return f"<ts.Tensor '{self.name}' shape={self._shape} dtype={dtype}>"

    def __str__(self):
        return repr(self)

    def __hash__(self):
        return id(self)

    def __eq__(self, other):  # TF1 graph mode: identity, so tensors can key feed_dicts
        return self is other

    def __ne__(self, other):
        return self is not other

    def __bool__(self):
        raise TypeError("Using a ts.Tensor as a Python `bool` is not allowed. Use `if t is not "
                        "None:` to test for existence, or run it in a session for its value.")

    def __iter__(self):
        dims = self._shape.as_tuple()
        if dims is None or not dims or dims[0] is None:
            raise TypeError("Cannot iterate over a tensor whose first dimension is not known.")
        from tensorslow.ops import array_ops

        return iter(array_ops.unstack(self, num=dims[0]))

    def __len__(self):
        dims = self._shape.as_tuple()
        if dims is None or not dims or dims[0] is None:
            raise TypeError(f"len is not well defined for {self.name}: its first dimension is "
                            "not known.")
        return dims[0]

    def __array__(self, dtype=None, copy=None):
        raise TypeError(f"Cannot convert a symbolic ts.Tensor ({self.name}) to a numpy array: "
                        "run it in a session for its value.")

    __array_priority__ = 100  # numpy defers `ndarray + Tensor` to Tensor.__radd__


# Operators are attached by tensorslow.ops.math_ops (they need the op functions).


# --------------------------------------------------------------------------------------------
# Operation
# --------------------------------------------------------------------------------------------


class Operation:
    """A node of the graph: its type, inputs, attrs, outputs, device and control inputs.

    Users may subclass it in the original TensorSlow's style: `super().__init__([inputs])` and a
    `compute(self, *input_values)` method; such an op has one untyped output, its type is the
    class name, and wherever a tensor is expected the op stands for that output.
    """

    def __init__(self, input_nodes=(), name=None, *, op_type=None, attrs=None, graph=None,
                 control_inputs=()):
        inputs = list(input_nodes)
        if graph is None:
            graph = _graph_of(inputs)
        op_type = op_type or type(self).__name__
        if type(self) is Operation and op_type not in _OPS:
            raise errors.NotFoundError(None, None, f"Op type not registered '{op_type}'")
        graph._init_op(self, op_type, inputs, attrs or {}, name, list(control_inputs))

    # A seed-style subclass overrides this.
    compute = None
    # The op's NodeDef, serialized (tensorslow.framework.graph_io); dropped on every change.
    _node_def_encoding = None

    @property
    def name(self) -> str:
        return self._name

    @property
    def type(self) -> str:
        return self._type

    @property
    def graph(self) -> Graph:
        return self._graph

    @property
    def inputs(self) -> list[Tensor]:
        return list(self._inputs)

    @property
    def outputs(self) -> list[Tensor]:
        return list(self._outputs)

    @property
    def control_inputs(self) -> list[Operation]:
        return list(self._control_inputs)

    @property
    def device(self) -> str:
        return self._device

    def _set_device(self, device) -> None:
        self._device = device_lib.canonical_name(device)
        self._node_def_encoding = None

    @property
    def node_def(self):
        from tensorslow.framework import graph_io

        return graph_io.node_def_of(self)

    def get_attr(self, name: str):
        try:
            return self._attrs[name]
        except KeyError:
            raise ValueError(f"Operation '{self._name}' has no attr named '{name}'.") from None

    def _set_attr(self, name: str, value) -> None:
        """Changes an attr (the only way to, once the op is made). The attrs dict is
        replaced, not changed: imported ops of one kind share theirs."""
        self._attrs = {**self._attrs, name: value}
        self._node_def_encoding = None

    @property
    def attrs(self) -> dict:
        return dict(self._attrs)

    def values(self) -> tuple:
        return tuple(self._outputs)

    def run(self, feed_dict=None, session=None) -> None:
        from tensorslow.client.session import _default_session_for

        _default_session_for(self._graph, session).run(self, feed_dict)

    def _is_value_op(self) -> bool:
        """True for the seed style's user ops, which stand for their single output."""
        return type(self).compute is not None

    def __repr__(self):
        return f"<ts.Operation '{self._name}' type={self._type}>"


def _inferred_specs(op: Operation):
    """The (dtype, shape) of each output of `op`, from its type's shape function; its
    TypeError or ValueError as a build error naming the op."""
    try:
        return op._info.infer(op)
    except errors.OpError:
        raise
    except (TypeError, ValueError) as e:
        cls = errors.BuildTypeError if isinstance(e, TypeError) else errors.BuildShapeError
        raise cls(None, op, f"{e} (while building '{op._name}', op type {op._type})"
                  ) from None


def _seed_style_infer(op):
    return [(None, TensorShape(None))]


def _seed_style_kernel(op, ctx):
    return op.compute


# --------------------------------------------------------------------------------------------
# Graph
# --------------------------------------------------------------------------------------------


class _DefaultStack(threading.local):
    def __init__(self):
        self.stack: list[Graph] = []


_default_graph_stack = _DefaultStack()
_global_default_graph: Graph | None = None


def get_default_graph() -> Graph:
    stack = _default_graph_stack.stack
    if stack:
        return stack[-1]
    global _global_default_graph
    if _global_default_graph is None:
        _global_default_graph = Graph()
    return _global_default_graph


def reset_default_graph() -> None:
    """Clears the default graph stack and starts a new global default graph."""
    global _global_default_graph
    if _default_graph_stack.stack:
        raise AssertionError("Do not use reset_default_graph() to clear nested graphs: exit the "
                             "`with graph.as_default():` blocks first.")
    _global_default_graph = Graph()


class _DefaultContext:
    """Returned by `Graph.as_default()`: already in effect; `with` undoes it on exit."""

    def __init__(self, graph: Graph):
        self._graph = graph
        self._stack = _default_graph_stack.stack
        self._stack.append(graph)

    def __enter__(self) -> Graph:
        return self._graph

    def __exit__(self, *exc) -> None:
        stack = self._stack
        # Pop our own entry (plain as_default() calls made inside may sit above it).
        for i in range(len(stack) - 1, -1, -1):
            if stack[i] is self._graph:
                del stack[i:]
                break


class Graph:
    """A TF1 dataflow graph. Building is not thread-safe (as in TF1); running is."""

    def __init__(self):
        self._ops: list[Operation] = []
        self._nodes_by_name: dict[str, Operation] = {}
        self._names_in_use: dict[str, int] = {}
        # Names of imported ops not yet in `_names_in_use`: an import reserves them all at
        # once when a name is next made (`unique_name`), rather than one by one as it adds
        # its ops (a graph imported to be run never makes another name).
        self._unreserved_names: list[str] = []
        self._name_stack = ""
        self._device_stack: list = []
        self._control_stack: list[list[Operation] | None] = []
        # The cond branch being built, if any (tensorslow.ops.control_flow_ops.CondContext):
        # it routes tensors from outside the branch through Switch ops.
        self._cond_context = None
        self._colocation_stack: list[Operation] = []
        self._gradient_override: dict[str, str] = {}
        self._collections: dict[str, list] = {}
        self._finalized = False
        self._version = 0
        self.seed = None
        self._lock = threading.RLock()
        self._variable_scope_store = None  # made by tensorslow.ops.variable_scope
        # Function graphs (tensorslow.framework.function.FuncGraph) have the graph they are
        # defined in here; a graph and all its function graphs share one function library.
        self._outer_graph: Graph | None = None
        self._functions: dict = {}

    # -- defaults ----------------------------------------------------------------------------
    def as_default(self) -> _DefaultContext:
        return _DefaultContext(self)

    @property
    def version(self) -> int:
        """Grows with every op added; cached plans keyed on it are rebuilt when it changes."""
        return self._version

    @property
    def finalized(self) -> bool:
        return self._finalized

    def finalize(self) -> None:
        self._finalized = True

    def _unsafe_unfinalize(self) -> None:
        self._finalized = False

    # -- names -------------------------------------------------------------------------------
    def unique_name(self, name: str, mark_as_used: bool = True) -> str:
        if self._unreserved_names:
            self._reserve_imported_names()
        if self._name_stack:
            name = f"{self._name_stack}/{name}"
        key = name.lower()
        count = self._names_in_use.get(key, 0)
        if mark_as_used:
            self._names_in_use[key] = count + 1
        if count > 0:
            base = key
            while f"{base}_{count}" in self._names_in_use:
                count += 1
            if mark_as_used:
                self._names_in_use[f"{base}_{count}"] = 1
            name = f"{name}_{count}"
        return name

    def get_name_scope(self) -> str:
        return self._name_stack

    @contextlib.contextmanager
    def name_scope(self, name):
        old = self._name_stack
        if name is None or name == "":
            new = ""
        elif name.endswith("/"):
            new = name[:-1]  # an existing scope, re-entered verbatim
        else:
            new = self.unique_name(name)
        self._name_stack = new
        try:
            yield "" if not new else new + "/"
        finally:
            self._name_stack = old

    # -- scopes ------------------------------------------------------------------------------
    @contextlib.contextmanager
    def device(self, device_name_or_function):
        self._device_stack.append(device_name_or_function)
        try:
            yield
        finally:
            self._device_stack.pop()

    @contextlib.contextmanager
    def control_dependencies(self, control_inputs):
        """Ops made inside run after `control_inputs`; None clears the dependencies of the
        enclosing blocks, and, as in TF1, leaves any cond branch being built."""
        context = self._cond_context
        if control_inputs is None:
            self._control_stack.append(None)
            self._cond_context = None
        else:
            ops_ = []
            for c in control_inputs:
                c = _as_control_op(c, self)
                ops_.append(c)
            self._control_stack.append(ops_)
        try:
            yield
        finally:
            self._control_stack.pop()
            self._cond_context = context

    @contextlib.contextmanager
    def outside_cond(self):
        """Ops made inside belong to no cond branch (a variable made in a branch exists, and
        is initialized, whichever branch runs)."""
        context, self._cond_context = self._cond_context, None
        try:
            yield
        finally:
            self._cond_context = context

    @contextlib.contextmanager
    def colocate_with(self, op, ignore_existing=False):
        if op is None:
            old = self._colocation_stack
            self._colocation_stack = []
            try:
                yield
            finally:
                self._colocation_stack = old
            return
        op = _as_control_op(op, self)
        old = self._colocation_stack
        old_devices = self._device_stack
        self._colocation_stack = ([] if ignore_existing else list(old)) + [op]
        # As in TF, device scopes and functions entered outside do not apply inside: an op
        # colocated with a variable takes the variable's device, whatever scope builds it.
        self._device_stack = []
        try:
            yield
        finally:
            self._colocation_stack = old
            self._device_stack = old_devices

    @contextlib.contextmanager
    def gradient_override_map(self, op_type_map: dict):
        old = dict(self._gradient_override)
        self._gradient_override.update(op_type_map)
        try:
            yield
        finally:
            self._gradient_override = old

    def _current_control_inputs(self) -> list[Operation]:
        out: list[Operation] = []
        for frame in self._control_stack:
            if frame is None:
                out = []
            else:
                out.extend(frame)
        return out

    def _current_device(self, op: Operation) -> str:
        device = ""
        for d in self._device_stack:
            if d is None:
                device = ""
            elif callable(d) and not isinstance(d, (str, device_lib.DeviceSpec)):
                device = device_lib.merge_device(device, d(op) or "")
            else:
                device = device_lib.merge_device(device, device_lib.canonical_name(d))
        return device

    # -- creating ops --------------------------------------------------------------------------
    def create_op(self, op_type: str, inputs: Sequence[Tensor], dtypes_=None, input_types=None,
                  name: str | None = None, attrs: dict | None = None, op_def=None,
                  compute_device=True) -> Operation:
        """Adds an op of a registered type (TF1's signature; dtypes_/input_types are unused)."""
        op = Operation.__new__(Operation)
        self._init_op(op, op_type, list(inputs), dict(attrs or {}), name, [])
        return op

    def _init_op(self, op: Operation, op_type: str, inputs: list, attrs: dict, name,
                 control_inputs: list, *, keep_name: bool = False) -> None:
        if self._finalized:
            raise errors.GraphFinalizedError(None, None,
                                             "Graph is finalized and cannot be modified.")
        tensors = []
        info = _OPS.get(op_type)
        for i, t in enumerate(inputs):
            if not isinstance(t, Tensor):
                t = convert_to_tensor(t)
            if t._op._graph is not self:
                if self._outer_graph is None:
                    raise errors.InvalidGraphElementError(
                        None, None, f"Input {i} of '{name or op_type}' ({t.name}) is from a "
                        "different graph: all inputs of an op must be in the op's graph.")
                # A function body reads a value of an enclosing graph: it becomes an input.
                # A variable an op updates is named, not read, so it is not captured.
                if info is None or i not in info.ref_inputs:
                    t = self.capture(t)
            tensors.append(t)
        context = self._cond_context
        if context is not None:
            refs = info.ref_inputs if info is not None else ()
            tensors, control_inputs = context.enter_op(tensors, list(control_inputs), refs)
        if info is None:
            if type(op).compute is None:
                raise errors.NotFoundError(None, None, f"Op type not registered '{op_type}'")
            info = OpInfo(op_type, _seed_style_infer, _seed_style_kernel)
        for attr_name, default in info.defaults:
            if attr_name not in attrs:
                attrs[attr_name] = default
        op._graph = self
        op._type = op_type
        op._inputs = tuple(tensors)
        op._attrs = attrs
        op._info = info
        if not keep_name and name and name.endswith("/"):
            name, keep_name = name[:-1], True  # TF: a scope name ("scope/") names the op exactly
        if keep_name:
            op._name = name
            self._mark_name_used(name)
        else:
            op._name = self.unique_name(name or op_type)
        if op._name in self._nodes_by_name:
            raise errors.InvalidArgumentError(None, None, f"Duplicate node name in graph: "
                                              f"'{op._name}'")
        controls = list(control_inputs)
        if self._control_stack:
            input_ops = {t._op for t in tensors}
            for c in self._current_control_inputs():
                if c not in input_ops and c not in controls:
                    controls.append(c)
        op._control_inputs = tuple([_as_control_op(c, self) for c in controls])
        op._device = ""
        if self._colocation_stack:
            target = self._colocation_stack[-1]
            op._attrs["_class"] = [f"loc:@{target._name}".encode()]
            op._device = target._device
        if self._device_stack:
            op._device = device_lib.merge_device(op._device, self._current_device(op))
        if self._gradient_override and op_type in self._gradient_override:
            op._attrs["_gradient_op_type"] = self._gradient_override[op_type]
        self._add_op(op, tensors)
        if context is not None:
            context.ops.add(op)

    def _add_op(self, op: Operation, tensors, specs=None) -> None:
        """The last step of making an op, once every field but its outputs is set: the
        outputs, from the op type's shape function (unless their `specs` are known), and
        the op's place in the graph. (`_init_op`, and importing a GraphDef, which sets the
        fields itself when no scope of the graph applies.)"""
        if specs is None:
            specs = _inferred_specs(op)
        if len(specs) == 1:  # most ops: their one output, made without a loop
            (dtype, shape), = specs
            op._outputs = (Tensor(op, 0, dtype, shape if type(shape) is TensorShape
                                  else as_shape(shape)),)
        else:
            op._outputs = tuple([Tensor(op, i, dt, as_shape(shape))
                                 for i, (dt, shape) in enumerate(specs)])
        for t in tensors:
            consumers = t._consumer_ops
            if consumers is None:  # see Tensor._consumer_ops
                t._consumer_ops = op
            elif type(consumers) is list:
                consumers.append(op)
            else:
                t._consumer_ops = [consumers, op]
        ops = self._ops
        op._id = len(ops)
        ops.append(op)
        self._nodes_by_name[op._name] = op
        self._version += 1

    def _reserve_imported_names(self) -> None:
        for name in self._unreserved_names:
            self._mark_name_used(name)
        self._unreserved_names = []

    def _mark_name_used(self, name: str) -> None:
        key = name.lower()
        names = self._names_in_use
        if key not in names:  # counts are never 0
            names[key] = 1
        # A name "a_3" also reserves the suffix, so unique_name("a") never makes it again.
        base, _, suffix = key.rpartition("_")
        if base and suffix.isdigit() and base not in names:
            names[base] = 1

    # -- lookup --------------------------------------------------------------------------------
    def get_operations(self) -> list[Operation]:
        return list(self._ops)

    def get_operation_by_name(self, name: str) -> Operation:
        if not isinstance(name, str):
            raise TypeError(f"Operation names are strings (or similar), not {type(name).__name__}")
        return self.as_graph_element(name, allow_tensor=False, allow_operation=True)

    def get_tensor_by_name(self, name: str) -> Tensor:
        if not isinstance(name, str):
            raise TypeError(f"Tensor names are strings (or similar), not {type(name).__name__}")
        return self.as_graph_element(name, allow_tensor=True, allow_operation=False)

    def as_graph_element(self, obj, allow_tensor=True, allow_operation=True):
        """Resolves a Tensor, Operation, Variable or name to this graph's element."""
        if isinstance(obj, str):
            if ":" in obj:
                if not allow_tensor:
                    raise ValueError(f"Name '{obj}' appears to refer to a Tensor, not an "
                                     "Operation.")
                op_name, _, index = obj.rpartition(":")
                try:
                    index = int(index)
                except ValueError:
                    raise ValueError(f"The name '{obj}' looks like a Tensor name, but its "
                                     "output index is not a number.") from None
                op = self._nodes_by_name.get(op_name)
                if op is None:
                    raise errors.NameNotFoundError(
                        None, None, f"The name '{obj}' refers to a Tensor which does not exist. "
                        f"The operation, '{op_name}', does not exist in the graph.")
                if not 0 <= index < len(op._outputs):
                    raise errors.NameNotFoundError(
                        None, op, f"The name '{obj}' refers to a Tensor which does not exist. "
                        f"The operation, '{op_name}', exists but only has "
                        f"{len(op._outputs)} outputs.")
                return op._outputs[index]
            if not allow_operation:
                raise ValueError(f"The name '{obj}' looks like an (invalid) Operation name, not "
                                 "a Tensor. Tensor names must be of the form "
                                 "'<op_name>:<output_index>'.")
            op = self._nodes_by_name.get(obj)
            if op is None:
                raise errors.NameNotFoundError(None, None, f"The name '{obj}' refers to an "
                                               "Operation not in the graph.")
            return op
        if isinstance(obj, Operation) and obj._is_value_op() and allow_tensor:
            obj = obj._outputs[0]
        if isinstance(obj, Tensor) and allow_tensor:
            if obj._op._graph is not self:
                raise errors.InvalidGraphElementError(
                    None, obj._op, f"Tensor {obj.name} is not an element of this graph.")
            return obj
        if isinstance(obj, Operation) and allow_operation:
            if obj._graph is not self:
                raise errors.InvalidGraphElementError(
                    None, obj, f"Operation {obj.name} is not an element of this graph.")
            return obj
        conv = getattr(obj, "_as_graph_element", None)
        if conv is not None:
            return self.as_graph_element(conv(), allow_tensor, allow_operation)
        kinds = " or ".join(k for k, ok in (("Tensor", allow_tensor),
                                            ("Operation", allow_operation)) if ok)
        raise TypeError(f"Can not convert a {type(obj).__name__} into a {kinds}.")

    # -- collections ---------------------------------------------------------------------------
    def add_to_collection(self, name: str, value) -> None:
        self._collections.setdefault(name, []).append(value)

    def add_to_collections(self, names, value) -> None:
        for n in ([names] if isinstance(names, str) else set(names)):
            self.add_to_collection(n, value)

    def get_collection(self, name: str, scope: str | None = None) -> list:
        items = self._collections.get(name, [])
        if scope is None:
            return list(items)
        import re

        pattern = re.compile(scope)
        return [x for x in items if pattern.match(getattr(x, "name", "") or "")]

    def get_collection_ref(self, name: str) -> list:
        return self._collections.setdefault(name, [])

    def get_all_collection_keys(self) -> list[str]:
        return sorted(self._collections)

    def clear_collection(self, name: str) -> None:
        self._collections.pop(name, None)

    # -- serialization (tensorslow.framework.graph_io) -------------------------------------
    def as_graph_def(self, from_version=None, add_shapes=False):
        from tensorslow.framework import graph_io

        return graph_io.graph_to_graph_def(self, add_shapes=add_shapes)


class GraphKeys:
    GLOBAL_VARIABLES = "variables"
    LOCAL_VARIABLES = "local_variables"
    TRAINABLE_VARIABLES = "trainable_variables"
    MODEL_VARIABLES = "model_variables"
    GLOBAL_STEP = "global_step"
    SUMMARIES = "summaries"
    UPDATE_OPS = "update_ops"
    LOSSES = "losses"
    REGULARIZATION_LOSSES = "regularization_losses"
    TRAIN_OP = "train_op"
    SAVERS = "savers"
    INIT_OP = "init_op"
    LOCAL_INIT_OP = "local_init_op"
    READY_OP = "ready_op"
    QUEUE_RUNNERS = "queue_runners"
    ASSET_FILEPATHS = "asset_filepaths"


# --------------------------------------------------------------------------------------------
# Conversion of Python values to tensors
# --------------------------------------------------------------------------------------------

_conversion_functions: list[tuple[type, Callable]] = []


def register_tensor_conversion_function(base_type, conversion_func, priority=100) -> None:
    """conversion_func(value, dtype=None, name=None, as_ref=False) -> Tensor."""
    _conversion_functions.append((base_type, conversion_func))


def convert_to_tensor(value, dtype=None, name=None, preferred_dtype=None, as_ref=False,
                      dtype_hint=None) -> Tensor:
    """A Tensor for `value`: tensors pass through, Variables give their value, Python and numpy
    values become constants (TF's dtype rules: Python ints int32, floats float32)."""
    if isinstance(value, Tensor):
        if dtype is not None and value._dtype is not None:
            want = dtypes.as_dtype(dtype)
            if value._dtype.base_dtype != want.base_dtype:
                raise errors.BuildTypeError(
                    None, value._op, f"Tensor conversion requested dtype {want.name} for Tensor "
                    f"with dtype {value._dtype.name}: {value!r}")
        return value
    if isinstance(value, Operation):
        if value._is_value_op():
            return value._outputs[0]
        raise TypeError(f"Can't convert Operation '{value.name}' to Tensor (target dtype="
                        f"{dtype}, name={name!r}, as_ref={as_ref})")
    for base_type, fn in _conversion_functions:
        if isinstance(value, base_type):
            return fn(value, dtype=dtype, name=name, as_ref=as_ref)
    from tensorslow.ops import constant_op

    if dtype is None and (preferred_dtype or dtype_hint) is not None:
        try:
            return constant_op.constant(value, dtype=preferred_dtype or dtype_hint,
                                        name=name or "Const")
        except (TypeError, ValueError):
            pass
    return constant_op.constant(value, dtype=dtype, name=name or "Const")


def is_tensor_like(value) -> bool:
    if isinstance(value, Tensor):
        return True
    if isinstance(value, Operation):
        return value._is_value_op()
    return any(isinstance(value, base) for base, _ in _conversion_functions)


def _graph_of(values) -> Graph:
    """The graph of the first tensor-like value, else the default graph. While a function
    body is being built (the default graph is a function graph), it is that body: values of
    enclosing graphs are captured into it."""
    default = get_default_graph()
    if default._outer_graph is not None:
        return default
    for v in values:
        if isinstance(v, Tensor):
            return v._op._graph
        if isinstance(v, Operation):
            return v._graph
        g = getattr(v, "graph", None)
        if isinstance(g, Graph):
            return g
    return default


def _as_control_op(c, graph: Graph) -> Operation:
    if isinstance(c, Tensor):
        c = c._op
    elif not isinstance(c, Operation):
        conv = getattr(c, "_as_graph_element", None)
        if conv is None:
            raise TypeError(f"Control input must be an Operation or Tensor: {c!r}")
        c = conv()
        c = c._op if isinstance(c, Tensor) else c
    if c._graph is not graph:
        raise errors.InvalidGraphElementError(None, c, f"Control input '{c.name}' is from a "
                                              "different graph.")
    return c


# --------------------------------------------------------------------------------------------
# Module-level scopes on the default graph (tf.name_scope, tf.device, ...)
# --------------------------------------------------------------------------------------------


@contextlib.contextmanager
def name_scope(name, default_name=None, values=None):
    """`with ts.name_scope("layer") as scope:` (scope is "layer/")."""
    g = _graph_of(values or [])
    n = name if name is not None else default_name
    with g.as_default(), g.name_scope(n) as scope:
        yield scope


def device(device_name_or_function):
    return get_default_graph().device(device_name_or_function)


def control_dependencies(control_inputs):
    return get_default_graph().control_dependencies(control_inputs)


def colocate_with(op, ignore_existing=False):
    return get_default_graph().colocate_with(op, ignore_existing)


def get_collection(key, scope=None):
    return get_default_graph().get_collection(key, scope)


def get_collection_ref(key):
    return get_default_graph().get_collection_ref(key)


def add_to_collection(name, value):
    get_default_graph().add_to_collection(name, value)


def add_to_collections(names, value):
    get_default_graph().add_to_collections(names, value)


def make_op(op_type: str, inputs: Sequence[Any], attrs: dict | None = None, name=None,
            graph: Graph | None = None) -> Operation:
    """Creates an op of a registered type in the graph of its inputs (else the default)."""
    tensors = [v if isinstance(v, Tensor) else convert_to_tensor(v) for v in inputs]
    default = get_default_graph()
    if default._outer_graph is not None:
        graph = default  # building a function body: every op goes into it
    elif graph is None:
        graph = _graph_of(tensors) if tensors else default
    op = Operation.__new__(Operation)
    graph._init_op(op, op_type, tensors, dict(attrs) if attrs else {}, name, [])
    return op


def make_tensor(op_type: str, inputs: Sequence[Any], attrs: dict | None = None,
                name=None) -> Tensor:
    """`make_op(...).outputs[0]`: the common case of a one-output op."""
    return make_op(op_type, inputs, attrs, name)._outputs[0]


def numpy_value_of_const(t: Tensor):
    """The constant value of `t` when it is a Const's output, else None (for static folding)."""
    if t._op._type == "Const":
        return t._op._attrs["value"]
    return None


def static_value(t: Tensor):
    """Best-effort constant folding for shape-like tensors: Const, and Shape of a known shape."""
    op = t._op
    if op._type == "Const":
        return op._attrs["value"]
    if op._type == "Shape" and op._inputs[0]._shape.is_fully_defined():
        return np.array(op._inputs[0]._shape.as_list(),
                        dtype=op._attrs["out_type"].as_numpy_dtype)
    return None

"""Variables: the VariableV2/Assign ops and TF1's `Variable` class.

A variable's value lives in the session that runs it (`KernelContext.variables`, keyed by the
VariableV2 op's name), never in the graph, so one graph can back many sessions and a worker
process can hold the variables placed on it. As in TF1, `ts.Variable(v)` makes the ops
"<name>" (VariableV2), "<name>/initial_value", "<name>/Assign" (the initializer) and
"<name>/read" (the snapshot other ops consume).
"""

from __future__ import annotations

import numpy as np

from tensorslow.client.executor import ref_variable_op
from tensorslow.framework import dtypes, errors
from tensorslow.framework.ops import (
    REQUIRED,
    GraphKeys,
    NotDifferentiable,
    Operation,
    Tensor,
    convert_to_tensor,
    get_default_graph,
    make_op,
    register_op,
    register_tensor_conversion_function,
)
from tensorslow.framework.tensor_shape import TensorShape, as_shape
from tensorslow.ops import array_ops, control_flow_ops

# --------------------------------------------------------------------------------------------
# Ops
# --------------------------------------------------------------------------------------------


def _variable_kernel(op, ctx):
    # Reads are emitted by the executor where each consumer runs; this serves direct fetches.
    return lambda: ctx.read_variable(op)


register_op("VariableV2", infer=lambda op: [(op._attrs["dtype"], op._attrs["shape"])],
            kernel=_variable_kernel, stateful=True,
            attrs={"shape": ("shape", REQUIRED), "dtype": ("type", REQUIRED),
                   "container": ("string", ""), "shared_name": ("string", "")})
NotDifferentiable("VariableV2")


def _assign_infer(op):
    ref, value = op._inputs
    if ref._dtype is not None and value._dtype is not None and ref._dtype != value._dtype:
        raise TypeError(f"Input 'value' of 'Assign' Op has type {value._dtype.name} that does "
                        f"not match type {ref._dtype.name} of argument 'ref'.")
    shape = value._shape if op._attrs.get("validate_shape", True) is False else ref._shape
    if op._attrs.get("validate_shape", True) and not ref._shape.is_compatible_with(value._shape):
        raise ValueError(f"Shapes {ref._shape} and {value._shape} are incompatible "
                         f"(assigning to '{ref.op.name}')")
    return [(ref._dtype, shape)]


def _checked_value(op: Operation, var_op: Operation, value, validate_shape: bool):
    value = np.asarray(value)
    dtype = var_op._attrs["dtype"]
    if value.dtype != dtype.as_numpy_dtype:
        value = value.astype(dtype.as_numpy_dtype)
    if validate_shape:
        dims = var_op._attrs["shape"].as_tuple()
        if dims is not None and (len(dims) != value.ndim or any(
                d is not None and d != s for d, s in zip(dims, value.shape))):
            raise errors.InvalidArgumentError(
                None, op, f"Assign requires shapes of both tensors to match. lhs shape= "
                f"{list(dims)} rhs shape= {list(value.shape)} (variable '{var_op.name}')")
    return value


def _assign_kernel(op, ctx):
    var_op = ref_variable_op(op, 0)
    name = var_op.name
    validate = op._attrs.get("validate_shape", True)
    assign = ctx.assign_variable

    def assign_value(value):
        return assign(name, _checked_value(op, var_op, value, validate))
    return assign_value


def _assign_update_kernel(sign):
    def build(op, ctx):
        var_op = ref_variable_op(op, 0)
        name = var_op.name
        read, assign = ctx.read_variable, ctx.assign_variable

        def update(value):
            current = read(var_op)
            new = np.add(current, value) if sign > 0 else np.subtract(current, value)
            return assign(name, _checked_value(op, var_op, new, True))
        return update
    return build


_ASSIGN_ATTRS = {"T": ("type", None), "use_locking": ("bool", True),
                 "validate_shape": ("bool", True)}
register_op("Assign", infer=_assign_infer, kernel=_assign_kernel, ref_inputs=(0,),
            stateful=True, attrs=_ASSIGN_ATTRS)
register_op("AssignAdd", infer=_assign_infer, kernel=_assign_update_kernel(+1), ref_inputs=(0,),
            stateful=True, attrs={"T": ("type", None), "use_locking": ("bool", False)})
register_op("AssignSub", infer=_assign_infer, kernel=_assign_update_kernel(-1), ref_inputs=(0,),
            stateful=True, attrs={"T": ("type", None), "use_locking": ("bool", False)})
for _type in ("Assign", "AssignAdd", "AssignSub"):
    NotDifferentiable(_type)


def _is_initialized_kernel(op, ctx):
    name = ref_variable_op(op, 0).name
    return lambda: np.array(name in ctx.variables)


register_op("IsVariableInitialized", infer=lambda op: [(dtypes.bool, TensorShape([]))],
            kernel=_is_initialized_kernel, ref_inputs=(0,), stateful=True,
            attrs={"dtype": ("type", None)})
NotDifferentiable("IsVariableInitialized")


def _report_uninitialized_kernel(op, ctx):
    names = list(op._attrs["_var_names"])
    return lambda: np.array([n.encode() for n in names if n not in ctx.variables], dtype=object
                            ).reshape(-1)


register_op("_ReportUninitializedVariables",
            infer=lambda op: [(dtypes.string, TensorShape([None]))],
            kernel=_report_uninitialized_kernel, stateful=True,
            attrs={"_var_names": ("list(string)", REQUIRED)})
NotDifferentiable("_ReportUninitializedVariables")


def _ref(x) -> Tensor:
    if isinstance(x, Variable):
        return x._variable
    if isinstance(x, Tensor):
        return x
    raise TypeError(f"Expected a Variable or a variable's ref tensor, got {type(x).__name__}")


def _value_for(ref: Tensor, value) -> Tensor:
    with ref.graph.as_default():  # a Python value becomes a constant in the variable's graph
        return convert_to_tensor(value, dtype=ref._dtype)


def assign(ref, value, validate_shape=None, use_locking=None, name=None) -> Tensor:
    ref = _ref(ref)
    value = _value_for(ref, value)
    attrs = {"T": ref._dtype, "use_locking": True if use_locking is None else bool(use_locking),
             "validate_shape": True if validate_shape is None else bool(validate_shape)}
    return make_op("Assign", [ref, value], attrs, name=name or "Assign")._outputs[0]


def assign_add(ref, value, use_locking=None, name=None) -> Tensor:
    ref = _ref(ref)
    return make_op("AssignAdd", [ref, _value_for(ref, value)],
                   {"T": ref._dtype, "use_locking": bool(use_locking)},
                   name=name or "AssignAdd")._outputs[0]


def assign_sub(ref, value, use_locking=None, name=None) -> Tensor:
    ref = _ref(ref)
    return make_op("AssignSub", [ref, _value_for(ref, value)],
                   {"T": ref._dtype, "use_locking": bool(use_locking)},
                   name=name or "AssignSub")._outputs[0]


# --------------------------------------------------------------------------------------------
# The Variable class
# --------------------------------------------------------------------------------------------


class Variable:
    """TF1's (reference) Variable: state kept by each session, initialized by `initializer`."""

    def __init__(self, initial_value=None, trainable=True, collections=None,
                 validate_shape=True, caching_device=None, name=None, variable_def=None,
                 dtype=None, expected_shape=None, import_scope=None, constraint=None,
                 use_resource=None, synchronization=None, aggregation=None, shape=None):
        if variable_def is not None:
            raise NotImplementedError("Variable(variable_def=...) is not supported; use "
                                      "ts.import_graph_def or a Saver to restore variables.")
        if initial_value is None:
            raise ValueError("initial_value must be specified.")
        graph = get_default_graph()
        if isinstance(initial_value, Tensor):
            graph = initial_value.graph
        with graph.as_default(), graph.outside_cond(), \
                graph.name_scope(name or "Variable") as scope:
            var_name = scope[:-1]
            if callable(initial_value):
                initial_value = initial_value()
            init = convert_to_tensor(initial_value, dtype=dtype, name="initial_value")
            if init._dtype is None:
                raise errors.BuildTypeError(None, None, f"The initial value of variable "
                                            f"'{var_name}' has no dtype; give one with dtype=")
            var_shape = as_shape(shape) if shape is not None else (
                init._shape if validate_shape else TensorShape(None))
            if validate_shape and not var_shape.is_fully_defined() and shape is None:
                raise ValueError(f"initial_value must have a shape specified: {init}")
            op = Operation.__new__(Operation)
            graph._init_op(op, "VariableV2", [], {"shape": var_shape,
                                                  "dtype": init._dtype.base_dtype},
                           var_name, [], keep_name=True)
            self._variable = op._outputs[0]
            if caching_device is None and op.device == "" and init.op.device:
                op._set_device(init.op.device)
            self._initial_value = init
            with graph.colocate_with(op):
                self._initializer_op = assign(self._variable, init,
                                              validate_shape=validate_shape,
                                              name="Assign").op
                self._snapshot = array_ops.identity(self._variable, name="read")
            op._initializer_op = self._initializer_op
        self._trainable = bool(trainable)
        self._constraint = constraint
        self._save_slice_info = None
        if collections is None:
            collections = [GraphKeys.GLOBAL_VARIABLES]
        collections = list(collections)
        if trainable and GraphKeys.TRAINABLE_VARIABLES not in collections:
            collections.append(GraphKeys.TRAINABLE_VARIABLES)
        graph.add_to_collections(collections, self)

    @classmethod
    def _from_graph(cls, graph, variable: Tensor, initializer: Operation, snapshot: Tensor,
                    initial_value: Tensor | None, trainable: bool) -> Variable:
        """A Variable for ops already in a graph (an imported MetaGraphDef), making none."""
        if variable.op.type not in ("VariableV2", "Variable"):
            raise ValueError(f"'{variable.name}' is a {variable.op.type}, not a variable")
        var = cls.__new__(cls)
        var._variable = variable
        var._initializer_op = initializer
        var._snapshot = snapshot
        var._initial_value = initial_value if initial_value is not None else (
            initializer.inputs[1] if len(initializer.inputs) > 1 else snapshot)
        var._trainable = bool(trainable)
        var._constraint = None
        var._save_slice_info = None
        variable.op._initializer_op = initializer
        return var

    # -- identity -------------------------------------------------------------------------
    @property
    def name(self) -> str:
        return self._variable.name

    @property
    def op(self) -> Operation:
        return self._variable.op

    @property
    def graph(self):
        return self._variable.graph

    @property
    def device(self) -> str:
        return self._variable.op.device

    @property
    def dtype(self):
        return self._variable.dtype

    @property
    def shape(self) -> TensorShape:
        return self._variable.shape

    def get_shape(self) -> TensorShape:
        return self._variable.shape

    @property
    def trainable(self) -> bool:
        return self._trainable

    @property
    def constraint(self):
        return self._constraint

    @property
    def initializer(self) -> Operation:
        return self._initializer_op

    @property
    def initial_value(self) -> Tensor:
        return self._initial_value

    # -- values ---------------------------------------------------------------------------
    def value(self) -> Tensor:
        return self._snapshot

    def read_value(self) -> Tensor:
        return array_ops.identity(self._variable, name="read")

    def _ref(self) -> Tensor:
        return self._variable

    def _as_graph_element(self) -> Tensor:
        return self._variable

    def eval(self, session=None):
        from tensorslow.client.session import _default_session_for

        return _default_session_for(self.graph, session).run(self._variable)

    def load(self, value, session=None) -> None:
        from tensorslow.client.session import _default_session_for

        session = _default_session_for(self.graph, session)
        session.run(self._initializer_op, {self._initial_value: value})

    def initialized_value(self) -> Tensor:
        from tensorslow.ops.control_flow_ops import with_dependencies

        return with_dependencies([self._initializer_op], self._variable)

    # -- updates --------------------------------------------------------------------------
    def assign(self, value, use_locking=False, name=None, read_value=True):
        out = assign(self._variable, value, use_locking=use_locking, name=name)
        return out if read_value else out.op

    def assign_add(self, delta, use_locking=False, name=None, read_value=True):
        out = assign_add(self._variable, delta, use_locking=use_locking, name=name)
        return out if read_value else out.op

    def assign_sub(self, delta, use_locking=False, name=None, read_value=True):
        out = assign_sub(self._variable, delta, use_locking=use_locking, name=name)
        return out if read_value else out.op

    def set_shape(self, shape) -> None:
        self._variable.set_shape(shape)
        self._snapshot.set_shape(shape)

    def __repr__(self):
        return (f"<ts.Variable '{self.name}' shape={self.shape} dtype={self.dtype.name}>")

    def __hash__(self):
        return id(self)

    def __eq__(self, other):
        return self is other

    def __bool__(self):
        raise TypeError("Using a ts.Variable as a Python `bool` is not allowed.")

    def __getitem__(self, key):
        return self._snapshot[key]

    __array_priority__ = 100  # numpy defers `ndarray * Variable` to Variable.__rmul__


def _variable_conversion(v: Variable, dtype=None, name=None, as_ref=False) -> Tensor:
    t = v._variable if as_ref else v._snapshot
    if dtype is not None and v.dtype is not None and dtypes.as_dtype(dtype) != v.dtype:
        raise errors.BuildTypeError(None, None, f"Incompatible type conversion requested to "
                                    f"type '{dtypes.as_dtype(dtype).name}' for variable of "
                                    f"type '{v.dtype.name}'")
    return t


register_tensor_conversion_function(Variable, _variable_conversion)


def _install_variable_operators():
    for name in ("add", "sub", "mul", "truediv", "floordiv", "mod", "pow", "matmul", "and",
                 "or", "lt", "le", "gt", "ge"):
        for attr in (f"__{name}__", f"__r{name}__"):
            method = getattr(Tensor, attr, None)
            if method is not None:
                setattr(Variable, attr, _delegate(method))
    for attr in ("__neg__", "__abs__", "__invert__"):
        setattr(Variable, attr, _delegate(getattr(Tensor, attr)))


def _delegate(method):
    def call(self, *args):
        return method(self._snapshot, *args)
    return call


# --------------------------------------------------------------------------------------------
# Collections and initializers
# --------------------------------------------------------------------------------------------


def global_variables(scope=None) -> list[Variable]:
    return get_default_graph().get_collection(GraphKeys.GLOBAL_VARIABLES, scope)


all_variables = global_variables


def trainable_variables(scope=None) -> list[Variable]:
    return get_default_graph().get_collection(GraphKeys.TRAINABLE_VARIABLES, scope)


def local_variables(scope=None) -> list[Variable]:
    return get_default_graph().get_collection(GraphKeys.LOCAL_VARIABLES, scope)


def model_variables(scope=None) -> list[Variable]:
    return get_default_graph().get_collection(GraphKeys.MODEL_VARIABLES, scope)


def variables_initializer(var_list, name="init") -> Operation:
    var_list = list(var_list)
    if not var_list:
        return control_flow_ops.no_op(name=name)
    return control_flow_ops.group(*[v.initializer for v in var_list], name=name)


def global_variables_initializer() -> Operation:
    return variables_initializer(global_variables())


initialize_all_variables = global_variables_initializer


def local_variables_initializer() -> Operation:
    return variables_initializer(local_variables(), name="init_1")


def is_variable_initialized(variable) -> Tensor:
    return make_op("IsVariableInitialized", [_ref(variable)],
                   {"dtype": _ref(variable)._dtype})._outputs[0]


def report_uninitialized_variables(var_list=None, name="report_uninitialized_variables"):
    """A string tensor with the names of the variables not yet initialized in the session."""
    if var_list is None:
        var_list = global_variables() + local_variables()
    names = [v.op.name for v in var_list]
    graph = var_list[0].graph if var_list else get_default_graph()
    return make_op("_ReportUninitializedVariables", [], {"_var_names": names}, name=name,
                   graph=graph)._outputs[0]


def assert_variables_initialized(var_list=None):
    from tensorslow.ops import math_ops

    return math_ops.equal(array_ops.size(report_uninitialized_variables(var_list)), 0)

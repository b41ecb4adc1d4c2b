"""Function graphs: the bodies of TensorFlow's functions, and the library that holds them.

A function is a graph of its own (`FuncGraph`) with input placeholders (its arguments), output
tensors (its results) and control outputs (ops that must run although no result depends on
them). TensorFlow's call ops (PartitionedCall, StatefulPartitionedCall) and functional control
flow (If, While, Case) name functions by attr; a graph and all the function graphs defined in it
share one library (`Graph._functions`, name -> `Function`), which GraphDef carries as its
FunctionDefLibrary.

While a body is built (its FuncGraph is the default graph), every op goes into it, and a value
of an enclosing graph that an op reads is captured: the body gets a placeholder for it, and
whoever calls the function passes the value as an extra argument (`FuncGraph.captures`).
Variables made while a body is built are made in the outermost graph, as TensorFlow lifts them
out of functions: they exist once, whichever iteration or branch runs.

FunctionDef (`function_to_def`, `function_from_def`) names node outputs by the op's output
argument ("MatMul:product:0", "split:output:2"); `op_def_table` holds those names.
"""

from __future__ import annotations

import re

from tensorslow.framework import dtypes, errors
from tensorslow.framework.ops import Graph, Operation, Tensor, get_op_info
from tensorslow.framework.tensor_shape import TensorShape

# --------------------------------------------------------------------------------------------
# FuncGraph and Function
# --------------------------------------------------------------------------------------------


class FuncGraph(Graph):
    """The graph of one function body, defined in `outer_graph` (a Graph or a FuncGraph).

    It shares the outer graph's function library, collections and variable scopes, so
    `get_variable` in a loop body finds the variables of the enclosing program.
    """

    def __init__(self, name: str, outer_graph: Graph):
        super().__init__()
        from tensorslow.ops import variable_scope

        self.name = name
        self._outer_graph = outer_graph
        self._functions = outer_graph._functions
        self._collections = outer_graph._collections
        self._variable_scope_store = variable_scope._scope_store(outer_graph)
        self.seed = outer_graph.seed
        self.inputs: list[Tensor] = []
        self.outputs: list[Tensor] = []
        self.control_outputs: list[Operation] = []
        # (value of the outer graph, its placeholder here), in the order they were captured.
        self.captures: list[tuple[Tensor, Tensor]] = []
        self._captured: dict[Tensor, Tensor] = {}
        # A gradient body reads forward values through this hook (see functional_ops): it
        # returns the tensor to use here, or None for an ordinary capture.
        self.capture_hook = None

    @property
    def outer_graph(self) -> Graph:
        return self._outer_graph

    def root_graph(self) -> Graph:
        graph = self
        while graph._outer_graph is not None:
            graph = graph._outer_graph
        return graph

    def add_input(self, dtype, shape, name: str = "arg") -> Tensor:
        """A new argument of the function (a placeholder), appended to `inputs`."""
        t = self._placeholder(dtype, shape, name)
        self.inputs.append(t)
        return t

    def _placeholder(self, dtype, shape, name: str) -> Tensor:
        op = Operation.__new__(Operation)
        saved_stack, self._name_stack = self._name_stack, ""
        try:
            with self.control_dependencies(None):
                self._init_op(op, "Placeholder", [], {"dtype": dtype, "shape": TensorShape(
                    shape) if not isinstance(shape, TensorShape) else shape},
                    _arg_name(name), [])
        finally:
            self._name_stack = saved_stack
        return op._outputs[0]

    def capture(self, t: Tensor) -> Tensor:
        """The tensor of this graph that stands for `t`, a value of an enclosing graph."""
        if t._op._graph is self:
            return t
        inner = self._captured.get(t)
        if inner is not None:
            return inner
        if self.capture_hook is not None:
            inner = self.capture_hook(t)
            if inner is not None:
                self._captured[t] = inner
                return inner
        outer = self._outer_graph
        source = t
        if t._op._graph is not outer:
            if outer._outer_graph is None:
                raise errors.InvalidGraphElementError(
                    None, t._op, f"Function '{self.name}' cannot use {t.name}: it is not in "
                    "the function or any graph enclosing it.")
            source = outer.capture(t)
        inner = self._captured.get(source)
        if inner is None:
            inner = self._placeholder(source._dtype, source._shape, source._op._name)
            handle = getattr(source._op, "_handle_data", None)
            if handle is None and source._op._type == "VarHandleOp":
                handle = (source._op._attrs["dtype"], source._op._attrs["shape"])
            if handle is None and source._dtype == dtypes.variant:
                from tensorslow.ops.list_ops import list_handle_data

                handle = list_handle_data(source)
            if handle is not None:
                inner._op._handle_data = handle
            self.captures.append((source, inner))
            self._captured[source] = inner
        self._captured[t] = inner
        return inner


class Function:
    """A function of the library: its body and signature.

    `inputs` are placeholders of `graph` (arguments, in order), `outputs` its results;
    `control_outputs` ops that run although no result needs them. `arg_names`/`ret_names`
    are the names FunctionDef gives the arguments and results.
    """

    def __init__(self, name: str, graph: FuncGraph, inputs, outputs, control_outputs=(),
                 arg_names=None, ret_names=None, attrs=None):
        self.name = name
        self.graph = graph
        self.inputs = list(inputs)
        self.outputs = list(outputs)
        self.control_outputs = list(control_outputs)
        self.arg_names = list(arg_names) if arg_names is not None else _unique_names(
            [t._op._name for t in self.inputs])
        self.ret_names = list(ret_names) if ret_names is not None else _unique_names(
            [t._op._name for t in self.outputs], taken=set(self.arg_names))
        self.attrs = dict(attrs or {})
        # The last `stacked` results are values a loop body keeps for its gradient.
        self.stacked = 0
        for t in self.outputs:
            if t._dtype is None:
                raise errors.BuildTypeError(None, t._op, f"Function '{name}' returns "
                                            f"{t.name}, which has no dtype")

    @property
    def input_types(self) -> list:
        return [t._dtype for t in self.inputs]

    @property
    def output_types(self) -> list:
        return [t._dtype for t in self.outputs]

    @property
    def output_shapes(self) -> list[TensorShape]:
        return [t._shape for t in self.outputs]

    @property
    def stateful(self) -> bool:
        return any(op._info.stateful for op in self.graph._ops)

    def __repr__(self) -> str:
        return f"<ts.Function '{self.name}' {len(self.inputs)} -> {len(self.outputs)}>"


def unique_function_name(graph: Graph, base: str) -> str:
    """A name no function of the library has or will have (it is reserved: bodies are built
    before their functions are added, and other functions may be built inside them)."""
    base = re.sub(r"[^A-Za-z0-9_.\-]", "_", base) or "function"
    root = graph
    while root._outer_graph is not None:
        root = root._outer_graph
    reserved = root.__dict__.setdefault("_reserved_function_names", set())
    importer = _importer_of(graph)
    name, n = base, 0
    while name in graph._functions or name in reserved or (
            importer is not None and name in importer.pending):
        n += 1
        name = f"{base}_{n}"
    reserved.add(name)
    return name


def add_function(graph: Graph, fn: Function) -> Function:
    """Adds `fn` to the library of `graph` (shared by all its function graphs)."""
    existing = graph._functions.get(fn.name)
    if existing is not None and existing is not fn:
        raise errors.InvalidArgumentError(None, None, f"Cannot add function '{fn.name}': the "
                                          "library already has a function of that name")
    graph._functions[fn.name] = fn
    graph._version += 1
    return fn


def lookup(graph: Graph, name) -> Function:
    """The library function `name` (a string or a NameAttrList), imported on first use when
    the graph's GraphDef is still being read."""
    if not isinstance(name, str):
        name = name.name
    fn = graph._functions.get(name)
    if fn is not None:
        return fn
    importer = _importer_of(graph)
    if importer is not None and name in importer.pending:
        return importer.convert(name)
    raise errors.NotFoundError(None, None, f"Function '{name}' is not in the graph's function "
                               "library")


def func_attr(name: str):
    """The AttrValue.func value (a NameAttrList) naming library function `name`."""
    from tensorslow import proto

    value = proto.NameAttrList()
    value.name = name
    return value


def functions_used(ops) -> list[Function]:
    """The library functions `ops` call, directly or through other functions, by name."""
    found: dict[str, Function] = {}
    stack = list(ops)
    while stack:
        op = stack.pop()
        for value in op._attrs.values():
            for name in _func_names(value):
                if name not in found:
                    fn = lookup(op._graph, name)
                    found[name] = fn
                    stack.extend(fn.graph._ops)
    return [found[n] for n in sorted(found)]


def _func_names(value) -> list[str]:
    if type(value).__name__ == "NameAttrList":
        return [value.name]
    if isinstance(value, list) and value and type(value[0]).__name__ == "NameAttrList":
        return [v.name for v in value]
    return []


_ARG_NAME = re.compile(r"[a-z][a-z0-9_]*")


def _arg_name(name: str) -> str:
    """A FunctionDef argument name: lowercase letters, digits and underscores, starting with a
    letter."""
    out = re.sub(r"[^a-z0-9_]", "_", name.lower())
    if not out or not out[0].isalpha():
        out = "arg_" + out
    return out


def _unique_names(names, taken=()) -> list[str]:
    used = set(taken)
    out = []
    for name in names:
        base = _arg_name(name)
        candidate, n = base, 0
        while candidate in used:
            n += 1
            candidate = f"{base}_{n}"
        used.add(candidate)
        out.append(candidate)
    return out


# --------------------------------------------------------------------------------------------
# Output argument names (FunctionDef's "node:arg:index")
# --------------------------------------------------------------------------------------------


def _output_args(op_type: str):
    from tensorslow.framework import op_def_table

    return op_def_table.OUTPUT_ARGS.get(op_type)


def _arg_size(spec, attrs: dict) -> int:
    _, number_attr, type_list_attr = spec
    if number_attr:
        return int(attrs[number_attr])
    if type_list_attr:
        return len(attrs[type_list_attr])
    return 1


def output_reference(t: Tensor) -> str:
    """`t` as a FunctionDef node input: "node:output_arg:index"."""
    op = t._op
    specs = _output_args(op._type)
    if specs is None:
        if len(op._outputs) != 1:
            raise errors.InvalidArgumentError(
                None, op, f"Cannot write '{op.name}' ({op.type}) into a FunctionDef: the names "
                "of its outputs are not known")
        return f"{op._name}:output:0"
    index = t._value_index
    if op._type in ("While", "StatelessWhile"):
        # Past its loop variables, a While's outputs are the lists it keeps for its gradient,
        # written out as loop variables too (framework/while_export.py).
        return f"{op._name}:output:{index}"
    for spec in specs:
        size = _arg_size(spec, op._attrs)
        if index < size:
            return f"{op._name}:{spec[0]}:{index}"
        index -= size
    raise errors.InvalidArgumentError(None, op, f"Output {t._value_index} of '{op.name}' "
                                      f"({op.type}) is beyond its op's outputs")


def _flat_output_index(op: Operation, arg: str, index: int, where: str) -> int:
    specs = _output_args(op._type)
    if specs is None:
        if arg in ("output", "y", "z") or len(op._outputs) == 1:
            return index
        raise errors.InvalidArgumentError(None, None, f"{where}: the outputs of op type "
                                          f"{op._type} are not known by name ('{arg}')")
    flat = 0
    for spec in specs:
        size = _arg_size(spec, op._attrs)
        if spec[0] == arg:
            if index >= size:
                break
            return flat + index
        flat += size
    raise errors.InvalidArgumentError(None, None, f"{where}: '{op.name}' ({op._type}) has no "
                                      f"output '{arg}:{index}'")


# --------------------------------------------------------------------------------------------
# FunctionDef: writing
# --------------------------------------------------------------------------------------------


def function_to_def(fn: Function):
    """The FunctionDef of `fn` (TensorFlow's format: TensorFlow imports and runs it)."""
    from tensorslow import proto
    from tensorslow.framework import graph_io

    fdef = proto.FunctionDef()
    sig = fdef.signature
    sig.name = fn.name
    arg_of = {}
    input_shapes = fdef.attr["_input_shapes"].list
    for t, arg in zip(fn.inputs, fn.arg_names):
        arg_def = sig.input_arg.add()
        arg_def.name = arg
        arg_def.type = _enum(t, fn)
        handle = getattr(t._op, "_handle_data", None)
        if handle is not None:
            data = arg_def.handle_data.add()
            data.dtype = handle[0].as_datatype_enum
            graph_io._shape_to_proto(TensorShape(handle[1]), data.shape)
        graph_io._shape_to_proto(t._shape, input_shapes.shape.add())
        arg_of[t] = arg
    if not fn.inputs:
        del fdef.attr["_input_shapes"]
    for t, ret in zip(fn.outputs, fn.ret_names):
        arg_def = sig.output_arg.add()
        arg_def.name = ret
        arg_def.type = _enum(t, fn)
    inputs = {t._op for t in fn.inputs}
    stateful = False
    for op in fn.graph._ops:
        if op in inputs:
            continue
        if op._type == "Placeholder":
            raise errors.InvalidArgumentError(
                None, op, f"Function '{fn.name}' has a placeholder, '{op.name}', that is not "
                "one of its arguments")
        for t in op._inputs:
            if t._op._graph is not fn.graph:
                raise errors.UnimplementedError(
                    None, op, f"Function '{fn.name}' cannot be written as a FunctionDef: "
                    f"'{op.name}' updates '{t.op.name}' of an enclosing graph (a reference "
                    "variable); use a resource variable (use_resource=True) in functions")
        node = graph_io.node_def_of(op)
        del node.input[:]
        node.input.extend(arg_of[t] if t in arg_of else output_reference(t) for t in op._inputs)
        node.input.extend("^" + c._name for c in op._control_inputs)
        fdef.node_def.append(node)
        stateful = stateful or op._info.stateful
    for t, ret in zip(fn.outputs, fn.ret_names):
        fdef.ret[ret] = arg_of[t] if t in arg_of else output_reference(t)
    for op in fn.control_outputs:
        sig.control_output.append(op._name)
        fdef.control_ret[op._name] = op._name
    sig.is_stateful = stateful
    return fdef


def _enum(t: Tensor, fn: Function) -> int:
    if t._dtype is None:
        raise errors.BuildTypeError(None, t._op, f"Function '{fn.name}': {t.name} has no dtype")
    return t._dtype.as_datatype_enum


# --------------------------------------------------------------------------------------------
# FunctionDef: reading
# --------------------------------------------------------------------------------------------


class LibraryImporter:
    """Turns a FunctionDefLibrary into library functions of `graph`, each on first use (a
    function's body may call functions that come later in the library), then all the rest."""

    def __init__(self, graph: Graph, library, source: str):
        self.graph = graph
        self.source = source
        self.pending = {}
        for fdef in library.function:
            name = fdef.signature.name
            existing = graph._functions.get(name)
            if existing is not None:
                if function_to_def(existing).SerializeToString(deterministic=True) != (
                        fdef.SerializeToString(deterministic=True)):
                    raise errors.InvalidArgumentError(
                        None, None, f"{source}: the library defines function '{name}', which "
                        "the graph already has with another definition")
                continue
            if name in self.pending:
                raise errors.InvalidArgumentError(None, None, f"{source}: function '{name}' "
                                                  "is defined twice")
            self.pending[name] = fdef
        self._converting: list[str] = []

    def __enter__(self):
        self.graph._function_importer = self
        return self

    def __exit__(self, *exc):
        self.graph._function_importer = None

    def convert_all(self) -> None:
        while self.pending:
            self.convert(next(iter(self.pending)))

    def convert(self, name: str) -> Function:
        if name in self._converting:
            raise errors.UnimplementedError(None, None, f"{self.source}: function '{name}' "
                                            "calls itself (recursion is not supported)")
        fdef = self.pending[name]
        self._converting.append(name)
        try:
            fn = function_from_def(fdef, self.graph, self.source)
        finally:
            self._converting.pop()
        del self.pending[name]
        add_function(self.graph, fn)
        return fn


def _importer_of(graph: Graph):
    while graph._outer_graph is not None:
        graph = graph._outer_graph
    return getattr(graph, "_function_importer", None)


def _parse_function_input(name: str):
    """(source, output arg or None, index, is_control) of a FunctionDef node input."""
    if name.startswith("^"):
        return name[1:], None, 0, True
    parts = name.split(":")
    if len(parts) == 1:
        return name, None, 0, False
    if len(parts) == 2:
        return parts[0], None, int(parts[1]) if parts[1].isdigit() else 0, False
    return ":".join(parts[:-2]), parts[-2], int(parts[-1]), False


def function_from_def(fdef, graph: Graph, source: str = "FunctionDef") -> Function:
    """A Function of `graph`'s library built from a FunctionDef (checked as GraphDef nodes are:
    registered ops, existing inputs, no cycles, attrs of the kinds the ops take)."""
    from tensorslow.framework import graph_io

    sig = fdef.signature
    name = sig.name
    where = f"{source}, function '{name}'"
    if sig.attr:
        raise errors.UnimplementedError(None, None, f"{where}: functions with attrs of their "
                                        f"own ({', '.join(a.name for a in sig.attr)}) are not "
                                        "supported")
    body = FuncGraph(name, graph)
    shapes = fdef.attr["_input_shapes"].list.shape if "_input_shapes" in fdef.attr else []
    args: dict[str, Tensor] = {}
    for i, arg in enumerate(sig.input_arg):
        if arg.type_attr or arg.number_attr or arg.type_list_attr or not arg.type:
            raise errors.UnimplementedError(None, None, f"{where}: argument '{arg.name}' has "
                                            "a polymorphic type, which is not supported")
        shape = TensorShape(None)
        if i < len(shapes):
            shape = graph_io.shape_from_proto(shapes[i])
        elif i in fdef.arg_attr and "_output_shapes" in fdef.arg_attr[i].attr:
            listed = fdef.arg_attr[i].attr["_output_shapes"].list.shape
            if listed:
                shape = graph_io.shape_from_proto(listed[0])
        t = body._placeholder(_dtype(arg.type, where), shape, arg.name)
        if t._op._name != arg.name:
            raise errors.InvalidArgumentError(None, None, f"{where}: argument name "
                                              f"'{arg.name}' is not valid or used twice")
        if arg.handle_data:
            data = arg.handle_data[0]
            t._op._handle_data = (_dtype(data.dtype, where),
                                  graph_io.shape_from_proto(data.shape))
        body.inputs.append(t)
        args[arg.name] = t
    nodes = list(fdef.node_def)
    by_name = {}
    for node in nodes:
        if node.name in args or node.name in by_name:
            raise errors.InvalidArgumentError(None, None, f"{where}: duplicate node name "
                                              f"'{node.name}'")
        by_name[node.name] = node
    created: dict[str, Operation] = {}

    def resolve(text: str, node_where: str) -> Tensor:
        src, arg, index, _ = _parse_function_input(text)
        if arg is None and src in args:
            return args[src]
        if src not in created:
            raise errors.InvalidArgumentError(None, None, f"{node_where}: input '{text}' names "
                                              "no argument or node of the function")
        op = created[src]
        flat = index if arg is None else _flat_output_index(op, arg, index, node_where)
        if flat >= len(op._outputs):
            raise errors.InvalidArgumentError(None, None, f"{node_where}: input '{text}' is "
                                              f"beyond the {len(op._outputs)} outputs of "
                                              f"'{src}'")
        return op._outputs[flat]

    for node in _function_order(nodes, args, where):
        node_where = f"{where}, node '{node.name}'"
        info = get_op_info(node.op)
        if info is None:
            raise errors.NotFoundError(None, None, f"{node_where}: Op type not registered "
                                       f"'{node.op}'")
        inputs, controls = [], []
        for text in node.input:
            if text.startswith("^"):
                src = text[1:]
                if src not in created:
                    raise errors.InvalidArgumentError(None, None, f"{node_where}: control "
                                                      f"input '{text}' names no node")
                controls.append(created[src])
            else:
                inputs.append(resolve(text, node_where))
        attrs = graph_io.node_attrs(node, info, node_where)
        op = Operation.__new__(Operation)
        try:
            body._init_op(op, node.op, inputs, attrs, node.name, controls, keep_name=True)
        except errors.OpError as e:
            raise type(e)(None, None, f"{node_where}: {e.message}") from None
        if node.device:
            op._set_device(node.device)
        created[node.name] = op
    outputs = []
    for arg in sig.output_arg:
        if arg.name not in fdef.ret:
            raise errors.InvalidArgumentError(None, None, f"{where}: result '{arg.name}' has "
                                              "no value (ret)")
        outputs.append(resolve(fdef.ret[arg.name], f"{where}, result '{arg.name}'"))
    controls = []
    for out_name in sig.control_output:
        node_name = fdef.control_ret.get(out_name, out_name)
        if node_name not in created:
            raise errors.InvalidArgumentError(None, None, f"{where}: control output "
                                              f"'{out_name}' names no node")
        controls.append(created[node_name])
    body.outputs, body.control_outputs = outputs, controls
    return Function(name, body, body.inputs, outputs, controls,
                    arg_names=[a.name for a in sig.input_arg],
                    ret_names=[a.name for a in sig.output_arg])


def _function_order(nodes, args, where: str) -> list:
    """Nodes of a FunctionDef ordered so each comes after its inputs (iteratively)."""
    import heapq

    position = {node.name: i for i, node in enumerate(nodes)}
    by_name = {node.name: node for node in nodes}
    remaining, consumers, ready = {}, {}, []
    for node in nodes:
        deps = set()
        for text in node.input:
            src, arg, _, control = _parse_function_input(text)
            if not control and arg is None and src in args:
                continue
            if src not in by_name:
                raise errors.InvalidArgumentError(None, None, f"{where}, node '{node.name}': "
                                                  f"input '{text}' names no argument or node")
            deps.add(src)
        remaining[node.name] = len(deps)
        for d in deps:
            consumers.setdefault(d, []).append(node.name)
        if not deps:
            ready.append((position[node.name], node.name))
    heapq.heapify(ready)
    order = []
    while ready:
        _, name = heapq.heappop(ready)
        order.append(by_name[name])
        for c in consumers.get(name, ()):
            remaining[c] -= 1
            if remaining[c] == 0:
                heapq.heappush(ready, (position[c], c))
    if len(order) != len(nodes):
        stuck = sorted(n for n, k in remaining.items() if k > 0)[:5]
        raise errors.InvalidArgumentError(None, None, f"{where}: the body has a cycle through "
                                          f"nodes {stuck}")
    return order


def _dtype(enum: int, where: str):
    try:
        return dtypes.as_dtype(enum)
    except TypeError as e:
        raise errors.InvalidArgumentError(None, None, f"{where}: {e}") from None

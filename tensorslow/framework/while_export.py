"""Loops that keep per-iteration values for their gradient, written as TensorFlow writes them.

In memory, a While whose gradient needs values of its iterations has a body that returns them
past its loop variables (attr `_stacked_outputs` = k), and its kernel stacks them into k
TensorLists: k outputs past the loop variables' n. TensorFlow's While has exactly as many
outputs as loop variables; TensorFlow 2 keeps such values in TensorList loop variables its
body pushes onto. `to_tensorflow_form` rewrites a GraphDef that way: such a While gets k more
loop variables, each starting as an EmptyTensorList; its body becomes a function that calls
the original body and pushes the k extra results onto them, its cond one that calls the
original cond on the first n. Output indices stay as they were, so no consumer changes, and
TensorFlow runs the gradient loops that read the lists. Whiles in the library's functions are
rewritten as those in the graph.
"""

from __future__ import annotations

from tensorslow.framework import dtypes

_WHILE_OPS = ("While", "StatelessWhile")
_VARIANT = dtypes.variant.as_datatype_enum
_INT32 = dtypes.int32.as_datatype_enum


def to_tensorflow_form(graph_def) -> None:
    """Rewrites, in place, every While of `graph_def` (and of its library) that keeps values
    for its gradient into TensorFlow's form."""
    library = graph_def.library
    functions = {f.signature.name: f for f in library.function}
    wrappers: dict[tuple[str, str, int], tuple[str, str]] = {}

    def rewrite(node, nodes, in_function: bool) -> list:
        """Rewrites While `node`; returns the nodes to put just before it."""
        n = len(node.attr["T"].list.type)
        element_types = _element_types(functions, node)
        k = len(element_types)
        added, inputs = _accumulators(nodes, node, element_types, in_function)
        _extend_while(node, inputs, k)
        body = functions[node.attr["body"].func.name]
        cond = functions[node.attr["cond"].func.name]
        key = (body.signature.name, cond.signature.name, n)
        if key not in wrappers:
            names = (_unique(functions, body.signature.name + "_accumulating"),
                     _unique(functions, cond.signature.name + "_accumulating"))
            for made in (_body_wrapper(body, n, names[0]),
                         _cond_wrapper(cond, k, names[1])):
                library.function.append(made)
                functions[made.signature.name] = library.function[-1]
            wrappers[key] = names
        node.attr["body"].func.name, node.attr["cond"].func.name = wrappers[key]
        return added

    def rewrite_all(nodes, in_function: bool) -> None:
        whiles = _stacking_whiles(nodes)
        if not whiles:
            return
        # The new nodes go just before their While, so the order stays topological and
        # importing and writing the graph again gives the same bytes.
        before = {node.name: rewrite(node, nodes, in_function) for node in whiles}
        ordered = []
        for node in nodes:
            ordered += before.get(node.name, [])
            ordered.append(node)
        ordered = [type(node).FromString(node.SerializeToString()) for node in ordered]
        del nodes[:]
        nodes.extend(ordered)

    rewrite_all(graph_def.node, in_function=False)
    for fdef in list(library.function):
        rewrite_all(fdef.node_def, in_function=True)
    if wrappers:  # the library stays sorted by name, as graph_to_graph_def writes it
        from tensorslow import proto

        ordered = sorted((proto.FunctionDef.FromString(f.SerializeToString())
                          for f in library.function), key=lambda f: f.signature.name)
        del library.function[:]
        library.function.extend(ordered)


def _stacking_whiles(nodes) -> list:
    return [node for node in nodes if node.op in _WHILE_OPS and "_stacked_outputs" in node.attr
            and node.attr["_stacked_outputs"].i > 0]


def _element_types(functions, node) -> list[int]:
    """The dtypes of the values the While keeps: its body's results past the loop variables."""
    n = len(node.attr["T"].list.type)
    body = functions[node.attr["body"].func.name]
    return [arg.type for arg in body.signature.output_arg[n:]]


def _unique(taken, base: str) -> str:
    name, i = base, 1
    while name in taken:
        name, i = f"{base}_{i}", i + 1
    return name


def _accumulators(nodes, node, element_types: list[int], in_function: bool):
    """(new nodes, their names as inputs): an EmptyTensorList per value While `node` keeps,
    and the constant they take."""
    from tensorslow import proto

    taken = {other.name for other in nodes}
    prefix = _unique(taken, f"{node.name}/accumulators")
    added = []

    def add(name: str, op: str):
        made = proto.NodeDef()
        added.append(made)
        made.name, made.op = f"{prefix}/{name}", op
        if node.device:
            made.device = node.device
        return made

    minus_one = add("minus_one", "Const")
    minus_one.attr["dtype"].type = _INT32
    minus_one.attr["value"].tensor.dtype = _INT32
    minus_one.attr["value"].tensor.tensor_shape.SetInParent()
    minus_one.attr["value"].tensor.int_val.append(-1)
    constant = f"{minus_one.name}:output:0" if in_function else minus_one.name
    names = []
    for j, element_type in enumerate(element_types):
        empty = add(f"empty_{j}", "EmptyTensorList")
        empty.input.extend([constant, constant])  # any element shape, no size limit
        empty.attr["element_dtype"].type = element_type
        empty.attr["shape_type"].type = _INT32
        names.append(f"{empty.name}:handle:0" if in_function else empty.name)
    return added, names


def _extend_while(node, accumulators: list[str], k: int) -> None:
    data = [name for name in node.input if not name.startswith("^")]
    control = [name for name in node.input if name.startswith("^")]
    del node.input[:]
    node.input.extend([*data, *accumulators, *control])
    node.attr["T"].list.type.extend([_VARIANT] * k)
    if "output_shapes" in node.attr:
        for _ in range(k):
            node.attr["output_shapes"].list.shape.add()  # a scalar: the list's handle
    del node.attr["_stacked_outputs"]


def _call_node(fdef, callee, args: list[str], name: str):
    stateful = callee.signature.is_stateful
    call = fdef.node_def.add()
    call.name = name
    call.op = "StatefulPartitionedCall" if stateful else "PartitionedCall"
    call.input.extend(args)
    call.attr["f"].func.name = callee.signature.name
    call.attr["Tin"].list.type.extend(arg.type for arg in callee.signature.input_arg)
    call.attr["Tout"].list.type.extend(arg.type for arg in callee.signature.output_arg)
    for attr in ("config", "config_proto", "executor_type"):
        call.attr[attr].s = b""
    fdef.signature.is_stateful = True  # as this library writes every function with a call
    return call


def _input_shapes(fdef, callee, lists: int) -> None:
    """The wrapper's `_input_shapes`: its callee's, then a scalar (a list's handle) each."""
    if "_input_shapes" not in callee.attr:
        return
    shapes = fdef.attr["_input_shapes"].list.shape
    shapes.extend(callee.attr["_input_shapes"].list.shape)
    for _ in range(lists):
        shapes.add()


def _body_wrapper(body, n: int, name: str):
    """body(loop variables) -> (loop variables, kept values) as
    f(loop variables, lists) -> (loop variables, lists with the kept values pushed)."""
    from tensorslow import proto

    fdef = proto.FunctionDef()
    sig = fdef.signature
    sig.name = name
    sig.input_arg.extend(body.signature.input_arg)
    taken = {arg.name for arg in body.signature.input_arg}
    lists = [_unique(taken, f"accumulator_{j}")
             for j in range(len(body.signature.output_arg) - n)]
    for arg_name in lists:
        sig.input_arg.add(name=arg_name, type=_VARIANT)
    sig.output_arg.extend(body.signature.output_arg[:n])
    taken |= set(lists) | {arg.name for arg in sig.output_arg}
    call = _call_node(fdef, body, [arg.name for arg in body.signature.input_arg],
                      _unique(taken, "call"))
    for i, arg in enumerate(body.signature.output_arg[:n]):
        fdef.ret[arg.name] = f"{call.name}:output:{i}"
    for j, (arg_name, kept) in enumerate(zip(lists, body.signature.output_arg[n:],
                                             strict=True)):
        push = fdef.node_def.add()
        push.name = _unique(taken, f"push_{j}")
        push.op = "TensorListPushBack"
        push.input.extend([arg_name, f"{call.name}:output:{n + j}"])
        push.attr["element_dtype"].type = kept.type
        out_name = _unique(taken, f"{arg_name}_out")
        taken |= {push.name, out_name}
        sig.output_arg.add(name=out_name, type=_VARIANT)
        fdef.ret[out_name] = f"{push.name}:output_handle:0"
    _input_shapes(fdef, body, len(lists))
    return fdef


def _cond_wrapper(cond, k: int, name: str):
    """cond(loop variables) as f(loop variables, k lists)."""
    from tensorslow import proto

    fdef = proto.FunctionDef()
    sig = fdef.signature
    sig.name = name
    sig.input_arg.extend(cond.signature.input_arg)
    taken = {arg.name for arg in cond.signature.input_arg}
    for j in range(k):
        arg_name = _unique(taken, f"accumulator_{j}")
        taken.add(arg_name)
        sig.input_arg.add(name=arg_name, type=_VARIANT)
    sig.output_arg.extend(cond.signature.output_arg)
    call = _call_node(fdef, cond, [arg.name for arg in cond.signature.input_arg],
                      _unique(taken | {arg.name for arg in sig.output_arg}, "call"))
    for i, arg in enumerate(cond.signature.output_arg):
        fdef.ret[arg.name] = f"{call.name}:output:{i}"
    _input_shapes(fdef, cond, k)
    return fdef

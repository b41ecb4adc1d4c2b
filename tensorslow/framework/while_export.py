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

A kept value computed in a cond branch inside the body (Switch/Merge) is dead in iterations
that take the other branch, and TensorFlow lets no dead value out of a function. Such a value
is merged with a stand-in (a scalar zero) live exactly when the value is not, level by level
for nested conds, so the body's result is always live. The gradient body relies on that
deadness (the gradient of a Switch merges with zeros like the output not taken), so where it
reads the value back it is switched again on the same predicates, read from their own lists:
dead again in exactly the iterations it was dead. Where that cannot be done (a predicate not
kept, a kept list read by anything but a gradient loop) the value is left as it was.
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

    originals: dict[str, str] = {}  # wrapper body -> the body it calls

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
            _live_kept_values(functions, originals, node, body, n, nodes, in_function)
            names = (_unique(functions, body.signature.name + "_accumulating"),
                     _unique(functions, cond.signature.name + "_accumulating"))
            for made in (_body_wrapper(body, n, names[0]),
                         _cond_wrapper(cond, k, names[1])):
                library.function.append(made)
                functions[made.signature.name] = library.function[-1]
            wrappers[key] = names
            originals[names[0]] = body.signature.name
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


# -- kept values of cond branches --------------------------------------------------------------

_PORTS = {"output_false": 0, "output_true": 1}


def _node_name(ref: str) -> str:
    return ref.lstrip("^").split(":")[0]


def _conditions(fdef) -> dict[str, tuple]:
    """Per node of `fdef`, the branch conditions under which it runs: ((pred, port), ...),
    outermost first (empty: always). A Switch output adds (its pred, its port); a Merge runs
    where its inputs' conditions agree; any other node under the longest of its inputs'."""
    nodes = {node.name: node for node in fdef.node_def}
    waiting = {name: {_node_name(r) for r in node.input} & nodes.keys()
               for name, node in nodes.items()}
    users: dict[str, list[str]] = {}
    for name, deps in waiting.items():
        for dep in deps:
            users.setdefault(dep, []).append(name)
    ready = [name for name, deps in waiting.items() if not deps]
    found: dict[str, tuple] = {}

    def of_ref(ref: str) -> tuple:
        name = _node_name(ref)
        if name not in nodes:
            return ()  # an argument of the function
        context = found[name]
        parts = ref.split(":")
        if nodes[name].op == "Switch" and not ref.startswith("^") and len(parts) > 1:
            condition = (nodes[name].input[1], _PORTS[parts[1]])
            if condition not in context:
                context += (condition,)
        return context

    while ready:
        name = ready.pop()
        node = nodes[name]
        contexts = [of_ref(r) for r in node.input]
        if node.op == "Merge":
            data = [c for r, c in zip(node.input, contexts) if not r.startswith("^")]
            common = data[0] if data else ()
            for c in data[1:]:
                k = 0
                while k < min(len(common), len(c)) and common[k] == c[k]:
                    k += 1
                common = common[:k]
            found[name] = common
        else:
            found[name] = max(contexts, key=len, default=())
        for user in users.get(name, ()):
            waiting[user].discard(name)
            if not waiting[user]:
                ready.append(user)
    return {name: found.get(name, ()) for name in nodes}


def _output_index(ref: str, in_function: bool) -> tuple[str, int]:
    parts = ref.split(":")
    if in_function:
        return parts[0], int(parts[2]) if len(parts) > 2 else 0
    return parts[0], int(parts[1]) if len(parts) > 1 else 0


def _kept_contexts(body, n: int) -> list[tuple]:
    """The branch conditions of each result of `body` past the first n."""
    conditions = _conditions(body)
    nodes = {node.name: node for node in body.node_def}
    contexts = []
    for arg in body.signature.output_arg[n:]:
        ref = body.ret[arg.name]
        name = _node_name(ref)
        context = conditions.get(name, ())
        node = nodes.get(name)
        if node is not None and node.op == "Switch":
            condition = (node.input[1], _PORTS[ref.split(":")[1]])
            if condition not in context:
                context += (condition,)
        contexts.append(context)
    return contexts


def _live_kept_values(functions, originals, node, body, n: int, nodes,
                      in_function: bool) -> None:
    """Makes the values While `node` keeps live in every iteration and dead again where its
    gradient loops read them (see the module's docstring), when every reader is a gradient
    loop that has the predicates' lists too."""
    if not any(other.op == "Switch" for other in body.node_def):
        return
    contexts = _kept_contexts(body, n)
    if not any(contexts):
        return
    kept_of = {body.ret[arg.name]: j for j, arg in enumerate(body.signature.output_arg[n:])}
    readers = []  # (gradient body, {argument position: kept value})
    for other in nodes:
        positions = {}
        for q, ref in enumerate(other.input):
            name, index = _output_index(ref, in_function)
            if name == node.name and index >= n:
                positions[q] = index - n
        if not positions:
            continue
        if other.op not in _WHILE_OPS:
            return  # a list read by something else: leave the values as they are
        name = other.attr["body"].func.name
        readers.append((functions[originals.get(name, name)], positions))
    plans = []
    for grad_body, positions in readers:
        lists = {j: grad_body.signature.input_arg[q].name for q, j in positions.items()}
        for j, context in enumerate(contexts):
            if context and j in lists and not all(
                    kept_of.get(pred) in lists for pred, _ in context):
                return
        plans.append((grad_body, lists))
    _merge_stand_ins(body, n, contexts)
    for grad_body, lists in plans:
        _switch_again(grad_body, lists, contexts, kept_of)


def _adder(fdef):
    """add(name, op, inputs, T) appending a node of a unique name to `fdef`."""
    taken = {node.name for node in fdef.node_def}

    def add(name: str, op: str, inputs: list[str], dtype: int | None):
        made = fdef.node_def.add()
        made.name = _unique(taken, name)
        taken.add(made.name)
        made.op = op
        made.input.extend(inputs)
        if dtype is not None:
            made.attr["T" if op != "Const" else "dtype"].type = dtype
        return made
    return add


def _merge_stand_ins(body, n: int, contexts: list[tuple]) -> None:
    """Each result past the first n merged, level by level from the innermost cond, with a
    scalar zero switched to be live exactly where the result is not."""
    import numpy as np

    from tensorslow.framework.tensor_util import make_tensor_proto

    add = _adder(body)
    made: dict[tuple, str] = {}

    def switched(dtype: int, context: tuple) -> str:
        """A scalar zero live exactly under `context`."""
        key = (dtype, context)
        if key not in made:
            if not context:
                node = add("kept_live/zero", "Const", [], dtype)
                node.attr["value"].tensor.CopyFrom(make_tensor_proto(
                    np.zeros((), dtypes.as_dtype(dtype).as_numpy_dtype)))
                made[key] = f"{node.name}:output:0"
            else:
                pred, port = context[-1]
                node = add("kept_live/switch", "Switch",
                           [switched(dtype, context[:-1]), pred], dtype)
                made[key] = f"{node.name}:{'output_true' if port else 'output_false'}:0"
        return made[key]

    for arg, context in zip(body.signature.output_arg[n:], contexts, strict=True):
        ref = body.ret[arg.name]
        for level in range(len(context), 0, -1):
            pred, port = context[level - 1]
            stand_in = switched(arg.type, context[:level - 1] + ((pred, 1 - port),))
            merge = add("kept_live/merge", "Merge", [ref, stand_in], arg.type)
            merge.attr["N"].i = 2
            ref = f"{merge.name}:output:0"
        body.ret[arg.name] = ref


def _switch_again(grad_body, lists: dict[int, str], contexts: list[tuple],
                  kept_of: dict[str, int]) -> None:
    """Where `grad_body` reads a kept value of a branch from its list (argument lists[j]),
    the value read is switched on the branch's predicates, read from their lists at the same
    position: what reads it sees it dead where the forward loop's value was. The new nodes
    follow the read they switch, so the nodes stay in topological order."""
    from tensorslow import proto

    taken = {node.name for node in grad_body.node_def}

    def node(name: str, op: str, inputs: list[str]):
        made = proto.NodeDef(name=_unique(taken, name), op=op, input=inputs)
        taken.add(made.name)
        return made

    shape = node("kept_live/any_shape", "Const", [])
    shape.attr["dtype"].type = _INT32
    shape.attr["value"].tensor.dtype = _INT32
    shape.attr["value"].tensor.tensor_shape.SetInParent()
    shape.attr["value"].tensor.int_val.append(-1)
    list_of = {name: j for j, name in lists.items()}
    ordered, renamed, added = [shape], {}, {shape.name}
    for read in grad_body.node_def:
        ordered.append(read)
        if read.op != "TensorListGetItem" or read.input[0] not in list_of:
            continue
        context = contexts[list_of[read.input[0]]]
        ref = f"{read.name}:item:0"
        for pred, port in context:
            pred_read = node(f"{read.name}/pred", "TensorListGetItem",
                             [lists[kept_of[pred]], read.input[1], f"{shape.name}:output:0"])
            pred_read.attr["element_dtype"].type = dtypes.bool.as_datatype_enum
            switch = node(f"{read.name}/switch", "Switch", [ref, f"{pred_read.name}:item:0"])
            switch.attr["T"].type = read.attr["element_dtype"].type
            ordered += [pred_read, switch]
            added |= {pred_read.name, switch.name}
            ref = f"{switch.name}:{'output_true' if port else 'output_false'}:0"
        if context:
            renamed[f"{read.name}:item:0"] = ref
    if not renamed:
        return
    ordered = [proto.NodeDef.FromString(n.SerializeToString()) for n in ordered]
    for made in ordered:
        if made.name not in added:
            made.input[:] = [renamed.get(ref, ref) for ref in made.input]
    del grad_body.node_def[:]
    grad_body.node_def.extend(ordered)
    for key, ref in grad_body.ret.items():
        grad_body.ret[key] = renamed.get(ref, ref)

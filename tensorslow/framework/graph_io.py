"""Graphs to and from TensorFlow's GraphDef protobuf.

Nodes carry TensorFlow's op type names and attrs, so a GraphDef we write reads in TensorFlow,
and one TensorFlow writes (for the ops we support) reads here. Attrs an op does not declare
(`_class` for colocation, MatMul's `grad_a`, ...) are kept on the op and written back, never
rejected. Untyped (seed-style) tensors serialize without their dtype attr and read back untyped.

Reading never evaluates anything: nodes are checked (op registered, inputs exist, no cycles,
attr types match what the op uses) and every problem is a `ts.errors` error naming the node.

Writing keeps each op's serialized NodeDef on the op once made (`Operation._node_def_encoding`,
unless it is large) and a GraphDef is the join of them, parsed once. The encoding is dropped
whenever the op changes: attrs change only through `Operation._set_attr` and the device only
through `_set_device`; name, type and inputs never change; attr values are immutable (constants
are read-only arrays) or replaced, never changed in place. Each attr is encoded as a map entry
of its own, in the op's order, so the parsed map is built in the order assigning the attrs one
by one builds it, and serializes to the same bytes. `_output_shapes` (add_shapes) is added
anew each time: shapes change.

Reading converts an attr value met before in the same import (same declared kind, same bytes)
once: immutable values (dtypes, shapes, scalars, read-only constants) are shared between ops,
lists of them copied for each op. Nodes are read from the GraphDef's bytes rather than through
protobuf when they are encoded as protobuf writes them (`_read_nodes`), and then all the attrs
of a node are converted once for each op type and encoding. When no scope of the graph applies
(control dependencies, devices, ...), imported ops are added without `Graph._init_op`'s steps
for them (`_add_imported_op`).
"""

from __future__ import annotations

import contextlib
import functools
import gc
import heapq

import numpy as np

from tensorslow.framework import dtypes, errors
from tensorslow.framework.ops import Graph, Operation, Tensor, get_default_graph
from tensorslow.framework.tensor_shape import TensorShape
from tensorslow.framework.tensor_util import _varint

# TensorFlow's GraphDef version this library's op semantics correspond to.
GRAPH_DEF_VERSION = 2474
GRAPH_DEF_VERSION_MIN_CONSUMER = 0


@functools.cache
def _pb():
    from tensorslow import proto

    return proto


# --------------------------------------------------------------------------------------------
# Attr values
# --------------------------------------------------------------------------------------------


def _shape_to_proto(shape: TensorShape, msg) -> None:
    dims = shape.as_tuple()
    if dims is None:
        msg.unknown_rank = True
        return
    for d in dims:
        msg.dim.add().size = -1 if d is None else d


def shape_from_proto(msg) -> TensorShape:
    if msg.unknown_rank:
        return TensorShape(None)
    return TensorShape([None if d.size < 0 else d.size for d in msg.dim])


def _to_bytes(value) -> bytes:
    return value.encode() if isinstance(value, str) else bytes(value)


def _fill_list(kind: str, values, lst) -> None:
    if kind == "type":
        lst.type.extend(dtypes.as_dtype(v).as_datatype_enum for v in values)
    elif kind == "int":
        lst.i.extend(int(v) for v in values)
    elif kind == "float":
        lst.f.extend(float(v) for v in values)
    elif kind == "bool":
        lst.b.extend(bool(v) for v in values)
    elif kind == "string":
        lst.s.extend(_to_bytes(v) for v in values)
    elif kind == "shape":
        for v in values:
            _shape_to_proto(TensorShape(v), lst.shape.add())
    elif kind == "tensor":
        from tensorslow.framework.tensor_util import make_tensor_proto

        for v in values:
            lst.tensor.add().CopyFrom(make_tensor_proto(v))
    elif kind == "func":
        for v in values:
            lst.func.add().CopyFrom(v)
    else:
        raise TypeError(f"unsupported list attr kind {kind!r}")


def attr_to_proto(kind: str | None, value, msg) -> None:
    """Writes `value` into the AttrValue `msg`, by the op's declared kind (or the value's type)."""
    pb = _pb()
    if isinstance(value, pb.AttrValue):
        msg.CopyFrom(value)
        return
    if isinstance(value, pb.NameAttrList):
        msg.func.CopyFrom(value)
        return
    if kind is None:
        kind = _kind_of(value)
    if kind.startswith("list("):
        inner = kind[5:-1]
        msg.list.SetInParent()
        _fill_list(inner, value, msg.list)
    elif kind == "type":
        msg.type = dtypes.as_dtype(value).as_datatype_enum
    elif kind == "bool":
        msg.b = bool(value)
    elif kind == "int":
        msg.i = int(value)
    elif kind == "float":
        msg.f = float(value)
    elif kind == "string":
        msg.s = _to_bytes(value)
    elif kind == "shape":
        msg.shape.SetInParent()  # a scalar shape has no fields but must still be set
        _shape_to_proto(TensorShape(value), msg.shape)
    elif kind == "tensor":
        from tensorslow.framework.tensor_util import make_tensor_proto

        msg.tensor.CopyFrom(make_tensor_proto(value))
    else:
        raise TypeError(f"unsupported attr kind {kind!r}")


def _kind_of(value) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, np.integer)):
        return "int"
    if isinstance(value, (float, np.floating)):
        return "float"
    if isinstance(value, (str, bytes)):
        return "string"
    if isinstance(value, dtypes.DType):
        return "type"
    if isinstance(value, TensorShape):
        return "shape"
    if isinstance(value, np.ndarray):
        return "tensor"
    if isinstance(value, (list, tuple)):
        inner = _kind_of(value[0]) if value else "int"
        return f"list({inner})"
    if type(value).__name__ == "NameAttrList":
        return "func"
    raise TypeError(f"cannot store a {type(value).__name__} as an attr value")


_ONEOF_KIND = {"s": "string", "i": "int", "f": "float", "b": "bool", "type": "type",
               "shape": "shape", "tensor": "tensor", "list": "list", "func": "func",
               "placeholder": "placeholder"}


def attr_from_proto(msg, kind: str | None, where: str):
    """The Python value of an AttrValue, checked against the kind the op declares."""
    which = msg.WhichOneof("value")
    if which is None:
        return [] if kind and kind.startswith("list(") else None
    found = _ONEOF_KIND[which]
    if kind is not None:
        expected = "list" if kind.startswith("list(") else kind
        if found != expected:
            raise errors.InvalidArgumentError(
                None, None, f"{where}: attr has a value of kind '{found}', but the op takes "
                f"'{kind}'")
    if which == "s":
        return msg.s.decode("utf-8", "surrogateescape") if kind == "string" else msg.s
    if which in ("i", "f", "b"):
        return getattr(msg, which)
    if which == "type":
        try:
            return dtypes.as_dtype(msg.type)
        except TypeError as e:
            raise errors.InvalidArgumentError(None, None, f"{where}: {e}") from None
    if which == "shape":
        return shape_from_proto(msg.shape)
    if which == "tensor":
        from tensorslow.framework.tensor_util import make_ndarray

        try:
            arr = make_ndarray(msg.tensor)
        except (TypeError, ValueError) as e:
            raise errors.InvalidArgumentError(None, None, f"{where}: bad tensor value: {e}"
                                              ) from None
        arr = np.array(arr)
        arr.flags.writeable = False
        return arr
    if which == "list":
        lst = msg.list
        if lst.type:
            return [dtypes.as_dtype(t) for t in lst.type]
        if lst.shape:
            return [shape_from_proto(s) for s in lst.shape]
        if lst.s:
            if kind == "list(string)":
                return [s.decode("utf-8", "surrogateescape") for s in lst.s]
            return list(lst.s)
        if lst.i:
            return list(lst.i)
        if lst.f:
            return list(lst.f)
        if lst.b:
            return list(lst.b)
        if lst.tensor:
            from tensorslow.framework.tensor_util import make_ndarray

            return [make_ndarray(t) for t in lst.tensor]
        if lst.func:
            return [_copy(f) for f in lst.func]
        return []
    if which == "func":
        return _copy(msg.func)
    # placeholder attrs: kept verbatim so they round-trip
    return _copy(msg)


def _copy(msg):
    copy = type(msg)()
    copy.CopyFrom(msg)
    return copy


# --------------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------------


_NODE_TAG = b"\n"  # GraphDef field 1 (node), length-delimited
# A node's encoding larger than this (a big constant) is made anew for each GraphDef rather
# than kept next to the value it encodes.
_KEPT_ENCODING_BYTES = 1 << 16


# Attr map entries of the common immutable values (dtypes, flags, ints, names), by (attr name,
# kind, value type, value): the same few recur across ops. Floats are left out (0.0 == -0.0).
_ENTRY_KEYS = frozenset((dtypes.DType, bool, int, str, bytes))
_ENTRIES: dict = {}
_MAX_ENTRIES = 4096


def _input_name(t: Tensor) -> str:
    return t._op._name if t._value_index == 0 else f"{t._op._name}:{t._value_index}"


def _node_encoding(op: Operation) -> bytes:
    """The NodeDef of `op` (without `_output_shapes`) as a GraphDef's `node` field: tag,
    length, message. Kept on the op while its encoding is small; `Operation._set_attr` and
    `_set_device` drop it."""
    data = op._node_def_encoding
    if data is not None:
        return data
    pb = _pb()
    head = pb.NodeDef(name=op._name, op=op._type, device=op._device,
                      input=[*map(_input_name, op._inputs),
                             *("^" + c._name for c in op._control_inputs)])
    body = [head.SerializeToString()]
    # One map entry at a time, in the op's order: parsing then inserts the attrs in the
    # order assigning them one by one would, and the map serializes as it would have.
    declared = op._info.attrs
    for name, value in op._attrs.items():
        if value is None:
            continue  # an untyped dtype, or an optional attr never set
        kind = declared[name][0] if name in declared else None
        key = (name, kind, type(value), value) if type(value) in _ENTRY_KEYS else None
        entry = _ENTRIES.get(key) if key is not None else None
        if entry is None:
            entry = _attr_entry(op, name, kind, value)
            if key is not None:
                if len(_ENTRIES) >= _MAX_ENTRIES:
                    _ENTRIES.clear()
                _ENTRIES[key] = entry
        body.append(entry)
    message = b"".join(body)
    data = _NODE_TAG + _varint(len(message)) + message
    if len(data) <= _KEPT_ENCODING_BYTES:
        op._node_def_encoding = data
    return data


def _attr_entry(op: Operation, name: str, kind, value) -> bytes:
    """The encoding of attr `name` as an entry of a NodeDef's attr map."""
    entry = _pb().NodeDef()
    try:
        attr_to_proto(kind, value, entry.attr[name])
    except (TypeError, ValueError) as e:
        raise errors.InvalidArgumentError(None, op, f"Cannot serialize attr '{name}' of "
                                          f"node '{op._name}': {e}") from None
    return entry.SerializeToString()


def _node_message(data: bytes) -> memoryview:
    """The NodeDef message inside a `node` field's encoding (past its tag and length)."""
    start = 1
    while data[start] & 0x80:
        start += 1
    return memoryview(data)[start + 1:]


def node_def_of(op: Operation, node=None, add_shapes: bool = False):
    pb = _pb()
    node = node if node is not None else pb.NodeDef()
    node.MergeFromString(_node_message(_node_encoding(op)))
    if add_shapes:
        shapes = node.attr["_output_shapes"].list
        for t in op._outputs:
            _shape_to_proto(t._shape, shapes.shape.add())
    return node


@contextlib.contextmanager
def _collection_paused():
    """Python's cyclic garbage collector paused: building a graph of many ops makes objects
    that all stay alive, and full collections over them would take a third of the time."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def graph_to_graph_def(graph: Graph, add_shapes: bool = False, ops=None):
    """The GraphDef of `graph` (of `ops` alone when given), with the library functions they
    call (all of the library for a whole graph), sorted by name so the bytes are stable."""
    from tensorslow.framework import function

    pb = _pb()
    graph_def = pb.GraphDef()
    graph_def.versions.producer = GRAPH_DEF_VERSION
    graph_def.versions.min_consumer = GRAPH_DEF_VERSION_MIN_CONSUMER
    ops = graph._ops if ops is None else ops
    with _collection_paused():
        if add_shapes:  # shapes change (Tensor.set_shape), so they are never kept
            for op in ops:
                node_def_of(op, graph_def.node.add(), add_shapes)
        else:
            graph_def.MergeFromString(b"".join([_node_encoding(op) for op in ops]))
    if graph._functions:
        if ops is graph._ops:
            used = [graph._functions[name] for name in sorted(graph._functions)]
        else:
            used = function.functions_used(ops)
        for fn in used:
            graph_def.library.function.append(function.function_to_def(fn))
        from tensorslow.framework import while_export

        while_export.to_tensorflow_form(graph_def)
    return graph_def


# --------------------------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------------------------


def _parse_input(name: str):
    """("node", index, is_control) of a NodeDef input string."""
    if name[:1] == "^":
        return name[1:], -1, True
    if ":" not in name:
        return name, 0, False
    node, _, index = name.rpartition(":")
    if index.isdigit():
        return node, int(index), False
    return name, 0, False


def _is_plain(name: str) -> bool:
    """True for a node name that, as an input string, surely names the node's output 0: one
    without ':' (an output index) or a leading '^' (a control input). Other names, malformed
    or not, are left to `_parse_input`."""
    return ":" not in name and name[:1] != "^"


# A node to import is a tuple of its NodeDef's fields, each read from the message once
# (reading a field of a protobuf message makes a new Python object every time), or straight
# from its encoding (`_read_nodes`): (name, op, inputs, device, node_def, attr_bytes), with
# `node_def` the NodeDef message (for its attrs), or None when read from the encoding, and
# then `attr_bytes` the NodeDef's attr entries as they are on the wire. Inputs stay strings,
# parsed where the quick ways to resolve them do not apply. (Plain tuples: making an object
# for each node would cost a fifth of reading it.)
_Node = tuple


def _node_of(node_def) -> _Node:
    return (node_def.name, node_def.op, node_def.input[:], node_def.device, node_def, None)


# Wire-format tags (field number << 3 | 2: length-delimited) of GraphDef.node and of the
# NodeDef fields `_read_nodes` reads, in their field order.
_GRAPH_NODE = 0x0A
_NODE_NAME, _NODE_OP, _NODE_INPUT, _NODE_DEVICE, _NODE_ATTR = 0x0A, 0x12, 0x1A, 0x22, 0x2A


def _varint_at(data: bytes, i: int) -> tuple[int, int]:
    """The varint at data[i] and the position after it."""
    value = shift = 0
    while True:
        b = data[i]
        i += 1
        value |= (b & 0x7F) << shift
        if not b & 0x80:
            return value, i
        shift += 7


def _text_at(data: bytes, i: int) -> tuple[str, int]:
    """The string field whose length is at data[i], and the position after it."""
    size = data[i]
    if size < 0x80:
        i += 1
    else:
        size, i = _varint_at(data, i)
    return data[i:i + size].decode(), i + size


def _read_nodes(data: bytes) -> list[_Node] | None:
    """The nodes of a serialized (and already parsed, so valid) GraphDef, read from its bytes:
    reading each field of each NodeDef through protobuf makes Python objects for the message,
    its maps and their values, which costs more than the rest of importing the node.

    Only NodeDefs encoded as protobuf itself writes them are read here: fields in field order
    (name, op, inputs, device, attrs), the scalar ones at most once, nothing after the attrs.
    A node's attr entries are kept as one bytes string, converted by `_converted_attrs`.
    Anything else in a node (or a top-level field of an unexpected wire type) gives None,
    and the caller reads the message instead."""
    try:
        return _read_node_fields(data)
    except (IndexError, UnicodeDecodeError):  # not from a valid GraphDef after all
        return None


def _read_node_fields(data: bytes) -> list[_Node] | None:
    nodes = []
    attr_encodings: set[bytes] = set()  # checked to be attr entries only
    i, end = 0, len(data)
    while i < end:
        tag = data[i]
        if tag & 0x80:
            return None  # a field number above 15: not one of GraphDef's
        wire_type = tag & 7
        if wire_type == 0:  # GraphDef.version (deprecated)
            _, i = _varint_at(data, i + 1)
            continue
        if wire_type != 2:
            return None
        size = data[i + 1]
        if size < 0x80:
            i += 2
        else:
            size, i = _varint_at(data, i + 1)
        stop = i + size
        if tag != _GRAPH_NODE:  # library, versions
            i = stop
            continue
        # The fields in field order, each where protobuf writes it, or absent.
        name = op = device = ""
        inputs = []
        attr_bytes = b""
        if i < stop and data[i] == _NODE_NAME:
            name, i = _text_at(data, i + 1)
        if i < stop and data[i] == _NODE_OP:
            op, i = _text_at(data, i + 1)
        while i < stop and data[i] == _NODE_INPUT:
            text, i = _text_at(data, i + 1)
            inputs.append(text)
        if i < stop and data[i] == _NODE_DEVICE:
            device, i = _text_at(data, i + 1)
        if i < stop and data[i] == _NODE_ATTR:
            attr_bytes = data[i:stop]
            small = len(attr_bytes) <= _MEMO_BYTES  # else not worth hashing
            if not small or attr_bytes not in attr_encodings:
                # attr entries only, to the node's end?
                while i < stop and data[i] == _NODE_ATTR:
                    size, i = _varint_at(data, i + 1)
                    i += size
                if i != stop:
                    return None
                if small:
                    attr_encodings.add(attr_bytes)
            i = stop
        if i != stop:
            return None  # a field out of order, given twice, or one this reader does not know
        nodes.append((name, op, inputs, device, None, attr_bytes))
    return nodes


def _topological_order(nodes: list[_Node], where: str) -> list[_Node]:
    """Nodes ordered so each comes after its inputs: Kahn's algorithm, iterative, preferring
    the file's own order among ready nodes (stable names and creation order)."""
    by_name: dict[str, _Node] = {}
    # The usual case: every node comes after its inputs already (TF and this library write
    # GraphDefs that way), and the pass that checks the names proves it. An input naming a
    # node's output 0 ("name") is that node's name (`seen`); other inputs are parsed.
    seen: set[str] = set()
    ordered = True
    for i, node in enumerate(nodes):
        name, inputs = node[0], node[2]
        if not name:
            raise errors.InvalidArgumentError(None, None, f"{where}: node {i} has no name")
        if name in by_name:
            raise errors.InvalidArgumentError(None, None, f"{where}: duplicate node name "
                                              f"'{name}'")
        if ordered:
            for text in inputs:
                if text not in seen and _parse_input(text)[0] not in by_name:
                    ordered = False
                    break
            else:
                if _is_plain(name):
                    seen.add(name)
        by_name[name] = node
    if ordered:
        return nodes
    position = {node[0]: i for i, node in enumerate(nodes)}
    remaining: dict[str, int] = {}
    consumers: dict[str, list[str]] = {}
    ready: list[tuple[int, str]] = []
    for name, _, inputs, *_ in nodes:
        deps = set()
        for text in inputs:
            src = _parse_input(text)[0]
            if src not in by_name:
                raise errors.InvalidArgumentError(
                    None, None, f"{where}: node '{name}' has an input from a node that "
                    f"does not exist: '{text}'")
            deps.add(src)
        remaining[name] = len(deps)
        for d in deps:
            consumers.setdefault(d, []).append(name)
        if not deps:
            ready.append((position[name], name))
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
        raise errors.InvalidArgumentError(None, None, f"{where}: the graph has a cycle "
                                          f"through nodes {stuck}")
    return order


def import_graph_def(graph_def, input_map=None, return_elements=None, name=None, op_dict=None,
                     producer_op_list=None, *, source: str = "GraphDef"):
    """Adds the nodes of `graph_def` to the default graph, prefixed with `name` ("import")."""
    pb = _pb()
    data = None
    if isinstance(graph_def, (bytes, bytearray)):
        data = bytes(graph_def)
        graph_def = parse_graph_def(data, source)  # refuses corrupt bytes
    if not isinstance(graph_def, pb.GraphDef):
        raise TypeError(f"graph_def must be a GraphDef proto, not {type(graph_def).__name__}")
    graph = get_default_graph()
    if name is None:
        name = "import"
    prefix = ""
    if name:
        prefix = graph.unique_name(name) + "/"
    input_map = dict(input_map or {})
    mapped: dict[tuple[str, int], Tensor] = {}
    for key, value in input_map.items():
        src, index, control = _parse_input(key)
        if control:
            raise errors.InvalidArgumentError(None, None, f"input_map key {key!r} names a "
                                              "control input")
        from tensorslow.framework.ops import convert_to_tensor

        mapped[(src, index)] = convert_to_tensor(value)
    from tensorslow.framework import function

    with _collection_paused():
        nodes = _read_nodes(graph_def.SerializeToString() if data is None else data)
        if nodes is None:
            nodes = [_node_of(node) for node in graph_def.node]
        if mapped:
            names = {node[0] for node in nodes}
            for key in mapped:
                if key[0] not in names:
                    raise ValueError(f"Attempted to map inputs that were not found in "
                                     f"graph_def: [{key[0]}:{key[1]}]")
        order = _topological_order(nodes, source)
        with function.LibraryImporter(graph, graph_def.library, source) as library:
            # Functions are read first, each when a node (or another function) first names
            # it, so a function the engine cannot run is refused before any node is added.
            library.convert_all()
            created = _import_nodes(graph, order, mapped, prefix, source)
    if return_elements is None:
        return None
    out = []
    for element in return_elements:
        if ":" in element:
            src, index, _ = _parse_input(element)
            if src not in created or index >= len(created[src]._outputs):
                raise ValueError(f"Requested return_element {element!r} not found in "
                                 "graph_def.")
            out.append(created[src]._outputs[index])
        else:
            if element not in created:
                raise ValueError(f"Requested return_element {element!r} not found in "
                                 "graph_def.")
            out.append(created[element])
    return out


def _import_nodes(graph, order: list[_Node], mapped, prefix: str,
                  source: str) -> dict[str, Operation]:
    from tensorslow.framework.ops import get_op_info

    created: dict[str, Operation] = {}
    # Input strings naming output 0 of a node made so far ("name"), to its tensor: most
    # inputs are found here; the rest ("name:1", "^name", mapped inputs) are parsed.
    tensors: dict[str, Tensor] = {}
    infos: dict[str, object] = {}
    memo: dict = {}
    attrs_memo: dict = {}
    direct = _no_scope_applies(graph) and all(t._op._graph is graph for t in mapped.values())
    for node in order:
        name, op_type, node_inputs, device = node[:4]
        info = infos.get(op_type)
        if info is None:
            info = infos[op_type] = get_op_info(op_type)
            if info is None:
                raise errors.NotFoundError(None, None, f"{_where(source, name)}: Op type not "
                                           f"registered '{op_type}'")
        inputs, controls = [], []
        for text in node_inputs:
            tensor = tensors.get(text)
            if tensor is not None:
                inputs.append(tensor)
                continue
            src, index, control = _parse_input(text)
            if control:
                controls.append(created[src])
                continue
            if mapped and (src, index) in mapped:
                inputs.append(mapped[(src, index)])
                continue
            outputs = created[src]._outputs
            if index >= len(outputs):
                raise errors.InvalidArgumentError(
                    None, None, f"{_where(source, name)}: input '{text}' names output "
                    f"{index} of '{src}', which has {len(outputs)} outputs")
            inputs.append(outputs[index])
        attrs = _converted_attrs(node, info, source, memo, attrs_memo)
        if prefix and "_class" in attrs:
            attrs["_class"] = [_prefixed_class(c, prefix) for c in attrs["_class"]]
        op = Operation.__new__(Operation)
        try:
            if direct:
                _add_imported_op(graph, op, op_type, info, inputs, attrs, prefix + name,
                                 controls)
            else:
                graph._init_op(op, op_type, inputs, attrs, prefix + name, controls,
                               keep_name=True)
        except errors.OpError as e:
            raise type(e)(None, None, f"{_where(source, name)}: {e.message}") from None
        if device:
            op._set_device(device)
        created[name] = op
        if op._outputs and _is_plain(name) and (name, 0) not in mapped:
            tensors[name] = op._outputs[0]
    return created


def _where(source: str, name: str) -> str:
    """How errors name a node."""
    return f"{source}, node '{name}'"


def _no_scope_applies(graph: Graph) -> bool:
    """True when nothing `Graph._init_op` applies to a new op from the graph's state is in
    effect (control dependencies, cond branch, device, colocation, gradient overrides, a
    function body's captures, finalization): an imported op's fields are then just the
    NodeDef's, set by `_add_imported_op`."""
    return not (graph._control_stack or graph._cond_context is not None
                or graph._device_stack or graph._colocation_stack or graph._gradient_override
                or graph._outer_graph is not None or graph._finalized)


def _add_imported_op(graph: Graph, op: Operation, op_type: str, info, inputs: list,
                     attrs: dict, name: str, controls: list) -> None:
    """What `Graph._init_op(..., keep_name=True)` does for an op whose inputs and control
    inputs are all this graph's tensors and ops, when `_no_scope_applies(graph)`. `attrs`
    has the op's defaults already (`_converted_attrs`)."""
    op._graph = graph
    op._type = op_type
    op._inputs = tuple(inputs)
    op._attrs = attrs
    op._info = info
    op._name = name
    graph._unreserved_names.append(name)  # reserved when a name is next made
    if name in graph._nodes_by_name:
        raise errors.InvalidArgumentError(None, None, f"Duplicate node name in graph: "
                                          f"'{name}'")
    op._control_inputs = tuple(controls)
    op._device = ""
    graph._add_op(op, inputs)


# An attr value's encoding no longer than this is converted once per import (`node_attrs`'
# memo): types, flags, shapes and small constants repeat from node to node.
_MEMO_BYTES = 1024
_SHAREABLE = (dtypes.DType, TensorShape, str, bytes, int, float, np.ndarray)


def _shareable(value) -> bool:
    """True for a converted attr value ops can share (lists of such values are copied)."""
    return (isinstance(value, _SHAREABLE) or value is None
            or type(value) is list and all(isinstance(v, _SHAREABLE[:-1]) for v in value))


def node_attrs(node, info, where: str, memo: dict | None = None) -> dict:
    """The attrs of a NodeDef as Python values, checked against what its op
    declares. `memo` (a dict the caller keeps) lets values repeated across nodes be
    converted once: immutable values are shared, lists are copied."""
    attrs = {}
    declared = info.attrs
    attr_map = node.attr
    for attr_name in attr_map:  # not .items(): the Mapping mixin's is slower
        if attr_name == "_output_shapes":
            continue
        msg = attr_map[attr_name]
        kind = declared[attr_name][0] if attr_name in declared else None
        if memo is None:
            attrs[attr_name] = attr_from_proto(msg, kind, f"{where}, attr '{attr_name}'")
            continue
        key = (kind, msg.SerializeToString())
        value = memo.get(key, memo)
        if value is memo:
            value = attr_from_proto(msg, kind, f"{where}, attr '{attr_name}'")
            if len(key[1]) <= _MEMO_BYTES and _shareable(value):
                memo[key] = value
        attrs[attr_name] = list(value) if type(value) is list else value
    for attr_name in info.required:
        if attr_name not in attrs:
            raise errors.InvalidArgumentError(None, None, f"{where}: missing required "
                                              f"attr '{attr_name}'")
    return attrs


def _converted_attrs(node: _Node, info, source: str, memo: dict, attrs_memo: dict) -> dict:
    """`node_attrs` of an imported node, then the op's defaults for the attrs it leaves out
    (as `Graph._init_op` adds them). Attrs kept as their encoding (`_read_nodes`) are
    converted and checked once per import for each op type and encoding (most nodes of a
    graph share theirs with others: Relu with T=float, ...): `attrs_memo` keeps the attrs
    to copy for the next node (values shared, lists copied, as `node_attrs` does)."""
    name, op_type, _, _, node_def, attr_bytes = node
    if node_def is not None:
        return _with_defaults(node_attrs(node_def, info, _where(source, name), memo), info)
    small = len(attr_bytes) <= _MEMO_BYTES
    key = (op_type, attr_bytes)
    known = attrs_memo.get(key) if small else None
    if known is not None:
        attrs, lists = known
        attrs = attrs.copy()
        for attr_name in lists:
            attrs[attr_name] = list(attrs[attr_name])
        return attrs
    # Field 5 entries only (checked by `_read_nodes`): a NodeDef with just these attrs.
    attrs = node_attrs(_pb().NodeDef.FromString(attr_bytes), info, _where(source, name), memo)
    if small and all(map(_shareable, attrs.values())):
        _with_defaults(attrs, info)
        lists = tuple(n for n, value in attrs.items() if type(value) is list)
        attrs_memo[key] = (attrs.copy(), lists)
        for attr_name in lists:
            attrs[attr_name] = list(attrs[attr_name])
        return attrs
    return _with_defaults(attrs, info)


def _with_defaults(attrs: dict, info) -> dict:
    for attr_name, default in info.defaults:
        if attr_name not in attrs:
            attrs[attr_name] = default
    return attrs


def _prefixed_class(value, prefix: str):
    raw = value.decode() if isinstance(value, bytes) else value
    if raw.startswith("loc:@"):
        raw = "loc:@" + prefix + raw[5:]
    return raw.encode()


def parse_graph_def(data: bytes, source: str = "GraphDef"):
    """Parses serialized GraphDef bytes; corrupt bytes are a DataLossError naming `source`."""
    pb = _pb()
    graph_def = pb.GraphDef()
    try:
        graph_def.ParseFromString(data)
    except Exception as e:  # noqa: BLE001 - protobuf raises DecodeError and RuntimeError alike
        raise errors.DataLossError(None, None, f"{source}: cannot parse a GraphDef: {e}") from None
    return graph_def


def write_graph(graph_or_graph_def, logdir: str, name: str, as_text: bool = True) -> str:
    """Writes a GraphDef (text or binary) to logdir/name atomically; returns the path."""
    import os

    from tensorslow.framework.meta_graph import write_proto_atomically

    graph_def = (graph_or_graph_def.as_graph_def() if isinstance(graph_or_graph_def, Graph)
                 else graph_or_graph_def)
    path = os.path.join(logdir, name)
    write_proto_atomically(graph_def, path, as_text=as_text)
    return path

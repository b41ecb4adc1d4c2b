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
anew each time: shapes change. A NodeDef's fields before its attrs are written directly
(`_node_head`), and the attr entries of common values (dtypes, flags, small constants...) are
kept by value (`_ENTRIES`).

Reading converts an attr value met before in the same import (same declared kind, same bytes)
once: immutable values (dtypes, shapes, scalars, read-only constants) are shared between ops,
lists of them copied for each op. Nodes are read from the GraphDef's bytes rather than through
protobuf when they are encoded as protobuf writes them (`_read_nodes`), and then all the attrs
of a node are converted once for each op type and encoding (`_AttrsEntry`; ops of one entry
share its attrs dict when it holds no list). When no scope of the graph applies (control
dependencies, devices, ...), imported ops are added without `Graph._init_op`'s steps for them
(`_add_imported_op`): their outputs' dtypes and shapes are then those of an earlier op of the
entry with the same input dtypes and shapes, once its shape function is seen to read nothing
else (`_known_specs`), and an op named, wired and placed as its NodeDef says keeps the
NodeDef's bytes as its encoding when they are what writing it would give (`_rewritten`).
"""

from __future__ import annotations

import contextlib
import functools
import gc
import heapq

import numpy as np

from tensorslow.framework import dtypes, errors
from tensorslow.framework.ops import Graph, Operation, Tensor, get_default_graph
from tensorslow.framework.tensor_shape import TensorShape, as_shape
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
# A dtype is keyed by its identity: dtypes are all made when `dtypes` is imported and never
# freed, and their own hash is Python code.
_ENTRY_KEYS = frozenset((bool, int, str, bytes))
_ENTRIES: dict = {}
_MAX_ENTRIES = 4096
# Constants up to this size have their entry kept too, by dtype, shape and bytes.
_ENTRY_ARRAY_BYTES = 64


def _input_name(t: Tensor) -> str:
    return t._op._name if t._value_index == 0 else f"{t._op._name}:{t._value_index}"


_SHORT_LENGTHS = [bytes((n,)) for n in range(0x80)]
_NAME_FIELD, _OP_FIELD, _INPUT_FIELD, _DEVICE_FIELD = b"\n", b"\x12", b"\x1a", b"\x22"


def _length(size: int) -> bytes:
    """A length as protobuf writes it (a varint)."""
    return _SHORT_LENGTHS[size] if size < 0x80 else _varint(size)


def _text_field(tag: bytes, text: str) -> bytes:
    """A string field as protobuf writes it: tag, length, UTF-8 bytes."""
    data = text.encode()
    return tag + _length(len(data)) + data


def _node_head(op: Operation) -> bytes:
    """A NodeDef's fields before its attrs (name, op, inputs, device), written as
    protobuf writes them, in field order with empty singular strings left out: making a
    NodeDef message for them costs more than the rest of the node's encoding."""
    parts = [_text_field(_NAME_FIELD, op._name)] if op._name else []
    if op._type:
        parts.append(_text_field(_OP_FIELD, op._type))
    for t in op._inputs:
        parts.append(_text_field(_INPUT_FIELD, _input_name(t)))
    for c in op._control_inputs:
        parts.append(_text_field(_INPUT_FIELD, "^" + c._name))
    if op._device:
        parts.append(_text_field(_DEVICE_FIELD, op._device))
    return b"".join(parts)


def _node_encoding(op: Operation) -> bytes:
    """The NodeDef of `op` (without `_output_shapes`) as a GraphDef's `node` field: tag,
    length, message. Kept on the op while its encoding is small; `Operation._set_attr` and
    `_set_device` drop it."""
    data = op._node_def_encoding
    if data is not None:
        return data
    try:
        head = _node_head(op)
    except UnicodeEncodeError:  # not text protobuf writes: let it say so
        head = _pb().NodeDef(name=op._name, op=op._type, device=op._device,
                             input=[*map(_input_name, op._inputs),
                                    *("^" + c._name for c in op._control_inputs)]
                             ).SerializeToString()
    message = head + _attr_entries(op, op._attrs)
    data = _NODE_TAG + _length(len(message)) + message
    if len(data) <= _KEPT_ENCODING_BYTES:
        op._node_def_encoding = data
    return data


def _attr_entries(op: Operation, attrs: dict) -> bytes:
    """The attrs of `op` (`attrs`, its own or those it is about to have) as NodeDef attr map
    entries. One map entry at a time, in the op's order: parsing then inserts the attrs in
    the order assigning them one by one would, and the map serializes as it would have."""
    body = []
    declared = op._info.attrs
    for name, value in attrs.items():
        if value is None:
            continue  # an untyped dtype, or an optional attr never set
        kind = declared[name][0] if name in declared else None
        key = _entry_key(name, kind, value)
        entry = _ENTRIES.get(key) if key is not None else None
        if entry is not None:
            body.append(entry)
            continue
        entry = _attr_entry(op, name, kind, value)
        if key is not None:
            if len(_ENTRIES) >= _MAX_ENTRIES:
                _ENTRIES.clear()
            _ENTRIES[key] = entry
        body.append(entry)
    return b"".join(body)


def _entry_key(name: str, kind, value):
    """The `_ENTRIES` key of an attr value, None for one not kept there."""
    cls = type(value)
    if cls is dtypes.DType:
        return (name, kind, cls, id(value))
    if cls in _ENTRY_KEYS:
        return (name, kind, cls, value)
    if cls is np.ndarray and value.nbytes <= _ENTRY_ARRAY_BYTES and value.dtype.kind in "biufc":
        return (name, kind, cls, value.dtype.str, value.shape, value.tobytes())
    return None


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
# from its encoding (`_read_nodes`): (name, op, inputs, device, node_def, attr_bytes,
# encoding), with `node_def` the NodeDef message (for its attrs), or None when read from the
# encoding, and then `attr_bytes` the NodeDef's attr entries as they are on the wire and
# `encoding` the whole `node` field (tag, length, NodeDef) when it is written as this library
# writes one (lengths as short as they go, no empty device given), else None. Inputs stay
# strings, parsed where the quick ways to resolve them do not apply. (Plain tuples: making an
# object for each node would cost a fifth of reading it.)
_Node = tuple


def _node_of(node_def) -> _Node:
    return (node_def.name, node_def.op, node_def.input[:], node_def.device, node_def, None,
            None)


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


def _long_text_at(data: bytes, i: int) -> tuple[str, int, bool]:
    """The string field whose length (of more than one byte) is at data[i], the position
    after it, and whether the length is written as short as it goes (as protobuf writes it:
    its last byte is not 0)."""
    size, i = _varint_at(data, i)
    return data[i:i + size].decode(), i + size, data[i - 1] != 0


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
        start = i
        size = data[i + 1]
        if size < 0x80:
            i += 2
            exact = True
        else:
            size, i = _varint_at(data, i + 1)
            exact = data[i - 1] != 0
        stop = i + size
        if tag != _GRAPH_NODE:  # library, versions
            i = stop
            continue
        # The fields in field order, each where protobuf writes it, or absent. The strings
        # are read inline when their length is one byte (nearly always).
        name = op = device = ""
        inputs = []
        attr_bytes = b""
        if i < stop and data[i] == _NODE_NAME:
            size = data[i + 1]
            if size < 0x80:
                i += 2 + size
                name = data[i - size:i].decode()
            else:
                name, i, minimal = _long_text_at(data, i + 1)
                exact = exact and minimal
        if i < stop and data[i] == _NODE_OP:
            size = data[i + 1]
            if size < 0x80:
                i += 2 + size
                op = data[i - size:i].decode()
            else:
                op, i, minimal = _long_text_at(data, i + 1)
                exact = exact and minimal
        while i < stop and data[i] == _NODE_INPUT:
            size = data[i + 1]
            if size < 0x80:
                i += 2 + size
                inputs.append(data[i - size:i].decode())
            else:
                text, i, minimal = _long_text_at(data, i + 1)
                inputs.append(text)
                exact = exact and minimal
        if i < stop and data[i] == _NODE_DEVICE:
            size = data[i + 1]
            if size < 0x80:
                i += 2 + size
                device = data[i - size:i].decode()
            else:
                device, i, minimal = _long_text_at(data, i + 1)
                exact = exact and minimal
            exact = exact and bool(device)  # an empty device given is not written back
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
        nodes.append((name, op, inputs, device, None, attr_bytes,
                      data[start:stop] if exact else None))
    return nodes


def _bad_name(nodes: list[_Node], name: str, where: str):
    """Raises the error for a node with no name, or the name of a node before it."""
    if not name:
        i = [node[0] for node in nodes].index(name)
        raise errors.InvalidArgumentError(None, None, f"{where}: node {i} has no name")
    raise errors.InvalidArgumentError(None, None, f"{where}: duplicate node name '{name}'")


def _topological_order(nodes: list[_Node], where: str) -> list[_Node]:
    """Nodes ordered so each comes after its inputs: Kahn's algorithm, iterative, preferring
    the file's own order among ready nodes (stable names and creation order)."""
    names: set[str] = set()
    # The usual case: every node comes after its inputs already (TF and this library write
    # GraphDefs that way), and the pass that checks the names proves it. An input naming a
    # node's output 0 ("name") is that node's name (`seen`); other inputs are parsed.
    seen: set[str] = set()
    ordered = True
    for name, _, inputs, _, _, _, _ in nodes:
        if not name or name in names:
            _bad_name(nodes, name, where)
        if ordered:
            for text in inputs:
                if text not in seen and _parse_input(text)[0] not in names:
                    ordered = False
                    break
            else:
                if _is_plain(name):
                    seen.add(name)
        names.add(name)
    if ordered:
        return nodes
    by_name = {node[0]: node for node in nodes}
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
    with _collection_paused():
        # The nodes read (and what refers to them) are freed before the collector runs
        # again: it then goes over the new ops and tensors alone.
        created = _read_and_import(graph, graph_def, data, mapped, prefix, source)
        return None if return_elements is None else _returned(created, return_elements)


def _read_and_import(graph, graph_def, data, mapped, prefix: str,
                     source: str) -> dict[str, Operation]:
    """The ops made for the nodes of `graph_def` (serialized as `data`, if given), by name."""
    from tensorslow.framework import function

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
        return _import_nodes(graph, order, mapped, prefix, source)


def _returned(created: dict[str, Operation], return_elements) -> list:
    """The ops and tensors `return_elements` names, of those made by an import."""
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
    # Ops named and wired as their NodeDefs say keep the NodeDef's bytes as their encoding
    # when it is the one `_node_encoding` would make (`_rewritten`).
    keep = direct and not prefix
    for node in order:
        name, op_type, node_inputs, device, _, _, encoding = node
        info = infos.get(op_type)
        if info is None:
            info = infos[op_type] = get_op_info(op_type)
            if info is None:
                raise errors.NotFoundError(None, None, f"{_where(source, name)}: Op type not "
                                           f"registered '{op_type}'")
        # `as_written`: the inputs are written as `_node_encoding` writes them: data inputs
        # (as `_input_name` names them) before control inputs.
        inputs, controls = [], ()
        as_written = keep and encoding is not None
        for text in node_inputs:
            tensor = tensors.get(text)
            if tensor is not None:
                inputs.append(tensor)
                if controls:
                    as_written = False
                continue
            src, index, control = _parse_input(text)
            if control:
                controls = [*controls, created[src]]  # few nodes have any
                continue
            if mapped and (src, index) in mapped:
                inputs.append(mapped[(src, index)])
                as_written = False
                continue
            outputs = created[src]._outputs
            if index >= len(outputs):
                raise errors.InvalidArgumentError(
                    None, None, f"{_where(source, name)}: input '{text}' names output "
                    f"{index} of '{src}', which has {len(outputs)} outputs")
            tensor = outputs[index]
            inputs.append(tensor)
            as_written = as_written and not controls and text == _input_name(tensor)
        # The attrs may be those of other ops too (`_converted_attrs`): copied to change.
        attrs, entry = _converted_attrs(node, info, source, memo, attrs_memo)
        if prefix and "_class" in attrs:
            attrs = {**attrs, "_class": [_prefixed_class(c, prefix) for c in attrs["_class"]]}
        op = Operation.__new__(Operation)
        try:
            if direct:
                _add_imported_op(graph, op, op_type, info, inputs, attrs, prefix + name,
                                 controls, entry)
            else:
                graph._init_op(op, op_type, inputs, dict(attrs), prefix + name, controls,
                               keep_name=True)
        except errors.OpError as e:
            raise type(e)(None, None, f"{_where(source, name)}: {e.message}") from None
        except (IndexError, KeyError, AttributeError) as e:
            # A shape function meeting a node no valid graph has (too few inputs, an attr
            # without its value): the node is malformed, not the library.
            raise errors.InvalidArgumentError(
                None, None, f"{_where(source, name)}: malformed {op_type} node "
                f"({type(e).__name__}: {e})") from None
        if device:
            try:
                op._set_device(device)
            except ValueError as e:
                raise errors.InvalidArgumentError(None, None, f"{_where(source, name)}: {e}"
                                                  ) from None
        if (as_written and entry is not None and op._device == device
                and len(encoding) <= _KEPT_ENCODING_BYTES
                and (entry.rewritten or entry.rewritten is None and _rewritten(op, entry))):
            op._node_def_encoding = encoding
        created[name] = op
        if op._outputs and ":" not in name and name[:1] != "^" and (
                not mapped or (name, 0) not in mapped):  # `_is_plain(name)`, written out
            tensors[name] = op._outputs[0]
    return created


def _rewritten(op: Operation, entry: _AttrsEntry) -> bool:
    """True when `_node_encoding` writes the attrs of `op`, imported with those of `entry`,
    as they were read: no default added on import, the entries in the order and form this
    library writes them. (With its name, type, inputs and device as written, the op's
    NodeDef is then the one it was imported from, which it keeps as its encoding.) Worked
    out for the first op of the entry, kept in `entry.rewritten` for the others."""
    try:
        entry.rewritten = _attr_entries(op, op._attrs) == entry.encoding
    except errors.InvalidArgumentError:
        entry.rewritten = False
    return entry.rewritten


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
                     attrs: dict, name: str, controls: list, entry: _AttrsEntry | None) -> None:
    """What `Graph._init_op(..., keep_name=True)` does for an op whose inputs and control
    inputs are all this graph's tensors and ops, when `_no_scope_applies(graph)`. `attrs`
    has the op's defaults already (`_converted_attrs`); its outputs' dtypes and shapes are
    those of an earlier op of the same kind when its shape function allows (`_known_specs`)."""
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
    specs = None
    if entry is not None:
        specs = entry.specs.get(_specs_key(inputs))
        if specs is None or type(specs) is str:  # not known yet
            specs = _known_specs(op, inputs, entry)
    graph._add_op(op, inputs, specs)


# --------------------------------------------------------------------------------------------
# Shapes of imported ops, worked out once for each kind of op
# --------------------------------------------------------------------------------------------

# `_AttrsEntry.specs` values other than the outputs' dtypes and shapes: inputs met once so
# far (the shape function runs as usual), and inputs whose outputs are always worked out.
_MET_ONCE, _NOT_KEPT = "met once", "not kept"


class _AttrsEntry:
    """What one import learns of the nodes of one op type with one attr encoding: their
    attrs (to copy for each op; `lists` names the list values, copied too), whether the
    attrs written back are the encoding (`rewritten`: None until asked), and the outputs'
    specs by the inputs' dtypes and shapes (`specs`, see `_known_specs`)."""

    __slots__ = ("attrs", "lists", "encoding", "rewritten", "specs")

    def __init__(self, attrs: dict, encoding: bytes):
        self.attrs = attrs
        self.lists = tuple(n for n, value in attrs.items() if type(value) is list)
        self.encoding = encoding
        self.rewritten = None
        self.specs: dict = {}


def _known_specs(op: Operation, inputs: list, entry: _AttrsEntry):
    """The (dtype, shape) of each output of `op`, as an earlier op with the same type, attrs
    and input dtypes and shapes has them, or None to run the shape function.

    The outputs of most ops follow from those alone, but some shape functions read more
    (a constant input's value, the graph...). So the specs are kept only once the shape
    function, run a second time for the same inputs, has been seen to read nothing else
    (`_probed_specs`); the first time it runs as usual (most kinds of ops are met once).
    (What a shape function reads other than through the op, global state, is not seen:
    shape functions read none.)"""
    key = _specs_key(inputs)
    specs = entry.specs.get(key)
    if specs is None:
        entry.specs[key] = _MET_ONCE
        return None
    if specs is _MET_ONCE:
        probed = _probed_specs(op)
        specs = entry.specs[key] = _NOT_KEPT if probed is None else probed
    return None if specs is _NOT_KEPT else specs


def _specs_key(inputs: list) -> tuple:
    """The dtypes and shapes of `inputs`, as a key of `_AttrsEntry.specs` (a dtype by its
    identity: dtypes are interned). Written out for one and two inputs, most ops'."""
    if len(inputs) == 1:
        t, = inputs
        return (id(t._dtype), t._shape._dims)
    if len(inputs) == 2:
        a, b = inputs
        return (id(a._dtype), a._shape._dims, id(b._dtype), b._shape._dims)
    return tuple([part for t in inputs for part in (id(t._dtype), t._shape._dims)])


class _ShapeProbe(Operation):
    """`op` as its shape function sees it, to learn what the function reads: its type,
    attrs (copies of them) and inputs (`_InputProbe`s, their dtypes and shapes). Reading
    anything else, or setting anything, is noted in `reads` (and reading fails)."""

    def __init__(self, op: Operation, reads: list):
        put = object.__setattr__
        put(self, "_reads", reads)
        put(self, "_type", op._type)
        put(self, "_info", op._info)
        put(self, "_attrs", {k: list(v) if type(v) is list else v
                             for k, v in op._attrs.items()})
        put(self, "_inputs", tuple(_InputProbe(t, reads) for t in op._inputs))

    def __getattr__(self, name):
        self._reads.append(name)
        raise AttributeError(name)

    def __setattr__(self, name, value):
        self._reads.append(name)


class _InputProbe(Tensor):
    """An input of a `_ShapeProbe`: its dtype and shape, and nothing else (not its op)."""

    __slots__ = ("_reads",)

    def __init__(self, t: Tensor, reads: list):
        put = object.__setattr__
        put(self, "_reads", reads)
        put(self, "_dtype", t._dtype)
        put(self, "_shape", t._shape)

    def __getattr__(self, name):
        self._reads.append(name)
        raise AttributeError(name)

    def __setattr__(self, name, value):
        self._reads.append(name)


def _probed_specs(op: Operation) -> tuple | None:
    """The output specs of `op` when its shape function, given only the op's type, attrs
    and input dtypes and shapes (`_ShapeProbe`), reads nothing else, changes nothing and
    succeeds; else None."""
    reads: list = []
    probe = _ShapeProbe(op, reads)
    try:
        specs = tuple([(dtype, shape if type(shape) is TensorShape else as_shape(shape))
                       for dtype, shape in op._info.infer(probe)])
    except Exception:  # noqa: BLE001 - any failure: the shape function runs as usual
        return None
    if reads or not _same_attrs(probe._attrs, op._attrs):
        return None
    if not all(p._dtype is t._dtype and p._shape is t._shape
               for p, t in zip(probe._inputs, op._inputs)):
        return None
    return specs


def _same_attrs(seen: dict, attrs: dict) -> bool:
    """True when a shape function left the attrs it was given (`seen`) as they were."""
    if seen.keys() != attrs.keys():
        return False
    return all(seen[k] is v or type(v) is list and seen[k] == v for k, v in attrs.items())


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


def _converted_attrs(node: _Node, info, source: str, memo: dict,
                     attrs_memo: dict) -> tuple[dict, _AttrsEntry | None]:
    """`node_attrs` of an imported node, then the op's defaults for the attrs it leaves out
    (as `Graph._init_op` adds them), and the node's `_AttrsEntry` (None for a node read
    from the message, or whose attrs are large or not shareable). Attrs kept as their
    encoding (`_read_nodes`) are converted and checked once per import for each op type
    and encoding (most nodes of a graph share theirs with others: Relu with T=float, ...):
    the entry keeps the attrs for the next node: the dict itself when it has no lists (ops
    share it: `Operation._set_attr` replaces an op's dict rather than change it), else a
    copy (values shared, lists copied, as `node_attrs` does)."""
    name, op_type, _, _, node_def, attr_bytes, _ = node
    if node_def is not None:
        return _with_defaults(node_attrs(node_def, info, _where(source, name), memo), info), None
    small = len(attr_bytes) <= _MEMO_BYTES
    key = (op_type, attr_bytes)
    entry = attrs_memo.get(key) if small else None
    if entry is None:
        # Field 5 entries only (checked by `_read_nodes`): a NodeDef with just these attrs.
        attrs = node_attrs(_pb().NodeDef.FromString(attr_bytes), info, _where(source, name),
                           memo)
        attrs = _in_wire_order(attrs, attr_bytes)
        _with_defaults(attrs, info)
        if not (small and all(map(_shareable, attrs.values()))):
            return attrs, None
        entry = attrs_memo[key] = _AttrsEntry(attrs.copy(), attr_bytes)
    if not entry.lists:
        return entry.attrs, entry  # shared: see Operation._set_attr
    attrs = entry.attrs.copy()
    for attr_name in entry.lists:
        attrs[attr_name] = list(attrs[attr_name])
    return attrs, entry


def _in_wire_order(attrs: dict, attr_bytes: bytes) -> dict:
    """`attrs` in the order of their entries in `attr_bytes` (a map parsed by protobuf
    iterates in an order of its own): written back in that order, they are the same bytes
    (`_rewritten`)."""
    order = {}
    i, end = 0, len(attr_bytes)
    while i < end:  # field 5 entries (`_read_nodes`), each with its key (field 1) first
        size, i = _varint_at(attr_bytes, i + 1)
        stop = i + size
        if i < stop and attr_bytes[i] == 0x0A:
            key_size, j = _varint_at(attr_bytes, i + 1)
            key = attr_bytes[j:j + key_size].decode("utf-8", "replace")
            if key in attrs:
                order[key] = attrs[key]
        i = stop
    if len(order) != len(attrs):
        return attrs  # not as expected (an entry without its key first, ...): as parsed
    return order


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

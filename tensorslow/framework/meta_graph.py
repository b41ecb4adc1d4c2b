"""MetaGraphDef: a graph with its collections, saver and signatures, as TensorFlow writes it.

Collections are written the way TF1 writes them: variables as serialized VariableDef protos
(so `trainable_variables()` survives an export and import), ops and tensors as node names,
and plain values as typed lists.
"""

from __future__ import annotations

from tensorslow.framework import errors, graph_io
from tensorslow.framework.ops import Graph, Operation, Tensor, get_default_graph

META_GRAPH_VERSION = "v1.0"
PRODUCER = "tensorslow-0.1.0"
TF_API_VERSION = "1.15.0"  # the tf.compat.v1 API these graphs are written against


def _pb():
    from tensorslow import proto

    return proto


def variable_to_proto(var, export_scope=None):
    pb = _pb()
    msg = pb.VariableDef()
    msg.variable_name = _strip(var.name, export_scope)
    msg.initializer_name = _strip(var.initializer.name, export_scope)
    msg.snapshot_name = _strip(var.value().name, export_scope)
    msg.initial_value_name = _strip(var.initial_value.name, export_scope)
    msg.trainable = var.trainable
    msg.is_resource = not isinstance(var, _variable_class())
    return msg


def _variable_class():
    from tensorslow.ops.variables import Variable

    return Variable


def _variable_classes() -> tuple[type, ...]:
    from tensorslow.ops.resource_variable_ops import ResourceVariable

    return (_variable_class(), ResourceVariable)


def _strip(name: str, scope: str | None) -> str:
    if scope and name.startswith(scope + "/"):
        return name[len(scope) + 1:]
    return name


def _scoped(name: str, scope: str | None) -> str:
    return f"{scope}/{name}" if scope else name


def create_meta_graph_def(graph: Graph | None = None, graph_def=None, saver_def=None,
                          collection_list=None, tags=None, clear_devices=False,
                          signature_def_map=None):
    pb = _pb()
    graph = graph or get_default_graph()
    meta = pb.MetaGraphDef()
    meta.meta_info_def.meta_graph_version = META_GRAPH_VERSION
    # TensorFlow's loaders parse tensorflow_version as a version number (and change behaviour
    # by it), so it names the TF1 API this library implements; the producer goes beside it.
    meta.meta_info_def.tensorflow_version = TF_API_VERSION
    meta.meta_info_def.tensorflow_git_version = PRODUCER
    if tags:
        meta.meta_info_def.tags.extend(tags)
    meta.graph_def.CopyFrom(graph_def if graph_def is not None else graph.as_graph_def())
    if clear_devices:
        for node in meta.graph_def.node:
            node.device = ""
    if saver_def is not None:
        meta.saver_def.CopyFrom(saver_def)
    keys = graph.get_all_collection_keys() if collection_list is None else collection_list
    for key in keys:
        items = graph.get_collection(key)
        if not items:
            continue
        col = meta.collection_def[key]
        if all(isinstance(x, _variable_classes()) for x in items):
            col.bytes_list.value.extend(variable_to_proto(v).SerializeToString() for v in items)
        elif all(isinstance(x, (Tensor, Operation)) for x in items):
            col.node_list.value.extend(x.name for x in items)
        elif all(isinstance(x, (str, bytes)) for x in items):
            col.bytes_list.value.extend(x.encode() if isinstance(x, str) else x for x in items)
        elif all(isinstance(x, bool) or isinstance(x, int) for x in items):
            col.int64_list.value.extend(int(x) for x in items)
        elif all(isinstance(x, float) for x in items):
            col.float_list.value.extend(items)
        else:
            del meta.collection_def[key]  # values TF1 would not serialize either
    for key, sig in (signature_def_map or {}).items():
        meta.signature_def[key].CopyFrom(sig)
    return meta


def import_scoped_meta_graph(meta_graph_def, graph: Graph | None = None, import_scope=None,
                             clear_devices=False, source: str = "MetaGraphDef"):
    """Imports the graph and rebuilds its collections (Variables included) in `graph`."""
    from tensorslow.ops.variables import Variable

    pb = _pb()
    graph = graph or get_default_graph()
    graph_def = meta_graph_def.graph_def
    if clear_devices:
        graph_def = pb.GraphDef()
        graph_def.CopyFrom(meta_graph_def.graph_def)
        for node in graph_def.node:
            node.device = ""
    with graph.as_default():
        graph_io.import_graph_def(graph_def, name=import_scope or "", source=source)
    for key, col in meta_graph_def.collection_def.items():
        kind = col.WhichOneof("kind")
        if kind == "node_list":
            for name in col.node_list.value:
                try:
                    graph.add_to_collection(key, graph.as_graph_element(
                        _scoped(name, import_scope)))
                except (KeyError, ValueError, errors.OpError):
                    continue  # a collection entry naming a node that was not exported
        elif kind == "bytes_list" and key in _VARIABLE_COLLECTIONS:
            for raw in col.bytes_list.value:
                var_def = pb.VariableDef()
                try:
                    var_def.ParseFromString(raw)
                except Exception as e:  # noqa: BLE001
                    raise errors.DataLossError(None, None, f"{source}: collection '{key}' has "
                                               f"a corrupt VariableDef: {e}") from None
                var = _existing_variable(graph, var_def, import_scope, source)
                graph.add_to_collection(key, var)
        elif kind == "bytes_list":
            for value in col.bytes_list.value:
                graph.add_to_collection(key, value)
        elif kind == "int64_list":
            for value in col.int64_list.value:
                graph.add_to_collection(key, int(value))
        elif kind == "float_list":
            for value in col.float_list.value:
                graph.add_to_collection(key, float(value))
    del Variable
    return graph


_VARIABLE_COLLECTIONS = {"variables", "trainable_variables", "local_variables",
                         "model_variables", "global_step", "moving_average_variables"}


def _existing_variable(graph: Graph, var_def, scope, source):
    """The Variable object for ops already in the graph (one per variable op)."""
    from tensorslow.ops.variables import Variable

    cache = graph.__dict__.setdefault("_imported_variables", {})
    name = _scoped(var_def.variable_name, scope)
    if name in cache:
        return cache[name]
    try:
        parts = dict(
            initializer=graph.get_operation_by_name(_scoped(var_def.initializer_name, scope)),
            snapshot=graph.get_tensor_by_name(_scoped(var_def.snapshot_name, scope)),
            initial_value=(graph.get_tensor_by_name(_scoped(var_def.initial_value_name, scope))
                           if var_def.initial_value_name else None),
            trainable=var_def.trainable)
        if var_def.is_resource:
            from tensorslow.ops.resource_variable_ops import ResourceVariable

            var = ResourceVariable(graph.get_tensor_by_name(name), **parts)
        else:
            var = Variable._from_graph(graph, variable=graph.get_tensor_by_name(name), **parts)
    except (KeyError, ValueError, errors.OpError) as e:
        raise errors.NotFoundError(None, None, f"{source}: VariableDef for '{name}' names a "
                                   f"node the graph does not have: {e}") from None
    cache[name] = var
    return var


def read_meta_graph_file(path: str):
    """Parses a MetaGraphDef file (binary, or text when it ends in .pbtxt/.meta.txt)."""
    from google.protobuf import text_format

    pb = _pb()
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        raise errors.NotFoundError(None, None, f"File {path} does not exist.") from None
    meta = pb.MetaGraphDef()
    try:
        if path.endswith((".pbtxt", ".txt")):
            text_format.Parse(data.decode("utf-8"), meta)
        else:
            meta.ParseFromString(data)
    except Exception as e:  # noqa: BLE001 - protobuf raises several types
        raise errors.DataLossError(None, None, f"{path}: cannot parse a MetaGraphDef: {e}"
                                   ) from None
    return meta


def write_proto_atomically(message, path: str, as_text: bool = False) -> None:
    """Writes a proto to `path` through a temp file and a rename, so readers never see half."""
    import os
    import tempfile

    from google.protobuf import text_format

    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    data = (text_format.MessageToString(message).encode() if as_text
            else message.SerializeToString())
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def export_meta_graph(filename=None, meta_info_def=None, graph_def=None, saver_def=None,
                      collection_list=None, as_text=False, graph=None, export_scope=None,
                      clear_devices=False, clear_extraneous_savers=False,
                      strip_default_attrs=False, save_debug_info=False, **kwargs):
    """The graph as a MetaGraphDef, also written to `filename` (atomically) when given."""
    meta = create_meta_graph_def(graph or get_default_graph(), graph_def=graph_def,
                                 saver_def=saver_def, collection_list=collection_list,
                                 clear_devices=clear_devices)
    if meta_info_def is not None:
        meta.meta_info_def.MergeFrom(meta_info_def)
    if filename:
        write_proto_atomically(meta, filename, as_text=as_text)
    return meta


def import_meta_graph(meta_graph_or_file, clear_devices=False, import_scope=None, **kwargs):
    """Imports a MetaGraphDef (or file) into the default graph; returns a Saver for its
    variables, or None when it has none (TF1's contract)."""
    source = "MetaGraphDef"
    if isinstance(meta_graph_or_file, (str, bytes)) or hasattr(meta_graph_or_file,
                                                               "__fspath__"):
        import os

        source = os.fspath(meta_graph_or_file)
        meta = read_meta_graph_file(source)
    else:
        meta = meta_graph_or_file
    graph = get_default_graph()
    import_scoped_meta_graph(meta, graph=graph, import_scope=import_scope,
                             clear_devices=clear_devices, source=source)
    from tensorslow.ops.variables import global_variables

    with graph.as_default():
        if not global_variables():
            return None
        from tensorslow.train.saver import Saver

        if meta.HasField("saver_def") and meta.saver_def.restore_op_name:
            saver_def = type(meta.saver_def)()
            saver_def.CopyFrom(meta.saver_def)
            if import_scope:
                for field in ("filename_tensor_name", "save_tensor_name", "restore_op_name"):
                    setattr(saver_def, field, _scoped(getattr(saver_def, field), import_scope))
            return Saver(saver_def=saver_def)
        return Saver()

"""Reading SavedModels: `load(sess, tags, export_dir)` restores a graph and its variables.

Nothing read is evaluated: the proto is parsed, the graph imported with the usual checks, and
the variables read from this library's checkpoint format (no pickle). Every problem is a
`ts.errors` error naming the file: a missing directory or file (NotFoundError), corrupt bytes
(DataLossError), no MetaGraph with the asked tags (NotFoundError, also a RuntimeError as TF).
"""

from __future__ import annotations

import os

from tensorslow.framework import errors
from tensorslow.framework.meta_graph import import_scoped_meta_graph
from tensorslow.saved_model.builder import (
    SAVED_MODEL_FILENAME_PB,
    SAVED_MODEL_FILENAME_PBTXT,
    VARIABLES_DIRECTORY,
    VARIABLES_FILENAME,
)


class MetaGraphNotFoundError(errors.NotFoundError, RuntimeError):
    """No MetaGraph with the requested tags (TF1 raises RuntimeError here)."""


def maybe_saved_model_directory(export_dir: str) -> bool:
    return any(os.path.isfile(os.path.join(export_dir, n))
               for n in (SAVED_MODEL_FILENAME_PB, SAVED_MODEL_FILENAME_PBTXT))


contains_saved_model = maybe_saved_model_directory


def read_saved_model(export_dir: str):
    from google.protobuf import text_format

    from tensorslow import proto

    export_dir = os.fspath(export_dir)
    pb_path = os.path.join(export_dir, SAVED_MODEL_FILENAME_PB)
    txt_path = os.path.join(export_dir, SAVED_MODEL_FILENAME_PBTXT)
    saved_model = proto.SavedModel()
    if os.path.isfile(pb_path):
        path = pb_path
        with open(path, "rb") as f:
            data = f.read()
        try:
            saved_model.ParseFromString(data)
        except Exception as e:  # noqa: BLE001 - protobuf raises DecodeError and others
            raise errors.DataLossError(None, None, f"{path}: cannot parse a SavedModel: {e}"
                                       ) from None
    elif os.path.isfile(txt_path):
        path = txt_path
        with open(path, encoding="utf-8", errors="replace") as f:
            text = f.read()
        try:
            text_format.Parse(text, saved_model)
        except text_format.ParseError as e:
            raise errors.DataLossError(None, None, f"{path}: cannot parse a SavedModel: {e}"
                                       ) from None
    else:
        raise errors.NotFoundError(None, None, f"SavedModel file does not exist at: "
                                   f"{export_dir}/{{{SAVED_MODEL_FILENAME_PBTXT}|"
                                   f"{SAVED_MODEL_FILENAME_PB}}}")
    return saved_model


def get_meta_graph_def(export_dir: str, tags):
    tags = [tags] if isinstance(tags, str) else list(tags)
    saved_model = read_saved_model(export_dir)
    for meta in saved_model.meta_graphs:
        if set(meta.meta_info_def.tags) == set(tags):
            return meta
    available = [list(m.meta_info_def.tags) for m in saved_model.meta_graphs]
    raise MetaGraphNotFoundError(
        None, None, f"MetaGraphDef associated with tags {tags} could not be found in "
        f"SavedModel at {export_dir}. Available tags: {available}")


def load(sess, tags, export_dir, import_scope=None, **saver_kwargs):
    """Imports the tagged MetaGraph into `sess.graph` and restores its variables in `sess`.

    As TensorFlow does: when the MetaGraph has a SaverDef (TensorFlow's builders write one),
    its restore op runs with the variables' prefix fed, which restores reference and resource
    variables alike; otherwise each variable (VariableV2 or VarHandleOp) takes the value the
    checkpoint holds under its name.
    """
    export_dir = os.fspath(export_dir)
    meta = get_meta_graph_def(export_dir, tags)
    source = os.path.join(export_dir, SAVED_MODEL_FILENAME_PB)
    import_scoped_meta_graph(meta, graph=sess.graph, import_scope=import_scope, source=source)
    prefix = os.path.join(export_dir, VARIABLES_DIRECTORY, VARIABLES_FILENAME)
    variable_ops = [n for n in meta.graph_def.node
                    if n.op in ("VariableV2", "Variable", "VarHandleOp")]
    if not variable_ops:
        return meta
    saver_def = meta.saver_def
    if saver_def.restore_op_name and saver_def.filename_tensor_name:
        _run_restore_op(sess, saver_def, prefix, import_scope)
    else:
        _assign_variables(sess, variable_ops, prefix, import_scope)
    return meta


def _run_restore_op(sess, saver_def, prefix: str, import_scope) -> None:
    from tensorslow.train import saver as saver_lib

    saver_lib.read_index(prefix)  # a missing or corrupt index names the file, before any run
    scoped = (lambda name: f"{import_scope}/{name}") if import_scope else (lambda name: name)
    sess.run(scoped(saver_def.restore_op_name),
             {scoped(saver_def.filename_tensor_name): prefix})


def _assign_variables(sess, variable_ops, prefix: str, import_scope) -> None:
    from tensorslow.ops.resource_variable_ops import variable_key
    from tensorslow.train import saver as saver_lib

    index = saver_lib.read_index(prefix)
    names = [node.name for node in variable_ops]
    for name in names:
        if name not in index.entries:
            raise errors.NotFoundError(None, None, f"{prefix}: the SavedModel's variables "
                                       f"have no value for '{name}'")
    values = saver_lib.read_tensors(index, names)
    for name in names:
        scoped = f"{import_scope}/{name}" if import_scope else name
        op = sess.graph.get_operation_by_name(scoped)
        key = variable_key(op) if op.type == "VarHandleOp" else scoped
        sess._ctx.assign_variable(key, values[name])

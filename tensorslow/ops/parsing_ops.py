"""Parsing serialized `tf.Example` protos inside the graph: the ParseExample and ParseExampleV2
ops, and TF1's Python API over them (`parse_example`, `parse_single_example` and the feature
descriptions `FixedLenFeature`, `VarLenFeature`, `FixedLenSequenceFeature`).

Semantics follow TensorFlow's:

* A dense feature (`FixedLenFeature(shape, dtype, default_value)`) gives one Tensor of shape
  [batch] + shape. Every example must hold exactly `prod(shape)` values of the feature's list
  type (float_list for float32, int64_list for int64, bytes_list for string); an example
  without the feature takes the default, and a feature without a default is required. Breaking
  either rule is an InvalidArgumentError naming the key and the example's index.
* A dense shape whose first dimension is unknown (`FixedLenSequenceFeature`) holds a variable
  number of rows per example; the output is padded with the (scalar) default to the longest.
* A sparse feature (`VarLenFeature(dtype)`) gives a SparseTensor: indices [[example, i], ...]
  (int64 [N, 2]), the values in that order, dense_shape [batch, longest list].
* Serialized protos are parsed with protobuf's own parser (`proto.Example.FromString`); bytes
  that are not an Example are an InvalidArgumentError "Could not parse example input, ...".
  Nothing is unpickled or evaluated.

ParseExample is TF1's op: one scalar string input per key (attrs Nsparse, Ndense,
sparse_types, Tdense, dense_shapes). ParseExampleV2 (what tf.compat.v1.io.parse_example builds
in TF 2.x) takes the keys as 1-D string tensors, accepts a scalar `serialized` (the result then
has no batch dimension), and adds ragged features, which are not supported here: a graph that
asks for them fails with UnimplementedError when run. The Python API builds ParseExampleV2, as
TF 2.x's tf.compat.v1 does; both ops import from TensorFlow GraphDefs and run. Features are
ordered by key in the op (TF's order), so the op's attrs match the graph TF would write.
"""

from __future__ import annotations

import math
import re
from collections import namedtuple

import numpy as np

from tensorslow.framework import dtypes, errors
from tensorslow.framework.ops import (
    REQUIRED,
    NotDifferentiable,
    Tensor,
    _graph_of,
    convert_to_tensor,
    make_op,
    name_scope,
    register_op,
)
from tensorslow.framework.sparse_tensor import SparseTensor
from tensorslow.framework.tensor_shape import TensorShape, as_shape
from tensorslow.ops import constant_op

__all__ = [
    "FixedLenFeature",
    "FixedLenSequenceFeature",
    "VarLenFeature",
    "parse_example",
    "parse_single_example",
]

# --------------------------------------------------------------------------------------------
# Feature descriptions (TF's namedtuples, same fields and defaults)
# --------------------------------------------------------------------------------------------


class VarLenFeature(namedtuple("VarLenFeature", ["dtype"])):
    """A variable-length feature, parsed into a SparseTensor of `dtype`."""

    __slots__ = ()


class FixedLenFeature(namedtuple("FixedLenFeature", ["shape", "dtype", "default_value"])):
    """A feature of fixed `shape`, parsed into a dense Tensor; `default_value` (reshaped to
    `shape`) stands in for a missing feature, which is an error without it."""

    __slots__ = ()

    def __new__(cls, shape, dtype, default_value=None):
        return super().__new__(cls, shape, dtype, default_value)


class FixedLenSequenceFeature(namedtuple(
        "FixedLenSequenceFeature", ["shape", "dtype", "allow_missing", "default_value"])):
    """A variable number of rows of `shape`, parsed into a dense Tensor [batch, rows] + shape,
    padded with the scalar `default_value` (0 or b"" when None). parse_example requires
    `allow_missing=True`, as in TensorFlow."""

    __slots__ = ()

    def __new__(cls, shape, dtype, allow_missing=False, default_value=None):
        return super().__new__(cls, shape, dtype, allow_missing, default_value)


# --------------------------------------------------------------------------------------------
# Reading one Example's features
# --------------------------------------------------------------------------------------------

_SUPPORTED_DTYPES = (dtypes.float32, dtypes.int64, dtypes.string)
_LIST_FIELD = {dtypes.float32: "float_list", dtypes.int64: "int64_list",
               dtypes.string: "bytes_list"}
_TYPE_OF_LIST_FIELD = {"float_list": "float", "int64_list": "int64", "bytes_list": "string"}
_TF_TYPE_NAME = {dtypes.float32: "float", dtypes.int64: "int64", dtypes.string: "string"}


def _example_class():
    from tensorslow import proto

    return proto.Example


def _describe_bytes(data: bytes, limit: int = 64) -> str:
    shown = data[:limit]
    return repr(shown)[2:-1] + ("..." if len(data) > limit else "")


def _to_bytes(value) -> bytes:
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode("utf-8")
    if isinstance(value, (bytearray, memoryview, np.bytes_)):
        return bytes(value)
    raise TypeError(f"expected a string (bytes), got {type(value).__name__}")


def _to_key(value) -> str:
    """A feature key as the str protobuf's map uses (a key that is not UTF-8 cannot be in any
    Example, and so is simply never found)."""
    return _to_bytes(value).decode("utf-8", "surrogateescape")


def _parse_serialized(data, index: int, example_class, op):
    data = _to_bytes(data)
    try:
        return example_class.FromString(data)
    except Exception:  # noqa: BLE001 - protobuf raises DecodeError and RuntimeError alike
        raise errors.InvalidArgumentError(
            None, op, f"Could not parse example input, value: '{_describe_bytes(data)}' "
            f"(example index {index})") from None


def _where(name: str, key: str, index: int) -> str:
    return f"Name: {name}, Key: {key}, Index: {index}."


def _feature_values(features, key: str, dtype, where: str, op):
    """The values of feature `key` as a list, or None when the example does not have it."""
    if key not in features.feature:
        return None
    feature = features.feature[key]
    kind = feature.WhichOneof("kind")
    if kind is None:  # a Feature with no list set holds no values
        return []
    if kind != _LIST_FIELD[dtype]:
        raise errors.InvalidArgumentError(
            None, op, f"{where}  Data types don't match. Data type: {_TYPE_OF_LIST_FIELD[kind]} "
            f"but expected type: {_TF_TYPE_NAME[dtype]}")
    return list(getattr(feature, kind).value)


def _as_array(values: list, dtype) -> np.ndarray:
    if dtype == dtypes.string:
        out = np.empty(len(values), dtype=object)
        out[:] = [bytes(v) for v in values]
        return out
    return np.asarray(values, dtype=dtype.as_numpy_dtype)


# --------------------------------------------------------------------------------------------
# The parser shared by both ops
# --------------------------------------------------------------------------------------------


class _DenseSpec:
    """One dense feature: key, dtype, shape (first dim None: variable rows), default value."""

    def __init__(self, key: str, dtype, shape: TensorShape, default, index: int, op):
        self.key, self.dtype = key, dtype
        dims = shape.as_list() if shape.ndims is not None else None
        if dims is None or any(d is None for d in dims[1:]):
            raise errors.InvalidArgumentError(
                None, op, f"dense_shapes[{index}] for key '{key}' must be fully defined except "
                f"perhaps for its first dimension, got {shape}")
        self.variable_rows = bool(dims) and dims[0] is None
        self.shape = dims
        self.row_shape = dims[1:] if self.variable_rows else dims
        self.row_size = math.prod(self.row_shape)
        default = np.asarray(default)
        if default.dtype != np.dtype(dtype.as_numpy_dtype) and not (
                dtype == dtypes.string and default.size == 0):
            raise errors.InvalidArgumentError(
                None, op, f"dense_defaults[{index}] for key '{key}' has dtype "
                f"{dtypes.as_dtype(default.dtype).name}, but Tdense[{index}] is {dtype.name}")
        if self.variable_rows:
            if default.size != 1:
                raise errors.InvalidArgumentError(
                    None, op, f"dense_defaults[{index}] for key '{key}' must be a scalar padding "
                    f"value for a variable-length dense shape {shape}, got shape "
                    f"{list(default.shape)}")
            self.default = default.reshape(())
        elif default.size == 0:
            self.default = None  # required
        else:
            if list(default.shape) != dims:
                raise errors.InvalidArgumentError(
                    None, op, f"dense_defaults[{index}] for key '{key}' has shape "
                    f"{list(default.shape)}, which is not dense_shapes[{index}] == {dims}")
            self.default = default

    def values_for(self, values: list | None, where: str, op) -> np.ndarray:
        """This feature's value in one example, as an array of self.shape (rows, when
        variable, as many as the example holds)."""
        type_name = _TF_TYPE_NAME[self.dtype]
        if self.variable_rows:
            if values is None:
                return np.empty([0] + self.row_shape, dtype=self.dtype.as_numpy_dtype)
            if self.row_size == 0 or len(values) % self.row_size:
                raise errors.InvalidArgumentError(
                    None, op, f"{where}  Number of {type_name} values is not a multiple of "
                    f"stride length. Saw {len(values)} values but output shape is: "
                    f"{_shape_text(self.shape)}")
            return _as_array(values, self.dtype).reshape([-1] + self.row_shape)
        if values is None:
            if self.default is None:
                raise errors.InvalidArgumentError(
                    None, op, f"{where}  Feature: {self.key} (data type: {type_name}) is "
                    "required but could not be found.")
            return self.default
        if len(values) != self.row_size:
            raise errors.InvalidArgumentError(
                None, op, f"{where}  Number of {type_name} values != expected.  Values size: "
                f"{len(values)} but output shape: {_shape_text(self.shape)}")
        return _as_array(values, self.dtype).reshape(self.shape)


def _shape_text(dims: list) -> str:
    return "[" + ",".join("?" if d is None else str(d) for d in dims) + "]"


def _example_names(names, batch_shape: tuple, op) -> list[str]:
    names = np.asarray(names)
    count = math.prod(batch_shape)
    if names.size == 0:
        return ["<unknown>"] * count
    if names.shape != batch_shape:
        raise errors.InvalidArgumentError(
            None, op, f"Expected len(names) == len(serialized), but got shapes "
            f"{list(names.shape)} and {list(batch_shape)}")
    return [_to_bytes(n).decode("utf-8", "replace") for n in names.reshape(-1)]


def _parse_batch(serialized, names, sparse_keys, sparse_types, dense_specs, op):
    """(sparse [(indices, values, dense_shape)], dense [array]) for a scalar or vector of
    serialized Examples; a scalar gives results without the batch dimension."""
    serialized = np.asarray(serialized)
    if serialized.ndim > 1:
        raise errors.InvalidArgumentError(
            None, op, f"Expected serialized to be a scalar or vector, got shape "
                      f"{list(serialized.shape)}")
    batch_shape = serialized.shape
    example_names = _example_names(names, batch_shape, op)
    flat = serialized.reshape(-1)
    example_class = _example_class()
    examples = [_parse_serialized(data, i, example_class, op) for i, data in enumerate(flat)]
    batch = len(examples)

    dense_out = []
    for spec in dense_specs:
        rows = []
        for i, ex in enumerate(examples):
            where = _where(example_names[i], spec.key, i)
            values = _feature_values(ex.features, spec.key, spec.dtype, where, op)
            rows.append(spec.values_for(values, where, op))
        if spec.variable_rows:
            longest = max((len(r) for r in rows), default=0)
            out = np.empty([batch, longest] + spec.row_shape, dtype=spec.dtype.as_numpy_dtype)
            out[...] = spec.default
            for i, r in enumerate(rows):
                out[i, :len(r)] = r
        else:
            out = np.empty([batch] + spec.shape, dtype=spec.dtype.as_numpy_dtype)
            for i, r in enumerate(rows):
                out[i] = r
        dense_out.append(out.reshape(batch_shape + out.shape[1:]))

    sparse_out = []
    for key, dtype in zip(sparse_keys, sparse_types, strict=True):
        per_example = [_feature_values(ex.features, key, dtype,
                                       _where(example_names[i], key, i), op) or []
                       for i, ex in enumerate(examples)]
        lengths = [len(v) for v in per_example]
        indices = np.array([(i, j) for i, n in enumerate(lengths) for j in range(n)],
                           dtype=np.int64).reshape(-1, 2)
        values = _as_array([v for vs in per_example for v in vs], dtype)
        dense_shape = np.array([batch, max(lengths, default=0)], dtype=np.int64)
        if not batch_shape:  # a scalar input: drop the batch column and dimension
            indices, dense_shape = indices[:, 1:], dense_shape[1:]
        sparse_out.append((np.ascontiguousarray(indices), values, dense_shape))
    return sparse_out, dense_out


def _outputs(sparse_out, dense_out, extra=()):
    """The op's outputs in TF's order: all indices, all values, all shapes, dense, extra."""
    results = ([s[0] for s in sparse_out] + [s[1] for s in sparse_out]
               + [s[2] for s in sparse_out] + list(dense_out) + list(extra))
    return results[0] if len(results) == 1 else tuple(results)


# --------------------------------------------------------------------------------------------
# Shape inference shared by both ops
# --------------------------------------------------------------------------------------------


def _check_types(types, attr: str, op_name: str) -> list:
    types = list(types or [])
    for t in types:
        if t not in _SUPPORTED_DTYPES:
            raise TypeError(f"Value for attr '{attr}' of {dtypes.as_dtype(t).name} is not in the "
                            f"list of allowed values: float, int64, string (op '{op_name}')")
    return types


def _output_specs(op, serialized: Tensor, num_sparse: int, sparse_types, dense_types,
                  dense_shapes, min_rank: int):
    """Output (dtype, shape)s for a serialized input of rank min_rank..1."""
    if serialized._dtype not in (None, dtypes.string):
        raise TypeError(f"Input 'serialized' of '{op._name}' must be a string tensor, got "
                        f"{serialized._dtype.name}")
    rank = serialized._shape.ndims
    if rank is not None and not min_rank <= rank <= 1:
        raise ValueError(f"Shape must be rank {'1' if min_rank else '0 or 1'} but is rank "
                         f"{rank} for 'serialized' of '{op._name}' (op: '{op._type}')")
    if len(sparse_types) != num_sparse:
        raise ValueError(f"len(sparse_types) {len(sparse_types)} != number of sparse keys "
                         f"{num_sparse} for '{op._name}'")
    if len(dense_shapes) != len(dense_types):
        raise ValueError(f"len(dense_shapes) {len(dense_shapes)} != len(Tdense) "
                         f"{len(dense_types)} for '{op._name}'")
    batch_dims = None if rank is None else list(serialized._shape.as_list())
    index_width = None if rank is None else 1 + rank
    specs = [(dtypes.int64, TensorShape([None, index_width]))] * num_sparse
    specs += [(t, TensorShape([None])) for t in sparse_types]
    specs += [(dtypes.int64, TensorShape([index_width]))] * num_sparse
    for dtype, shape in zip(dense_types, dense_shapes, strict=True):
        shape = as_shape(shape)
        if batch_dims is None or shape.ndims is None:
            specs.append((dtype, TensorShape(None)))
        else:
            specs.append((dtype, TensorShape(batch_dims + shape.as_list())))
    return specs


def _dense_specs(dense_keys, dense_types, dense_shapes, dense_defaults, op) -> list[_DenseSpec]:
    return [_DenseSpec(key, dtype, as_shape(shape), default, i, op)
            for i, (key, dtype, shape, default) in enumerate(
                zip(dense_keys, dense_types, dense_shapes, dense_defaults, strict=True))]


# --------------------------------------------------------------------------------------------
# ParseExample (TF1): serialized, names, Nsparse scalar keys, Ndense scalar keys, Ndense
# defaults -> Nsparse indices, values, shapes; Ndense dense values.
# --------------------------------------------------------------------------------------------


def _parse_example_counts(op):
    num_sparse, num_dense = int(op._attrs["Nsparse"]), int(op._attrs["Ndense"])
    expected = 2 + num_sparse + 2 * num_dense
    if len(op._inputs) != expected:
        raise ValueError(f"'{op._name}' (op: 'ParseExample') expects {expected} inputs for "
                         f"Nsparse={num_sparse}, Ndense={num_dense}, got {len(op._inputs)}")
    return num_sparse, num_dense


def _parse_example_infer(op):
    num_sparse, num_dense = _parse_example_counts(op)
    sparse_types = _check_types(op._attrs["sparse_types"], "sparse_types", op._name)
    dense_types = _check_types(op._attrs["Tdense"], "Tdense", op._name)
    if len(dense_types) != num_dense:
        raise ValueError(f"len(Tdense) {len(dense_types)} != Ndense {num_dense} for "
                         f"'{op._name}'")
    for t in op._inputs[2:2 + num_sparse + num_dense]:
        if t._shape.ndims not in (None, 0):
            raise ValueError(f"Keys of '{op._name}' (op: 'ParseExample') must be scalars, "
                             f"got shape {t._shape}")
    return _output_specs(op, op._inputs[0], num_sparse, sparse_types, dense_types,
                         list(op._attrs["dense_shapes"]), min_rank=1)


def _parse_example_kernel(op, ctx):
    num_sparse, num_dense = _parse_example_counts(op)
    sparse_types = list(op._attrs["sparse_types"])
    dense_types = list(op._attrs["Tdense"])
    dense_shapes = list(op._attrs["dense_shapes"])

    def parse(serialized, names, *rest):
        if np.ndim(serialized) != 1:
            raise errors.InvalidArgumentError(
                None, op, f"Expected serialized to be a vector, got shape "
                          f"{list(np.shape(serialized))}")
        sparse_keys = [_to_key(np.asarray(k).reshape(())[()]) for k in rest[:num_sparse]]
        dense_keys = [_to_key(np.asarray(k).reshape(())[()])
                      for k in rest[num_sparse:num_sparse + num_dense]]
        defaults = rest[num_sparse + num_dense:]
        specs = _dense_specs(dense_keys, dense_types, dense_shapes, defaults, op)
        sparse_out, dense_out = _parse_batch(serialized, names, sparse_keys, sparse_types,
                                             specs, op)
        return _outputs(sparse_out, dense_out)
    return parse


register_op("ParseExample", infer=_parse_example_infer, kernel=_parse_example_kernel,
            attrs={"Nsparse": ("int", REQUIRED), "Ndense": ("int", REQUIRED),
                   "sparse_types": ("list(type)", REQUIRED), "Tdense": ("list(type)", REQUIRED),
                   "dense_shapes": ("list(shape)", REQUIRED)})
NotDifferentiable("ParseExample")


# --------------------------------------------------------------------------------------------
# ParseExampleV2: serialized, names, sparse_keys [Nsparse], dense_keys [Ndense], ragged_keys
# [Nragged], Ndense defaults -> sparse indices, values, shapes; dense; ragged values, splits.
# --------------------------------------------------------------------------------------------


def _parse_example_v2_infer(op):
    dense_types = _check_types(op._attrs["Tdense"], "Tdense", op._name)
    if len(op._inputs) != 5 + len(dense_types):
        raise ValueError(f"'{op._name}' (op: 'ParseExampleV2') expects {5 + len(dense_types)} "
                         f"inputs for {len(dense_types)} Tdense, got {len(op._inputs)}")
    for t, what in zip(op._inputs[2:5], ("sparse_keys", "dense_keys", "ragged_keys"),
                       strict=True):
        if t._shape.ndims not in (None, 1):
            raise ValueError(f"'{what}' of '{op._name}' (op: 'ParseExampleV2') must be a "
                             f"vector, got shape {t._shape}")
    sparse_types = _check_types(op._attrs["sparse_types"], "sparse_types", op._name)
    ragged_value_types = _check_types(op._attrs["ragged_value_types"], "ragged_value_types",
                                      op._name)
    ragged_split_types = list(op._attrs["ragged_split_types"] or [])
    if len(ragged_split_types) != len(ragged_value_types):
        raise ValueError(f"len(ragged_split_types) {len(ragged_split_types)} != "
                         f"len(ragged_value_types) {len(ragged_value_types)} for '{op._name}'")
    specs = _output_specs(op, op._inputs[0], int(op._attrs["num_sparse"]), sparse_types,
                          dense_types, list(op._attrs["dense_shapes"]), min_rank=0)
    specs += [(t, TensorShape([None])) for t in ragged_value_types]
    specs += [(t, TensorShape([None])) for t in ragged_split_types]
    return specs


def _key_list(keys, expected: int | None, what: str, op) -> list[str]:
    keys = np.asarray(keys)
    if keys.ndim != 1:
        raise errors.InvalidArgumentError(None, op, f"Expected {what} to be a vector, got "
                                                    f"shape {list(keys.shape)}")
    if expected is not None and keys.shape[0] != expected:
        raise errors.InvalidArgumentError(None, op, f"Expected len({what}) to match the attrs, "
                                                    f"{expected}, got {keys.shape[0]}")
    return [_to_key(k) for k in keys]


def _parse_example_v2_kernel(op, ctx):
    num_sparse = int(op._attrs["num_sparse"])
    sparse_types = list(op._attrs["sparse_types"])
    dense_types = list(op._attrs["Tdense"])
    dense_shapes = list(op._attrs["dense_shapes"])
    if op._attrs["ragged_value_types"]:
        raise errors.UnimplementedError(
            None, op, f"'{op.name}' (op: 'ParseExampleV2') asks for ragged features "
            f"(ragged_value_types {[t.name for t in op._attrs['ragged_value_types']]}); "
            "ragged features are not supported")

    def parse(serialized, names, sparse_keys, dense_keys, ragged_keys, *defaults):
        sparse_keys = _key_list(sparse_keys, num_sparse, "sparse_keys", op)
        dense_keys = _key_list(dense_keys, len(dense_types), "dense_keys", op)
        if _key_list(ragged_keys, None, "ragged_keys", op):
            raise errors.UnimplementedError(None, op, "ParseExampleV2: ragged features are not "
                                                      "supported")
        specs = _dense_specs(dense_keys, dense_types, dense_shapes, defaults, op)
        sparse_out, dense_out = _parse_batch(serialized, names, sparse_keys, sparse_types,
                                             specs, op)
        return _outputs(sparse_out, dense_out)
    return parse


register_op("ParseExampleV2", infer=_parse_example_v2_infer, kernel=_parse_example_v2_kernel,
            attrs={"Tdense": ("list(type)", REQUIRED), "num_sparse": ("int", REQUIRED),
                   "sparse_types": ("list(type)", REQUIRED),
                   "ragged_value_types": ("list(type)", REQUIRED),
                   "ragged_split_types": ("list(type)", REQUIRED),
                   "dense_shapes": ("list(shape)", REQUIRED)})
NotDifferentiable("ParseExampleV2")


# --------------------------------------------------------------------------------------------
# Python API (tf.compat.v1.io.parse_example and parse_single_example)
# --------------------------------------------------------------------------------------------


def _string_vector(values, name: str) -> Tensor:
    arr = np.empty(len(values), dtype=object)
    arr[:] = [_to_bytes(v) for v in values]
    return constant_op.constant(arr, dtype=dtypes.string, name=name)


def _safe_name(key: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.\-/]", "_", key)


def _default_array(value, dtype, shape: list, key: str) -> np.ndarray:
    if dtype == dtypes.string:
        flat = np.asarray(value, dtype=object).reshape(-1)
        arr = np.empty(flat.shape, dtype=object)
        arr[:] = [_to_bytes(v) for v in flat]
    else:
        arr = constant_op.infer_array(value, dtype)
    try:
        return arr.reshape(shape)
    except ValueError:
        raise ValueError(f"Cannot reshape a tensor with {arr.size} elements to shape {shape} "
                         f"(the default_value of feature '{key}')") from None


def _check_dtype(dtype, key: str):
    dtype = dtypes.as_dtype(dtype).base_dtype
    if dtype not in _SUPPORTED_DTYPES:
        raise ValueError(f"Unsupported dtype {dtype.name} for feature '{key}': parse_example "
                         "supports float32, int64 and string")
    return dtype


class _ParseParams:
    """The op's keys, types, shapes and defaults for `features`, ordered by key as TF does."""

    def __init__(self, features: dict):
        if not features:
            raise ValueError("Argument `features` cannot be None or empty.")
        self.sparse_keys, self.sparse_types = [], []
        self.dense_keys, self.dense_types, self.dense_shapes, self.dense_defaults = [], [], [], []
        for key in sorted(features):
            feature = features[key]
            if not isinstance(key, str):
                raise TypeError(f"Feature keys must be strings, got {key!r}")
            if isinstance(feature, VarLenFeature):
                self.sparse_keys.append(key)
                self.sparse_types.append(_check_dtype(feature.dtype, key))
            elif isinstance(feature, FixedLenFeature):
                self._add_fixed(key, feature)
            elif isinstance(feature, FixedLenSequenceFeature):
                self._add_sequence(key, feature)
            else:
                raise ValueError(f"Unsupported feature type for key '{key}': "
                                 f"{type(feature).__name__} (supported: FixedLenFeature, "
                                 "FixedLenSequenceFeature, VarLenFeature)")

    def _add_fixed(self, key, feature):
        dtype = _check_dtype(feature.dtype, key)
        shape = as_shape(feature.shape)
        if not shape.is_fully_defined():
            raise ValueError(f"All dimensions of shape for feature {key} need to be known but "
                             f"received {shape}.")
        dims = shape.as_list()
        if feature.default_value is None:
            default = np.empty([0], dtype=dtype.as_numpy_dtype)
        elif isinstance(feature.default_value, Tensor):
            default = feature.default_value
        else:
            default = _default_array(feature.default_value, dtype, dims, key)
        self._add_dense(key, dtype, shape, default)

    def _add_sequence(self, key, feature):
        if not feature.allow_missing:
            raise ValueError("Unsupported: FixedLenSequenceFeature requires allow_missing to "
                             "be True.")
        dtype = _check_dtype(feature.dtype, key)
        row = as_shape(feature.shape)
        if not row.is_fully_defined():
            raise ValueError(f"All dimensions of shape for feature {key} need to be known but "
                             f"received {row}.")
        padding = feature.default_value
        if padding is None:
            padding = b"" if dtype == dtypes.string else 0
        default = (padding if isinstance(padding, Tensor)
                   else _default_array(padding, dtype, [], key))
        self._add_dense(key, dtype, TensorShape([None] + row.as_list()), default)

    def _add_dense(self, key, dtype, shape, default):
        self.dense_keys.append(key)
        self.dense_types.append(dtype)
        self.dense_shapes.append(shape)
        self.dense_defaults.append(default)

    def default_tensors(self) -> list[Tensor]:
        out = []
        for key, dtype, default in zip(self.dense_keys, self.dense_types, self.dense_defaults,
                                       strict=True):
            if isinstance(default, Tensor):
                out.append(convert_to_tensor(default, dtype=dtype))
            else:
                out.append(constant_op.constant(default, dtype=dtype,
                                                name="key_" + _safe_name(key)))
        return out


def _names_tensor(example_names) -> Tensor:
    if example_names is None:
        return _string_vector([], "names")
    return convert_to_tensor(example_names, dtype=dtypes.string, name="names")


def _parse_example_v2(serialized: Tensor, params: _ParseParams, example_names, name) -> dict:
    op = make_op("ParseExampleV2",
                 [serialized, _names_tensor(example_names),
                  _string_vector(params.sparse_keys, "sparse_keys"),
                  _string_vector(params.dense_keys, "dense_keys"),
                  _string_vector([], "ragged_keys"),
                  *params.default_tensors()],
                 {"Tdense": params.dense_types, "num_sparse": len(params.sparse_keys),
                  "sparse_types": params.sparse_types, "ragged_value_types": [],
                  "ragged_split_types": [], "dense_shapes": params.dense_shapes},
                 name=name or "ParseExampleV2")
    outputs = list(op.outputs)
    n = len(params.sparse_keys)
    indices, values, shapes = outputs[:n], outputs[n:2 * n], outputs[2 * n:3 * n]
    dense = outputs[3 * n:3 * n + len(params.dense_keys)]
    result = {key: SparseTensor(i, v, s) for key, i, v, s in
              zip(params.sparse_keys, indices, values, shapes, strict=True)}
    result.update(zip(params.dense_keys, dense, strict=True))
    return result


def parse_example(serialized, features, name=None, example_names=None) -> dict:
    """Parses a batch of serialized `tf.Example` protos (a 1-D string tensor) into a dict:
    FixedLenFeature keys -> Tensors [batch] + shape, FixedLenSequenceFeature keys -> Tensors
    [batch, rows] + shape, VarLenFeature keys -> SparseTensors (dense_shape [batch, longest]).

    `example_names` (optional, same shape as `serialized`) only appears in error messages.
    """
    params = _ParseParams(features)
    with name_scope(name, "ParseExample", [serialized]):
        serialized = convert_to_tensor(serialized, dtype=dtypes.string, name="serialized")
        return _parse_example_v2(serialized, params, example_names, name)


def parse_single_example(serialized, features, name=None, example_names=None) -> dict:
    """parse_example for one serialized Example (a scalar string): dense results have shape
    `shape`, sparse ones dense_shape [longest] and indices [[i], ...]."""
    params = _ParseParams(features)
    with name_scope(name, "ParseSingleExample", [serialized]):
        serialized = convert_to_tensor(serialized, dtype=dtypes.string, name="serialized")
        if serialized.shape.ndims not in (None, 0):
            raise ValueError(f"Input serialized must be a scalar, got shape {serialized.shape}")
        return _parse_example_v2(serialized, params, example_names, name)


# --------------------------------------------------------------------------------------------
# The raw ops, for graphs that want TF1's ParseExample exactly (and for tests)
# --------------------------------------------------------------------------------------------


def parse_example_raw(serialized, names, sparse_keys, dense_keys, dense_defaults,
                      sparse_types, dense_shapes, name=None) -> list[Tensor]:
    """Builds TF1's ParseExample op (tf.raw_ops.ParseExample's arguments) and returns its
    outputs: sparse indices, sparse values, sparse shapes, dense values, in that order."""
    serialized = convert_to_tensor(serialized, dtype=dtypes.string)
    graph = _graph_of([serialized])
    with graph.as_default():
        names_t = _names_tensor(None if names is None or (
            not isinstance(names, Tensor) and len(names) == 0) else names)
        sparse_key_ts = [convert_to_tensor(_to_bytes(k), dtype=dtypes.string)
                         for k in sparse_keys]
        dense_key_ts = [convert_to_tensor(_to_bytes(k), dtype=dtypes.string)
                        for k in dense_keys]
        defaults = [convert_to_tensor(d) for d in dense_defaults]
        op = make_op("ParseExample", [serialized, names_t, *sparse_key_ts, *dense_key_ts,
                                      *defaults],
                     {"Nsparse": len(sparse_key_ts), "Ndense": len(dense_key_ts),
                      "sparse_types": [dtypes.as_dtype(t) for t in sparse_types],
                      "Tdense": [d.dtype.base_dtype for d in defaults],
                      "dense_shapes": [as_shape(s) for s in dense_shapes]},
                     name=name or "ParseExample")
    return list(op.outputs)

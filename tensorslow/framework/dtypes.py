"""Data types: TensorFlow's `DType` objects, mapped to numpy dtypes and `DataType` enum values.

`as_dtype` accepts a DType, a numpy dtype or type, a TF name ("float32"), or a `DataType` enum
number, and always returns the one shared DType object for that type, so `is` and `==` agree.
Enum numbers are TensorFlow's (types.proto), so they go on the wire unchanged.
"""

from __future__ import annotations

import numpy as np


class DType:
    """One element type. Instances are interned: compare with `==` or `is`."""

    __slots__ = ("_name", "_enum", "_np", "_ref")

    def __init__(self, name: str, enum: int, np_dtype):
        self._name = name
        self._enum = enum
        self._np = np.dtype(np_dtype)
        self._ref = False

    @property
    def name(self) -> str:
        return self._name + ("_ref" if self._ref else "")

    @property
    def as_datatype_enum(self) -> int:
        return self._enum + (100 if self._ref else 0)

    @property
    def as_numpy_dtype(self):
        return self._np.type

    @property
    def base_dtype(self) -> DType:
        return _BY_ENUM[self._enum]

    @property
    def is_floating(self) -> bool:
        return self._np.kind == "f"

    @property
    def is_integer(self) -> bool:
        return self._np.kind in "iu"

    @property
    def is_unsigned(self) -> bool:
        return self._np.kind == "u"

    @property
    def is_complex(self) -> bool:
        return self._np.kind == "c"

    @property
    def is_bool(self) -> bool:
        return self._np.kind == "b"

    @property
    def is_numeric(self) -> bool:
        return self._np.kind in "iufc"

    @property
    def size(self) -> int:
        return self._np.itemsize

    @property
    def min(self):
        if self.is_floating:
            return float(np.finfo(self._np).min)
        if self.is_integer:
            return int(np.iinfo(self._np).min)
        raise TypeError(f"Cannot find minimum value of {self.name}.")

    @property
    def max(self):
        if self.is_floating:
            return float(np.finfo(self._np).max)
        if self.is_integer:
            return int(np.iinfo(self._np).max)
        raise TypeError(f"Cannot find maximum value of {self.name}.")

    def is_compatible_with(self, other) -> bool:
        return self.base_dtype == as_dtype(other).base_dtype

    def __eq__(self, other) -> bool:
        if other is self:  # interned: the common case, and the cheapest to decide
            return True
        if other is None:
            return False
        if not isinstance(other, DType):
            try:
                other = as_dtype(other)
            except TypeError:
                return False
        return self._enum == other._enum and self._ref == other._ref

    def __ne__(self, other) -> bool:
        return other is not self and not self.__eq__(other)

    def __hash__(self) -> int:
        return hash((self._enum, self._ref))

    def __repr__(self) -> str:
        return f"tf.{self.name}"

    def __reduce__(self):
        return as_dtype, (self.as_datatype_enum,)


_SPECS = [
    ("float16", 19, np.float16),
    ("float32", 1, np.float32),
    ("float64", 2, np.float64),
    ("int8", 6, np.int8),
    ("int16", 5, np.int16),
    ("int32", 3, np.int32),
    ("int64", 9, np.int64),
    ("uint8", 4, np.uint8),
    ("uint16", 17, np.uint16),
    ("uint32", 22, np.uint32),
    ("uint64", 23, np.uint64),
    ("bool", 10, np.bool_),
    ("complex64", 8, np.complex64),
    ("complex128", 18, np.complex128),
    ("string", 7, np.object_),
    ("resource", 20, np.object_),  # a handle to state kept by the session (a variable)
    ("variant", 21, np.object_),  # a value of its own kind, e.g. a TensorList
]

_BY_ENUM: dict[int, DType] = {}
_BY_NAME: dict[str, DType] = {}
_BY_NP: dict[np.dtype, DType] = {}
for _name, _enum, _np_type in _SPECS:
    _dt = DType(_name, _enum, _np_type)
    _BY_ENUM[_enum] = _dt
    _BY_NAME[_name] = _dt
    if _name not in ("string", "resource", "variant"):
        _BY_NP[np.dtype(_np_type)] = _dt

_REFS: dict[int, DType] = {}
for _enum, _dt in _BY_ENUM.items():
    _ref = DType(_dt._name, _enum, _dt._np)
    _ref._ref = True
    _REFS[_enum + 100] = _ref

_BY_NAME.update({"half": _BY_NAME["float16"], "float": _BY_NAME["float32"],
                 "double": _BY_NAME["float64"]})

float16 = half = _BY_NAME["float16"]
float32 = _BY_NAME["float32"]
float64 = double = _BY_NAME["float64"]
int8 = _BY_NAME["int8"]
int16 = _BY_NAME["int16"]
int32 = _BY_NAME["int32"]
int64 = _BY_NAME["int64"]
uint8 = _BY_NAME["uint8"]
uint16 = _BY_NAME["uint16"]
uint32 = _BY_NAME["uint32"]
uint64 = _BY_NAME["uint64"]
bool = _BY_NAME["bool"]  # noqa: A001 - TensorFlow's name
complex64 = _BY_NAME["complex64"]
complex128 = _BY_NAME["complex128"]
string = _BY_NAME["string"]
resource = _BY_NAME["resource"]
variant = _BY_NAME["variant"]


def as_dtype(type_value) -> DType:
    """Returns the DType for a DType, numpy dtype/type, TF type name, or DataType enum number."""
    if isinstance(type_value, DType):
        return type_value
    if isinstance(type_value, (int, np.integer)) and not isinstance(type_value, (np.bool_,)):
        key = int(type_value)
        if key in _BY_ENUM:
            return _BY_ENUM[key]
        if key in _REFS:
            return _REFS[key]
        raise TypeError(f"Cannot convert DataType enum value {key} to a dtype.")
    if isinstance(type_value, str):
        name = type_value[3:].lower() if type_value.startswith("DT_") else type_value
        if name in _BY_NAME:
            return _BY_NAME[name]
        raise TypeError(f"Cannot convert {type_value!r} to a dtype.")
    if type_value in (str, bytes):
        return string
    try:
        np_dtype = np.dtype(type_value)
    except TypeError as e:
        raise TypeError(f"Cannot convert {type_value!r} to a dtype. {e}") from None
    if np_dtype in _BY_NP:
        return _BY_NP[np_dtype]
    if np_dtype.kind in "OSU":
        return string
    raise TypeError(f"Cannot convert {type_value!r} to a dtype: {np_dtype} is not supported.")


def dtype_of_value(value: np.ndarray) -> DType:
    """The DType of a numpy array (strings and bytes map to `string`)."""
    return as_dtype(value.dtype)

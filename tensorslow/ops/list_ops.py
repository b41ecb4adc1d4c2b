"""TensorLists: DT_VARIANT values holding a list of tensors of one dtype, and TensorFlow's
TensorList* ops on them, with their gradients.

TF2 writes loops that collect per-iteration values (TensorArray, Keras' recurrent layers,
a While's gradient) as these ops, so they are what such graphs run on. A value is immutable:
every op that "changes" a list returns a new one (the element arrays are shared, never
copied).
"""

from __future__ import annotations

import numpy as np

from tensorslow.framework import dtypes, errors
from tensorslow.framework.ops import (
    REQUIRED,
    NotDifferentiable,
    RegisterGradient,
    convert_to_tensor,
    make_op,
    register_op,
    static_value,
)
from tensorslow.framework.tensor_shape import TensorShape, as_shape


class TensorListValue:
    """An immutable list of tensors of one dtype: `elements` (arrays, or None where unset),
    `element_dtype` (a numpy dtype), `element_shape` (a tuple with None for unknown
    dimensions, or None for an unknown rank)."""

    __slots__ = ("elements", "element_dtype", "element_shape")

    def __init__(self, elements, element_dtype, element_shape):
        self.elements = tuple(elements)
        self.element_dtype = np.dtype(element_dtype)
        self.element_shape = element_shape

    def with_elements(self, elements) -> TensorListValue:
        return TensorListValue(elements, self.element_dtype, self.element_shape)

    def _replaced(self, i: int, item: np.ndarray) -> TensorListValue:
        """This list with element `i` (in range) set to `item` (already checked)."""
        new = object.__new__(TensorListValue)
        new.elements = self.elements[:i] + (item,) + self.elements[i + 1:]
        new.element_dtype, new.element_shape = self.element_dtype, self.element_shape
        return new

    def __len__(self) -> int:
        return len(self.elements)

    def __repr__(self) -> str:
        return (f"TensorListValue(length={len(self.elements)}, "
                f"element_dtype={self.element_dtype}, element_shape={self.element_shape})")


# --------------------------------------------------------------------------------------------
# Element shapes: a shape tensor's value (-1 for an unknown rank or dimension) <-> a tuple
# --------------------------------------------------------------------------------------------


def _shape_of_value(value):
    value = np.asarray(value)
    if value.ndim == 0:
        if int(value) != -1:
            raise errors.InvalidArgumentError(
                None, None, f"An element shape given as a scalar must be -1 (unknown rank), "
                            f"got {int(value)}")
        return None
    return tuple(None if int(d) < 0 else int(d) for d in value)


def _merge_shapes(a, b, what: str):
    """The more specific of two compatible element shapes (tuples, or None)."""
    if a is None:
        return b
    if b is None:
        return a
    if len(a) != len(b) or any(x is not None and y is not None and x != y
                               for x, y in zip(a, b)):
        raise errors.InvalidArgumentError(
            None, None, f"{what}: incompatible element shapes {_shape_str(a)} and "
                        f"{_shape_str(b)}")
    return tuple(x if x is not None else y for x, y in zip(a, b))


def _shape_str(shape) -> str:
    return "<unknown>" if shape is None else str([-1 if d is None else d for d in shape])


def _check_element(lst: TensorListValue, item, what: str) -> np.ndarray:
    item = np.asarray(item)
    if item.dtype != lst.element_dtype:
        raise errors.InvalidArgumentError(
            None, None, f"{what}: an item of dtype {item.dtype} does not match the list's "
                        f"element dtype {lst.element_dtype}")
    if item.shape != lst.element_shape:
        _merge_shapes(lst.element_shape, item.shape, what)
    return item


def _full_shape(lst: TensorListValue, requested, what: str) -> tuple:
    """The element shape to make zeros of for unset elements; fully defined or an error."""
    shape = _merge_shapes(lst.element_shape, requested, what)
    if shape is None or None in shape:
        for e in lst.elements:
            if e is not None:
                return e.shape
        raise errors.InvalidArgumentError(
            None, None, f"{what}: tried to read an unset element of a list whose element "
                        f"shape is not fully defined ({_shape_str(shape)})")
    return shape


def _element(lst: TensorListValue, i: int, requested, what: str) -> np.ndarray:
    e = lst.elements[i]
    if e is None:
        return np.zeros(_full_shape(lst, requested, what), lst.element_dtype)
    return e


def _check_index(lst: TensorListValue, index, what: str) -> int:
    i = int(index)
    if not 0 <= i < len(lst.elements):
        raise errors.InvalidArgumentError(
            None, None, f"{what}: index {i} is out of range for a list of "
                        f"{len(lst.elements)} elements")
    return i


def _stack(lst: TensorListValue, items: list, requested, what: str) -> np.ndarray:
    if not items:
        shape = _merge_shapes(lst.element_shape, requested, what)
        if shape is None or None in shape:
            raise errors.InvalidArgumentError(
                None, None, f"{what}: tried to stack an empty list whose element shape is not "
                            f"fully defined ({_shape_str(shape)})")
        return np.zeros((0, *shape), lst.element_dtype)
    shapes = {e.shape for e in items}
    if len(shapes) > 1:
        raise errors.InvalidArgumentError(
            None, None, f"{what}: elements have different shapes {sorted(shapes)}")
    return np.stack(items)


# --------------------------------------------------------------------------------------------
# Shape inference
# --------------------------------------------------------------------------------------------


def _static_element_shape(t) -> TensorShape:
    value = static_value(t)
    if value is None:
        return TensorShape(None)
    shape = _shape_of_value(value)
    return TensorShape(None if shape is None else list(shape))


def _handle(op):
    return [(dtypes.variant, TensorShape([]))]


def _item_infer(shape_input: int):
    def infer(op):
        return [(op._attrs["element_dtype"], _static_element_shape(op._inputs[shape_input]))]
    return infer


def _stacked_infer(op):
    element = _static_element_shape(op._inputs[1])
    n = op._attrs.get("num_elements", -1)
    lead = TensorShape([None if n is None or n < 0 else n])
    return [(op._attrs["element_dtype"], lead.concatenate(element)
             if element.ndims is not None else TensorShape(None))]


def _gather_infer(op):
    element = _static_element_shape(op._inputs[2])
    lead = TensorShape([op._inputs[1]._shape.num_elements()
                        if op._inputs[1]._shape.is_fully_defined() else None])
    return [(op._attrs["element_dtype"], lead.concatenate(element)
             if element.ndims is not None else TensorShape(None))]


_DTYPE = {"element_dtype": ("type", REQUIRED)}
_DTYPE_SHAPE = {"element_dtype": ("type", REQUIRED), "shape_type": ("type", dtypes.int32)}


def _kernel(fn):
    """A kernel builder for `fn(op, *inputs)`."""
    def build(op, ctx):
        return lambda *args: fn(op, *args)
    return build


def _register(op_type, fn, infer=_handle, attrs=None):
    register_op(op_type, infer=infer, kernel=_kernel(fn), attrs=attrs or {})


# --------------------------------------------------------------------------------------------
# Kernels
# --------------------------------------------------------------------------------------------


def _np_dtype(op):
    return op._attrs["element_dtype"].as_numpy_dtype


def _empty(op, element_shape, max_num_elements):
    return TensorListValue((), _np_dtype(op), _shape_of_value(element_shape))


def _reserve(op, element_shape, num_elements):
    n = int(num_elements)
    if n < 0:
        raise errors.InvalidArgumentError(
            None, op, f"TensorListReserve: num_elements must be >= 0, got {n}")
    return TensorListValue((None,) * n, _np_dtype(op), _shape_of_value(element_shape))


def _from_tensor(op, tensor, element_shape):
    tensor = np.asarray(tensor)
    if tensor.ndim == 0:
        raise errors.InvalidArgumentError(
            None, op, "TensorListFromTensor: the tensor must be at least a vector, got a scalar")
    shape = _merge_shapes(_shape_of_value(element_shape), tensor.shape[1:],
                          "TensorListFromTensor")
    return TensorListValue(tuple(tensor), tensor.dtype, shape)


def _stack_kernel(op, lst, element_shape):
    what = f"TensorListStack '{op.name}'"
    n = op._attrs.get("num_elements", -1)
    if n is not None and n >= 0 and n != len(lst.elements):
        raise errors.InvalidArgumentError(
            None, op, f"{what}: the list has {len(lst.elements)} elements, expected {n}")
    requested = _shape_of_value(element_shape)
    items = [_element(lst, i, requested, what) for i in range(len(lst.elements))]
    return _stack(lst, items, requested, what)


def _get_item(op, lst, index, element_shape):
    i = int(index)
    if 0 <= i < len(lst.elements) and lst.elements[i] is not None:
        return lst.elements[i]  # a set element is returned as it is (the shape is for zeros)
    what = f"TensorListGetItem '{op.name}'"
    return _element(lst, _check_index(lst, index, what), _shape_of_value(element_shape), what)


def _set_item(op, lst, index, item):
    i = int(index)
    if type(item) is np.ndarray and item.dtype == lst.element_dtype and \
            item.shape == lst.element_shape and 0 <= i < len(lst.elements):
        return lst._replaced(i, item)  # the common case: an element of the list's own kind
    what = f"TensorListSetItem '{op.name}'"
    item = _check_element(lst, item, what)
    elements = list(lst.elements)
    if i >= len(elements) and op._attrs.get("resize_if_index_out_of_bounds"):
        elements.extend([None] * (i + 1 - len(elements)))
    _check_index(TensorListValue(elements, lst.element_dtype, None), i, what)
    elements[i] = item
    return lst.with_elements(elements)


def _push_back(op, lst, tensor):
    item = _check_element(lst, tensor, f"TensorListPushBack '{op.name}'")
    return lst.with_elements((*lst.elements, item))


def _pop_back(op, lst, element_shape):
    what = f"TensorListPopBack '{op.name}'"
    if not lst.elements:
        raise errors.InvalidArgumentError(None, op, f"{what}: tried to pop from an empty list")
    last = _element(lst, len(lst.elements) - 1, _shape_of_value(element_shape), what)
    return lst.with_elements(lst.elements[:-1]), last


def _length(op, lst):
    return np.array(len(lst.elements), np.int32)


def _element_shape(op, lst):
    np_type = op._attrs["shape_type"].as_numpy_dtype
    if lst.element_shape is None:
        return np.array(-1, np_type)
    return np.array([-1 if d is None else d for d in lst.element_shape], np_type)


def _gather(op, lst, indices, element_shape):
    what = f"TensorListGather '{op.name}'"
    requested = _shape_of_value(element_shape)
    indices = np.asarray(indices).reshape(-1)
    items = [_element(lst, _check_index(lst, i, what), requested, what) for i in indices]
    return _stack(lst, items, requested, what)


def _scatter_into(lst, tensor, indices, what):
    tensor = np.asarray(tensor)
    indices = np.asarray(indices).reshape(-1)
    if tensor.ndim == 0 or tensor.shape[0] != len(indices):
        raise errors.InvalidArgumentError(
            None, None, f"{what}: {len(indices)} indices for a tensor of shape "
                        f"{list(tensor.shape)}")
    elements = list(lst.elements)
    for i, item in zip(indices, tensor):
        i = int(i)
        if i < 0:
            raise errors.InvalidArgumentError(None, None, f"{what}: negative index {i}")
        if i >= len(elements):
            elements.extend([None] * (i + 1 - len(elements)))
        elements[i] = _check_element(lst, item, what)
    return lst.with_elements(elements)


def _scatter_v2(op, tensor, indices, element_shape, num_elements):
    tensor = np.asarray(tensor)
    n = max(int(num_elements), 0)
    lst = TensorListValue((None,) * n, tensor.dtype, _shape_of_value(element_shape))
    return _scatter_into(lst, tensor, indices, f"TensorListScatterV2 '{op.name}'")


def _scatter_existing(op, lst, tensor, indices):
    return _scatter_into(lst, tensor, indices,
                         f"TensorListScatterIntoExistingList '{op.name}'")


def _concat(op, lst, element_shape, leading_dims):
    what = f"TensorListConcatV2 '{op.name}'"
    requested = _shape_of_value(element_shape)
    items = [_element(lst, i, requested, what) for i in range(len(lst.elements))]
    if not items:
        rest = _merge_shapes(lst.element_shape, requested, what)
        if rest is None or None in rest[1:]:
            raise errors.InvalidArgumentError(
                None, op, f"{what}: concatenating an empty list needs a fully defined element "
                          "shape beyond the first dimension")
        value = np.zeros((0, *rest[1:]), lst.element_dtype)
    else:
        if any(e.ndim == 0 for e in items):
            raise errors.InvalidArgumentError(None, op, f"{what}: elements must be at least "
                                                        "vectors to concatenate")
        value = np.concatenate(items)
    return value, np.array([e.shape[0] for e in items], np.int64)


def _split(op, tensor, element_shape, lengths):
    what = f"TensorListSplit '{op.name}'"
    tensor = np.asarray(tensor)
    lengths = np.asarray(lengths).reshape(-1).astype(np.int64)
    if tensor.ndim == 0 or int(lengths.sum()) != tensor.shape[0] or (lengths < 0).any():
        raise errors.InvalidArgumentError(
            None, op, f"{what}: lengths {lengths.tolist()} do not split a tensor of shape "
                      f"{list(tensor.shape)}")
    bounds = np.cumsum(lengths)[:-1]
    shape = _shape_of_value(element_shape)
    if shape is not None:
        shape = (None, *shape[1:]) if shape else shape
    return TensorListValue(np.split(tensor, bounds), tensor.dtype, shape)


def _resize(op, lst, size):
    n = int(size)
    if n < 0:
        raise errors.InvalidArgumentError(None, op, f"TensorListResize: size {n} < 0")
    elements = lst.elements[:n] + (None,) * max(0, n - len(lst.elements))
    return lst.with_elements(elements)


_register("EmptyTensorList", _empty, attrs=_DTYPE_SHAPE)
_register("TensorListReserve", _reserve, attrs=_DTYPE_SHAPE)
_register("TensorListFromTensor", _from_tensor, attrs=_DTYPE_SHAPE)
_register("TensorListStack", _stack_kernel, infer=_stacked_infer,
          attrs={**_DTYPE, "num_elements": ("int", -1)})
_register("TensorListGetItem", _get_item, infer=_item_infer(2), attrs=_DTYPE)
_register("TensorListSetItem", _set_item,
          attrs={**_DTYPE, "resize_if_index_out_of_bounds": ("bool", False)})
_register("TensorListPushBack", _push_back, attrs=_DTYPE)
_register("TensorListPopBack", _pop_back,
          infer=lambda op: [*_handle(op), *_item_infer(1)(op)], attrs=_DTYPE)
_register("TensorListLength", _length, infer=lambda op: [(dtypes.int32, TensorShape([]))])
_register("TensorListElementShape", _element_shape,
          infer=lambda op: [(op._attrs["shape_type"], TensorShape(None))],
          attrs={"shape_type": ("type", REQUIRED)})
_register("TensorListGather", _gather, infer=_gather_infer, attrs=_DTYPE)
_register("TensorListScatterV2", _scatter_v2, attrs=_DTYPE_SHAPE)
_register("TensorListScatterIntoExistingList", _scatter_existing, attrs=_DTYPE)
_register("TensorListConcatV2", _concat,
          infer=lambda op: [(op._attrs["element_dtype"], TensorShape(None)),
                            (dtypes.int64, TensorShape([None]))], attrs=_DTYPE_SHAPE)
_register("TensorListSplit", _split, attrs=_DTYPE_SHAPE)
_register("TensorListResize", _resize)

for _op_type in ("EmptyTensorList", "TensorListReserve", "TensorListLength",
                 "TensorListElementShape"):
    NotDifferentiable(_op_type)


def zeros_like_list(lst: TensorListValue) -> TensorListValue:
    """ZerosLike of a list: zeros where it has elements, unset where it has none."""
    return lst.with_elements(None if e is None else np.zeros_like(e) for e in lst.elements)


def add_lists(lists) -> TensorListValue:
    """AddN of lists, element by element; an unset element counts as zeros."""
    first = lists[0]
    elements = list(first.elements)
    for other in lists[1:]:
        if len(other.elements) != len(elements):
            raise errors.InvalidArgumentError(
                None, None, f"AddN: lists of different lengths ({len(elements)} and "
                            f"{len(other.elements)})")
        elements = [b if a is None else a if b is None else a + b
                    for a, b in zip(elements, other.elements)]
    return first.with_elements(elements)


# --------------------------------------------------------------------------------------------
# Python API (the functions TensorFlow's list_ops module offers)
# --------------------------------------------------------------------------------------------


def _shape_tensor(element_shape, shape_type=dtypes.int32):
    """An element shape given as a TensorShape, list, None (unknown) or a tensor."""
    from tensorslow.framework.ops import Tensor
    from tensorslow.ops import constant_op

    if isinstance(element_shape, Tensor):
        return element_shape
    shape = as_shape(element_shape) if element_shape is not None else TensorShape(None)
    if shape.ndims is None:
        return constant_op.constant(-1, shape_type)
    return constant_op.constant([-1 if d is None else d for d in shape.as_list()], shape_type,
                                shape=[shape.ndims])


def _list_op(op_type, inputs, attrs, name=None):
    return make_op(op_type, inputs, attrs, name=name)._outputs


def known_element_shape(handle) -> TensorShape:
    """What the graph tells of the elements' shape of list `handle` (TensorFlow keeps this as
    the handle's shape data): from the op that made the list and the items set into it."""
    shape = TensorShape(None)
    for _ in range(1000):
        op = handle._op
        kind = op._type
        if kind in ("TensorListReserve", "EmptyTensorList"):
            return shape.merge_with(_static_element_shape(op._inputs[0]))
        if kind in ("TensorListFromTensor", "TensorListScatterV2"):
            given = _static_element_shape(op._inputs[2 if kind == "TensorListScatterV2" else 1])
            tensor = op._inputs[0]._shape
            if tensor.ndims:
                given = given.merge_with(tensor[1:])
            return shape.merge_with(given)
        if kind in ("TensorListSetItem", "TensorListPushBack"):
            shape = shape.merge_with(op._inputs[-1]._shape)
        elif kind == "TensorListScatterIntoExistingList" and op._inputs[1]._shape.ndims:
            shape = shape.merge_with(op._inputs[1]._shape[1:])
        elif kind not in ("TensorListResize", "Identity", "TensorListPopBack"):
            data = getattr(op, "_handle_data", None) if kind == "Placeholder" else None
            if data is not None:
                shape = shape.merge_with(data[1])
            return shape
        handle = op._inputs[0]
    return shape


def list_handle_data(handle):
    """(element dtype, known element shape) of list `handle`, or None when the graph does not
    tell its element dtype: what a function's argument for the list carries."""
    t = handle
    for _ in range(1000):
        op = t._op
        if "element_dtype" in op._attrs:
            return op._attrs["element_dtype"], known_element_shape(handle)
        data = getattr(op, "_handle_data", None)
        if data is not None:
            return data[0], known_element_shape(handle)
        if op._type != "Identity" or not op._inputs:
            return None
        t = op._inputs[0]
    return None


def _read_shape(handle, element_shape):
    return known_element_shape(handle) if element_shape is None else element_shape


def empty_tensor_list(element_shape, element_dtype, max_num_elements=None, name=None):
    from tensorslow.ops import constant_op

    limit = constant_op.constant(-1 if max_num_elements is None else max_num_elements,
                                 dtypes.int32)
    return _list_op("EmptyTensorList", [_shape_tensor(element_shape), limit],
                    {"element_dtype": dtypes.as_dtype(element_dtype),
                     "shape_type": dtypes.int32}, name)[0]


def tensor_list_reserve(element_shape, num_elements, element_dtype, name=None):
    n = convert_to_tensor(num_elements, dtype=dtypes.int32)
    return _list_op("TensorListReserve", [_shape_tensor(element_shape), n],
                    {"element_dtype": dtypes.as_dtype(element_dtype),
                     "shape_type": dtypes.int32}, name)[0]


def tensor_list_from_tensor(tensor, element_shape, name=None):
    tensor = convert_to_tensor(tensor)
    return _list_op("TensorListFromTensor", [tensor, _shape_tensor(element_shape)],
                    {"element_dtype": tensor._dtype, "shape_type": dtypes.int32}, name)[0]


def tensor_list_stack(input_handle, element_dtype, num_elements=-1, element_shape=None,
                      name=None):
    element_shape = _read_shape(input_handle, element_shape)
    return _list_op("TensorListStack", [input_handle, _shape_tensor(element_shape)],
                    {"element_dtype": dtypes.as_dtype(element_dtype),
                     "num_elements": int(num_elements)}, name)[0]


def tensor_list_get_item(input_handle, index, element_dtype, element_shape=None, name=None):
    index = convert_to_tensor(index, dtype=dtypes.int32)
    element_shape = _read_shape(input_handle, element_shape)
    return _list_op("TensorListGetItem", [input_handle, index, _shape_tensor(element_shape)],
                    {"element_dtype": dtypes.as_dtype(element_dtype)}, name)[0]


def tensor_list_set_item(input_handle, index, item, resize_if_index_out_of_bounds=False,
                         name=None):
    item = convert_to_tensor(item)
    index = convert_to_tensor(index, dtype=dtypes.int32)
    return _list_op("TensorListSetItem", [input_handle, index, item],
                    {"element_dtype": item._dtype,
                     "resize_if_index_out_of_bounds": bool(resize_if_index_out_of_bounds)},
                    name)[0]


def tensor_list_push_back(input_handle, tensor, name=None):
    tensor = convert_to_tensor(tensor)
    return _list_op("TensorListPushBack", [input_handle, tensor],
                    {"element_dtype": tensor._dtype}, name)[0]


def tensor_list_pop_back(input_handle, element_dtype, element_shape=None, name=None):
    element_shape = _read_shape(input_handle, element_shape)
    handle, item = _list_op("TensorListPopBack", [input_handle, _shape_tensor(element_shape)],
                            {"element_dtype": dtypes.as_dtype(element_dtype)}, name)
    return handle, item


def tensor_list_length(input_handle, name=None):
    return _list_op("TensorListLength", [input_handle], {}, name)[0]


def tensor_list_element_shape(input_handle, shape_type=dtypes.int32, name=None):
    return _list_op("TensorListElementShape", [input_handle],
                    {"shape_type": dtypes.as_dtype(shape_type)}, name)[0]


def tensor_list_gather(input_handle, indices, element_dtype, element_shape=None, name=None):
    indices = convert_to_tensor(indices, dtype=dtypes.int32)
    element_shape = _read_shape(input_handle, element_shape)
    return _list_op("TensorListGather", [input_handle, indices, _shape_tensor(element_shape)],
                    {"element_dtype": dtypes.as_dtype(element_dtype)}, name)[0]


def tensor_list_scatter(tensor, indices, element_shape=None, input_handle=None, name=None):
    tensor = convert_to_tensor(tensor)
    indices = convert_to_tensor(indices, dtype=dtypes.int32)
    if input_handle is not None:
        return _list_op("TensorListScatterIntoExistingList", [input_handle, tensor, indices],
                        {"element_dtype": tensor._dtype}, name)[0]
    from tensorslow.ops import constant_op

    n = constant_op.constant(-1, dtypes.int32)
    return _list_op("TensorListScatterV2", [tensor, indices, _shape_tensor(element_shape), n],
                    {"element_dtype": tensor._dtype, "shape_type": dtypes.int32}, name)[0]


def tensor_list_concat(input_handle, element_dtype, element_shape=None, name=None):
    from tensorslow.ops import constant_op

    lead = constant_op.constant(0, dtypes.int64)
    return _list_op("TensorListConcatV2", [input_handle, _shape_tensor(element_shape), lead],
                    {"element_dtype": dtypes.as_dtype(element_dtype),
                     "shape_type": dtypes.int32}, name)[0]


def tensor_list_split(tensor, element_shape, lengths, name=None):
    tensor = convert_to_tensor(tensor)
    lengths = convert_to_tensor(lengths, dtype=dtypes.int64)
    return _list_op("TensorListSplit", [tensor, _shape_tensor(element_shape), lengths],
                    {"element_dtype": tensor._dtype, "shape_type": dtypes.int32}, name)[0]


def tensor_list_resize(input_handle, size, name=None):
    size = convert_to_tensor(size, dtype=dtypes.int32)
    return _list_op("TensorListResize", [input_handle, size], {}, name)[0]


# --------------------------------------------------------------------------------------------
# Gradients (a list's gradient is a list of the elements' gradients)
# --------------------------------------------------------------------------------------------


def _element_dtype(op):
    return op._attrs["element_dtype"]


def _zeros_list_like(handle, element_dtype, element_shape=None):
    """An all-unset list as long as `handle` (reads of it give zeros)."""
    if element_shape is None:
        element_shape = tensor_list_element_shape(handle)
    return tensor_list_reserve(element_shape, tensor_list_length(handle), element_dtype)


def _accepts_none(fn):
    fn.accepts_none = True
    return fn


@RegisterGradient("TensorListFromTensor")
@_accepts_none
def _from_tensor_grad(op, dlist):
    if dlist is None:
        return None, None
    from tensorslow.ops import array_ops

    tensor = op._inputs[0]
    n = tensor._shape.as_list()[0] if tensor._shape.ndims else None
    grad = tensor_list_stack(dlist, _element_dtype(op), -1 if n is None else n,
                             element_shape=array_ops.shape(tensor)[1:])
    return grad, None


@RegisterGradient("TensorListStack")
def _stack_grad(op, dtensor):
    from tensorslow.ops import array_ops

    return tensor_list_from_tensor(dtensor, array_ops.shape(dtensor)[1:]), None


@RegisterGradient("TensorListGetItem")
def _get_item_grad(op, ditem):
    from tensorslow.ops import array_ops

    handle, index = op._inputs[0], op._inputs[1]
    base = _zeros_list_like(handle, _element_dtype(op), array_ops.shape(ditem))
    return tensor_list_set_item(base, index, ditem), None, None


@RegisterGradient("TensorListSetItem")
@_accepts_none
def _set_item_grad(op, dlist):
    if dlist is None:
        return None, None, None
    from tensorslow.ops import array_ops

    handle, index, item = op._inputs
    list_grad = tensor_list_set_item(dlist, index, array_ops.zeros_like(item))
    if op._attrs.get("resize_if_index_out_of_bounds"):
        list_grad = tensor_list_resize(list_grad, tensor_list_length(handle))
    item_grad = tensor_list_get_item(dlist, index, _element_dtype(op),
                                     element_shape=array_ops.shape(item))
    return list_grad, None, item_grad


@RegisterGradient("TensorListPushBack")
@_accepts_none
def _push_back_grad(op, dlist):
    if dlist is None:
        return None, None
    from tensorslow.ops import array_ops

    item = op._inputs[1]
    rest, ditem = tensor_list_pop_back(dlist, _element_dtype(op),
                                       element_shape=array_ops.shape(item))
    return rest, ditem


@RegisterGradient("TensorListPopBack")
@_accepts_none
def _pop_back_grad(op, dlist, ditem):
    from tensorslow.ops import array_ops

    if dlist is None and ditem is None:
        return None, None
    if dlist is None:
        dlist = _zeros_list_like(op._outputs[0], _element_dtype(op))
    if ditem is None:
        ditem = array_ops.zeros_like(op._outputs[1])
    return tensor_list_push_back(dlist, ditem), None


@RegisterGradient("TensorListGather")
def _gather_grad(op, dtensor):
    from tensorslow.ops import array_ops

    handle, indices = op._inputs[0], op._inputs[1]
    # Summed per element: an element gathered twice gets both gradients.
    dense = array_ops.unsorted_segment_sum(dtensor, indices, tensor_list_length(handle))
    return tensor_list_from_tensor(dense, array_ops.shape(dtensor)[1:]), None, None


@RegisterGradient("TensorListScatterV2")
@_accepts_none
def _scatter_v2_grad(op, dlist):
    if dlist is None:
        return None, None, None, None
    from tensorslow.ops import array_ops

    tensor, indices = op._inputs[0], op._inputs[1]
    grad = tensor_list_gather(dlist, indices, _element_dtype(op),
                              element_shape=array_ops.shape(tensor)[1:])
    return grad, None, None, None


@RegisterGradient("TensorListScatterIntoExistingList")
@_accepts_none
def _scatter_existing_grad(op, dlist):
    if dlist is None:
        return None, None, None
    from tensorslow.ops import array_ops

    tensor, indices = op._inputs[1], op._inputs[2]
    list_grad = tensor_list_scatter(array_ops.zeros_like(tensor), indices, input_handle=dlist)
    tensor_grad = tensor_list_gather(dlist, indices, _element_dtype(op),
                                     element_shape=array_ops.shape(tensor)[1:])
    return list_grad, tensor_grad, None


@RegisterGradient("TensorListConcatV2")
@_accepts_none
def _concat_grad(op, dtensor, dlengths):
    if dtensor is None:
        return None, None, None
    return tensor_list_split(dtensor, tensor_list_element_shape(op._inputs[0]),
                             op._outputs[1]), None, None


@RegisterGradient("TensorListSplit")
@_accepts_none
def _split_grad(op, dlist):
    if dlist is None:
        return None, None, None
    from tensorslow.ops import array_ops

    tensor = op._inputs[0]
    grad = tensor_list_concat(dlist, _element_dtype(op),
                              element_shape=array_ops.concat(
                                  [[-1], array_ops.shape(tensor)[1:]], 0))
    return grad, None, None


@RegisterGradient("TensorListResize")
@_accepts_none
def _resize_grad(op, dlist):
    if dlist is None:
        return None, None
    return tensor_list_resize(dlist, tensor_list_length(op._inputs[0])), None

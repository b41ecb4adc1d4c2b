"""TensorLists (DT_VARIANT values): the value, and TensorListGetItem, which a loop's gradient
uses to read the values its forward loop kept per iteration."""

from __future__ import annotations

from tensorslow.framework import dtypes
from tensorslow.framework.ops import REQUIRED, make_op, register_op
from tensorslow.framework.tensor_shape import TensorShape


class TensorListValue:
    """An immutable list of tensors of one dtype: `elements` (arrays, or None where unset),
    `element_dtype` (a numpy dtype), `element_shape` (a tuple, or None for unknown rank)."""

    __slots__ = ("elements", "element_dtype", "element_shape")

    def __init__(self, elements, element_dtype, element_shape):
        self.elements = tuple(elements)
        self.element_dtype = element_dtype
        self.element_shape = element_shape


def _get_item_kernel(op, ctx):
    def get_item(lst, index, element_shape):
        return lst.elements[int(index)]
    return get_item


register_op("TensorListGetItem",
            infer=lambda op: [(op._attrs["element_dtype"], TensorShape(None))],
            kernel=_get_item_kernel, attrs={"element_dtype": ("type", REQUIRED)})


def tensor_list_get_item(input_handle, index, element_dtype, element_shape=None, name=None):
    from tensorslow.ops import constant_op

    shape = constant_op.constant(-1, dtypes.int32)
    return make_op("TensorListGetItem", [input_handle, index, shape],
                   {"element_dtype": element_dtype}, name=name)._outputs[0]

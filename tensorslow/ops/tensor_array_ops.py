"""TensorArray: a list of tensors written and read by index, as TensorFlow 2 builds it in
graphs, on a TensorList. Its `flow` is the list value; every write returns a new TensorArray
whose flow is the new list, so a TensorArray passes through `while_loop` as a loop variable
(the loop carries its flow) and its reads and writes have gradients (the TensorList ops').
"""

from __future__ import annotations

from tensorslow.framework import dtypes
from tensorslow.framework.ops import Tensor, convert_to_tensor, name_scope
from tensorslow.framework.tensor_shape import TensorShape, as_shape
from tensorslow.ops import list_ops


class TensorArray:
    """tf.TensorArray: `size` elements of `dtype` (grown on writes past the end when
    `dynamic_size`), of `element_shape` (learned from the first write when `infer_shape`)."""

    def __init__(self, dtype, size=None, dynamic_size=None, clear_after_read=None,
                 tensor_array_name=None, handle=None, flow=None, infer_shape=True,
                 element_shape=None, colocate_with_first_write_call=True, name=None):
        if handle is not None:
            raise ValueError("TensorArray is built on a TensorList here: pass its flow, not "
                             "a handle")
        self._dtype = dtypes.as_dtype(dtype).base_dtype
        self._dynamic_size = bool(dynamic_size)
        self._infer_shape = infer_shape
        self._element_shape = as_shape(element_shape) if element_shape is not None \
            else TensorShape(None)
        if flow is not None:
            if not isinstance(flow, Tensor) or flow._dtype != dtypes.variant:
                raise TypeError(f"A TensorArray's flow must be a variant tensor, got {flow!r}")
            self._flow = flow
            self._element_shape = self._element_shape.merge_with(
                list_ops.known_element_shape(flow))
            return
        if size is None:
            raise ValueError("Size must be provided if handle or flow is not provided.")
        with name_scope(name or tensor_array_name or "TensorArrayV2"):
            self._flow = list_ops.tensor_list_reserve(self._element_shape, size, self._dtype)

    # -- properties ---------------------------------------------------------------------------

    @property
    def flow(self) -> Tensor:
        return self._flow

    @property
    def handle(self) -> Tensor:
        return self._flow

    @property
    def dtype(self):
        return self._dtype

    @property
    def dynamic_size(self) -> bool:
        return self._dynamic_size

    @property
    def element_shape(self) -> TensorShape:
        return self._element_shape

    def _with_flow(self, flow: Tensor) -> TensorArray:
        ta = TensorArray.__new__(TensorArray)
        ta._dtype, ta._dynamic_size = self._dtype, self._dynamic_size
        ta._infer_shape, ta._element_shape = self._infer_shape, self._element_shape
        ta._flow = flow
        return ta

    def _learn_shape(self, shape: TensorShape) -> None:
        if not self._infer_shape:
            return
        if not self._element_shape.is_compatible_with(shape):
            raise ValueError(f"Inconsistent shapes: saw {shape} but expected "
                             f"{self._element_shape} (and infer_shape=True)")
        self._element_shape = self._element_shape.merge_with(shape)

    def _value(self, value, what: str) -> Tensor:
        value = convert_to_tensor(value, dtype=self._dtype)
        if value._dtype != self._dtype:
            raise TypeError(f"TensorArray dtype is {self._dtype.name} but op has dtype "
                            f"{value._dtype.name}; {what}")
        return value

    # -- reads --------------------------------------------------------------------------------

    def read(self, index, name=None) -> Tensor:
        value = list_ops.tensor_list_get_item(self._flow, index, self._dtype,
                                              element_shape=self._element_shape, name=name)
        value.set_shape(self._element_shape)
        return value

    def stack(self, name=None) -> Tensor:
        with name_scope(name or "TensorArrayV2Stack"):
            value = list_ops.tensor_list_stack(self._flow, self._dtype,
                                               element_shape=self._element_shape)
        if self._element_shape.ndims is not None:
            value.set_shape(TensorShape([None]).concatenate(self._element_shape))
        return value

    def gather(self, indices, name=None) -> Tensor:
        value = list_ops.tensor_list_gather(self._flow, indices, self._dtype,
                                            element_shape=self._element_shape, name=name)
        if self._element_shape.ndims is not None:
            value.set_shape(TensorShape([None]).concatenate(self._element_shape))
        return value

    def concat(self, name=None) -> Tensor:
        shape = self._element_shape
        rest = TensorShape(None) if shape.ndims is None else \
            TensorShape([None]).concatenate(shape[1:])
        return list_ops.tensor_list_concat(self._flow, self._dtype, element_shape=rest,
                                           name=name)

    def size(self, name=None) -> Tensor:
        return list_ops.tensor_list_length(self._flow, name=name)

    # -- writes (each returns the new TensorArray) --------------------------------------------

    def write(self, index, value, name=None) -> TensorArray:
        value = self._value(value, "write")
        self._learn_shape(value._shape)
        flow = list_ops.tensor_list_set_item(
            self._flow, index, value, resize_if_index_out_of_bounds=self._dynamic_size,
            name=name)
        return self._with_flow(flow)

    def unstack(self, value, name=None) -> TensorArray:
        value = self._value(value, "unstack")
        if value._shape.ndims is not None and value._shape.ndims > 0:
            self._learn_shape(value._shape[1:])
        with name_scope(name or "TensorArrayUnstack"):
            flow = list_ops.tensor_list_from_tensor(value, self._element_shape)
        return self._with_flow(flow)

    def scatter(self, indices, value, name=None) -> TensorArray:
        value = self._value(value, "scatter")
        if value._shape.ndims is not None and value._shape.ndims > 0:
            self._learn_shape(value._shape[1:])
        flow = list_ops.tensor_list_scatter(value, indices, input_handle=self._flow, name=name)
        return self._with_flow(flow)

    def split(self, value, lengths, name=None) -> TensorArray:
        value = self._value(value, "split")
        shape = self._element_shape if self._element_shape.ndims is not None else (
            TensorShape([None]).concatenate(value._shape[1:]) if value._shape.ndims
            else TensorShape(None))
        flow = list_ops.tensor_list_split(value, shape, lengths, name=name)
        return self._with_flow(flow)

    def identity(self) -> TensorArray:
        from tensorslow.ops import array_ops

        return self._with_flow(array_ops.identity(self._flow))

    def close(self, name=None):
        from tensorslow.ops import control_flow_ops

        return control_flow_ops.no_op(name=name)

    def __repr__(self) -> str:
        return f"<TensorArray dtype={self._dtype.name} element_shape={self._element_shape}>"

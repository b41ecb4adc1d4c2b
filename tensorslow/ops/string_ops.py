"""String ops: `ts.strings.join`, `ts.strings.regex_full_match`, `ts.string_join`.

Enough of TF's string ops for the graphs TF1's Saver writes (a sharded save builds its
temporary file names with StringJoin, and tests them with StaticRegexFullMatch), with the same
op types, attrs and broadcasting as TensorFlow. String tensors hold bytes; str values are
encoded as UTF-8.

Patterns are Python regular expressions: for the RE2 subset TF's graphs use (literals,
classes, anchors, repetition) they match the same strings. A pattern that does not compile is
an InvalidArgumentError naming it.
"""

from __future__ import annotations

import re
from functools import reduce

import numpy as np

from tensorslow.framework import dtypes, errors
from tensorslow.framework.ops import NotDifferentiable, make_op, register_op
from tensorslow.framework.tensor_shape import TensorShape, broadcast_shapes


def _as_bytes(value) -> bytes:
    return value.encode() if isinstance(value, str) else bytes(value)


def _join_infer(op):
    shapes = [t._shape for t in op._inputs]
    shape = reduce(broadcast_shapes, shapes) if shapes else TensorShape([])
    return [(dtypes.string, shape)]


def _join_kernel(op, ctx):
    separator = _as_bytes(op._attrs["separator"])
    join = np.frompyfunc(lambda *parts: separator.join(map(_as_bytes, parts)), len(op._inputs),
                         1)

    def string_join(*inputs):
        arrays = [np.asarray(x, dtype=object) for x in inputs]
        try:
            shape = np.broadcast_shapes(*(a.shape for a in arrays))
        except ValueError:
            raise errors.InvalidArgumentError(
                None, op, "StringJoin: inputs must be scalars or of one shape, got shapes "
                + ", ".join(str(list(a.shape)) for a in arrays)) from None
        if len(arrays) == 1:
            return np.vectorize(_as_bytes, otypes=[object])(arrays[0])
        return np.asarray(join(*arrays), dtype=object).reshape(shape)
    return string_join


register_op("StringJoin", infer=_join_infer, kernel=_join_kernel,
            attrs={"N": ("int", None), "separator": ("string", "")})
NotDifferentiable("StringJoin")


def _compile(pattern, op) -> re.Pattern:
    text = pattern.decode() if isinstance(pattern, bytes) else str(pattern)
    try:
        return re.compile(text.encode(), re.DOTALL)
    except re.error as e:
        raise errors.InvalidArgumentError(None, op, f"Invalid pattern: {text!r}: {e}") from None


def _match_infer(op):
    return [(dtypes.bool, op._inputs[0]._shape)]


def _static_match_kernel(op, ctx):
    regex = _compile(op._attrs["pattern"], op)
    match = np.frompyfunc(lambda s: regex.fullmatch(_as_bytes(s)) is not None, 1, 1)

    def static_regex_full_match(values):
        return np.asarray(match(np.asarray(values, dtype=object)), dtype=bool)
    return static_regex_full_match


def _match_kernel(op, ctx):
    def regex_full_match(values, pattern):
        regex = _compile(np.asarray(pattern).item(), op)
        return np.asarray(np.frompyfunc(lambda s: regex.fullmatch(_as_bytes(s)) is not None,
                                        1, 1)(np.asarray(values, dtype=object)), dtype=bool)
    return regex_full_match


register_op("StaticRegexFullMatch", infer=_match_infer, kernel=_static_match_kernel,
            attrs={"pattern": ("string", None)})
register_op("RegexFullMatch", infer=_match_infer, kernel=_match_kernel)
NotDifferentiable("StaticRegexFullMatch")
NotDifferentiable("RegexFullMatch")


def string_join(inputs, separator="", name=None):
    """Joins the strings of `inputs` element by element (scalars broadcast)."""
    inputs = list(inputs)
    return make_op("StringJoin", inputs, {"N": len(inputs), "separator": separator},
                   name=name)._outputs[0]


def regex_full_match(input, pattern, name=None):  # noqa: A002 - TF's argument name
    """True where the whole string matches `pattern`."""
    if isinstance(pattern, (str, bytes)):
        return make_op("StaticRegexFullMatch", [input], {"pattern": pattern},
                       name=name)._outputs[0]
    return make_op("RegexFullMatch", [input, pattern], name=name)._outputs[0]


class _Strings:
    """`ts.strings`."""

    join = staticmethod(string_join)
    regex_full_match = staticmethod(regex_full_match)


strings = _Strings()

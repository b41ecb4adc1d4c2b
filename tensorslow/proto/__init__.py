"""TensorFlow and TensorFlow Serving protobuf messages, without TensorFlow.

    from tensorslow import proto
    graph = proto.GraphDef()                      # tensorflow.GraphDef
    proto.DataType.Value("DT_FLOAT")              # 1
    proto.RunOptions.FULL_TRACE                   # 3
    request = proto.serving.PredictRequest()      # tensorflow.serving.PredictRequest
    proto.message_class("tensorflow.serving.ModelSpec")

The messages are TensorFlow's (same packages, names and field numbers), so bytes on the wire are
identical both ways. Their descriptors are compiled from `protos/` into `_descriptors.binpb`
(`python -m tensorslow.proto.build`, or `make protos`) and loaded into a private
DescriptorPool, never protobuf's default pool: real TensorFlow, or TF Serving's client package,
can be imported in the same process without "duplicate symbol" clashes. No `_pb2` modules
exist. One consequence: well-known types used inside these messages (google.protobuf.Any,
Int64Value, ...) are classes of the private pool too, so set them field by field
(`spec.version.value = 3`) or from a dict (`ModelSpec(version={"value": 3})`), not from
`wrappers_pb2` instances. Text format and JSON that expand Any need the private pool:
`parse_text` here passes it; pass `descriptor_pool=pool` to `json_format` yourself.

Importing this module is cheap: the descriptors are read on first use, under a lock, and built
first when `_descriptors.binpb` is missing or older than a `.proto` under `protos/`; when that
cannot be done, first use raises ImportError saying to run `make protos`. All message classes
are made at that point and pickle by full name, so messages can cross process boundaries (Ray).
This module never imports grpc.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from google.protobuf.descriptor import Descriptor, ServiceDescriptor
    from google.protobuf.descriptor_pool import DescriptorPool
    from google.protobuf.internal.enum_type_wrapper import EnumTypeWrapper
    from google.protobuf.message import Message

__all__ = [
    "enum_wrapper",
    "load",
    "lookup",
    "message_class",
    "names_in_package",
    "parse_text",
    "pool",
    "service_descriptor",
    "service_methods",
    "serving",
]

_DESCRIPTOR_SET = Path(__file__).resolve().with_name("_descriptors.binpb")
_PROTO_ROOT = Path(__file__).resolve().parents[2] / "protos"

# Packages whose top-level names are attributes of a module here (used for class __module__).
_PACKAGE_MODULES = {"tensorflow": __name__, "tensorflow.serving": f"{__name__}.serving"}

_lock = threading.Lock()
_pool: DescriptorPool | None = None  # set, complete, by load(); read as `pool`
_message_classes: dict[str, type[Message]] = {}
_enum_wrappers: dict[str, EnumTypeWrapper] = {}
_top_level_names: dict[str, set[str]] = {}


def load() -> DescriptorPool:
    """Returns the private pool (also `tensorslow.proto.pool`), filling it on the first call.

    The first call reads `_descriptors.binpb` (building it first if missing or stale) and makes
    every message class. Thread-safe; every other function here calls it. Raises ImportError
    when the descriptor set is missing or stale and cannot be built.
    """
    global _pool
    if _pool is not None:
        return _pool
    with _lock:
        if _pool is not None:
            return _pool
        from google.protobuf import descriptor_pb2, descriptor_pool

        pool = descriptor_pool.DescriptorPool()
        descriptor_set = descriptor_pb2.FileDescriptorSet.FromString(_descriptor_set_bytes())
        for file_proto in descriptor_set.file:
            pool.Add(file_proto)
        for file_proto in descriptor_set.file:
            names = _top_level_names.setdefault(file_proto.package, set())
            names.update(m.name for m in file_proto.message_type)
            names.update(e.name for e in file_proto.enum_type)
            file_descriptor = pool.FindFileByName(file_proto.name)
            for descriptor in file_descriptor.message_types_by_name.values():
                _make_classes(descriptor, file_proto.package)
        _pool = pool
    return pool


def _descriptor_set_bytes() -> bytes:
    if _needs_build():
        # Imported by module name: `from tensorslow.proto import build` would look the name
        # up through this module's __getattr__ first, which waits on the lock held here.
        import tensorslow.proto.build as build

        try:
            build.build(_DESCRIPTOR_SET)
        except (build.ProtoBuildError, OSError) as e:
            raise ImportError(
                f"tensorslow.proto: {_DESCRIPTOR_SET.name} is missing or older than protos/ and "
                f"could not be built ({e}). Run `make protos`."
            ) from e
    return _DESCRIPTOR_SET.read_bytes()


def _needs_build() -> bool:
    """True when the descriptor set is missing, or older than a .proto under protos/.

    An installed package without protos/ uses the descriptor set it ships as is.
    """
    if not _DESCRIPTOR_SET.exists():
        return True
    if not _PROTO_ROOT.is_dir():
        return False
    built = _DESCRIPTOR_SET.stat().st_mtime_ns
    return any(path.stat().st_mtime_ns > built for path in _PROTO_ROOT.rglob("*.proto"))


def _make_classes(descriptor: Descriptor, package: str) -> None:
    """Makes the class of a message type and of its nested types, named for repr and pickle."""
    from google.protobuf import message_factory

    cls = message_factory.GetMessageClass(descriptor)
    if package in _PACKAGE_MODULES:
        cls.__module__ = _PACKAGE_MODULES[package]
        cls.__qualname__ = descriptor.full_name[len(package) + 1 :]
    else:
        cls.__module__ = __name__
        cls.__qualname__ = descriptor.full_name
    cls.__reduce__ = _reduce_message
    _message_classes[descriptor.full_name] = cls
    for nested in descriptor.nested_types:
        _make_classes(nested, package)


def _reduce_message(message: Message) -> tuple:
    return _rebuild_message, (message.DESCRIPTOR.full_name, message.SerializePartialToString())


def _rebuild_message(full_name: str, data: bytes) -> Message:
    """Unpickles a message: its class by full name, parsed from its serialized bytes."""
    message = message_class(full_name)()
    message.ParseFromString(data)
    return message


def message_class(full_name: str) -> type[Message]:
    """The message class for a full name such as "tensorflow.GraphDef". KeyError if unknown.

    One class per message type, so `message_class(n) is message_class(n)`.
    """
    load()
    try:
        return _message_classes[full_name]
    except KeyError:
        raise KeyError(f"no message type {full_name!r} in tensorslow.proto") from None


def enum_wrapper(full_name: str) -> EnumTypeWrapper:
    """The enum for a full name such as "tensorflow.DataType", with Name()/Value()/items().

    KeyError if unknown.
    """
    wrapper = _enum_wrappers.get(full_name)
    if wrapper is None:
        from google.protobuf.internal.enum_type_wrapper import EnumTypeWrapper

        wrapper = EnumTypeWrapper(load().FindEnumTypeByName(full_name))
        wrapper = _enum_wrappers.setdefault(full_name, wrapper)
    return wrapper


def service_descriptor(full_name: str) -> ServiceDescriptor:
    """The ServiceDescriptor for a full name such as "tensorflow.serving.PredictionService".

    KeyError if unknown.
    """
    return load().FindServiceByName(full_name)


def service_methods(full_name: str) -> list[tuple[str, type[Message], type[Message]]]:
    """(method name, request class, response class) for each method of a service, in order.

    With these, gRPC handlers and stubs are built generically: the path of a method is
    f"/{full_name}/{method_name}".
    """
    return [
        (
            method.name,
            message_class(method.input_type.full_name),
            message_class(method.output_type.full_name),
        )
        for method in service_descriptor(full_name).methods
    ]


def parse_text(text: str | bytes, message: Message | type[Message] | str) -> Message:
    """Parses protobuf text format into a message and returns it.

    `message` is a message (cleared first), a message class, or a full name. Any fields written
    in expanded form (`[type.googleapis.com/...] {...}`) resolve against the private pool.
    Raises google.protobuf.text_format.ParseError naming the line and column.
    """
    from google.protobuf import text_format

    if isinstance(message, str):
        message = message_class(message)()
    elif isinstance(message, type):
        message = message()
    return text_format.Parse(text, message, descriptor_pool=load())


def lookup(package: str, name: str) -> Any:
    """The message class or enum wrapper `package.name`, or None when there is none."""
    full_name = f"{package}.{name}"
    try:
        return message_class(full_name)
    except KeyError:
        pass
    try:
        return enum_wrapper(full_name)
    except KeyError:
        return None


def names_in_package(package: str) -> list[str]:
    """Short names of the top-level messages and enums of a package, such as "tensorflow"."""
    load()
    return sorted(_top_level_names.get(package, ()))


def __getattr__(name: str) -> Any:
    """`pool`, `serving`, and the messages and enums of package `tensorflow` by short name:
    `tensorslow.proto.GraphDef`, `tensorslow.proto.DataType`, ..."""
    if name == "pool":
        return load()
    if name == "serving":
        import importlib

        return importlib.import_module(f"{__name__}.serving")
    found = None if name.startswith("_") else lookup("tensorflow", name)
    if found is None:
        raise AttributeError(
            f"module {__name__!r} has no attribute {name!r}: no message or enum tensorflow.{name}"
        )
    globals()[name] = found
    return found


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__) | set(names_in_package("tensorflow")))

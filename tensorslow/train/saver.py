"""Checkpoints: TF1's `Saver`, `latest_checkpoint`, `get_checkpoint_state`, and the file format.

File names are TensorFlow's. A checkpoint with prefix P (e.g. "run/model.ckpt-7") is

    P.index                      what the checkpoint holds and where
    P.data-00000-of-00001        the tensors' bytes
    P.meta                       the MetaGraphDef (written by `Saver._write_meta_graph`)

and the text file `checkpoint` in the directory names the latest checkpoint and the ones kept,
in TensorFlow's text format, with paths relative to the directory when they lie inside it:

    model_checkpoint_path: "model.ckpt-7"
    all_model_checkpoint_paths: "model.ckpt-6"
    all_model_checkpoint_paths: "model.ckpt-7"

The index and data files are TensorFlow's TensorBundle (SaverDef.V2; the format is described
in tensorslow/train/tensor_bundle.py), byte for byte what TensorFlow writes for the same
tensors: TensorFlow restores these checkpoints, and this library restores TensorFlow's
(sharded ones included; partitioned variables, saved in slices, are not supported). Reading
one never runs code from it.

Checkpoints written by this library's first versions are still read. Their index is a UTF-8
JSON object

    {"format": "tensorslow-checkpoint", "version": 1,
     "data_file": "model.ckpt-7.data-00000-of-00001", "data_length": 40,
     "tensors": [{"name": "dense/kernel", "dtype": "float32", "shape": [2, 3],
                  "offset": 0, "length": 24, "crc32": 2893407116}, ...]}

(offset and length locate a tensor's bytes in the data file, crc32 is zlib's CRC-32 of them,
data_length is the data file's size); a numeric tensor is its elements in C order,
little-endian, a string tensor per element its byte length as a little-endian uint64 then
the bytes.

Writes are atomic: both files are written to temporary names in the same directory and
fsynced, then the data file is renamed into place, then the index (which makes the
checkpoint exist), then `checkpoint` is rewritten the same way. A crash at any point leaves
the previous checkpoint, and the `checkpoint` file naming it, intact. (Overwriting a checkpoint
under the same prefix is the exception: a crash between the two renames leaves that prefix
with mismatched files, which reading reports as data loss.)

Reading validates everything: a missing file is a NotFoundError naming it; a truncated or
corrupt file (length or checksum mismatch, bad table or JSON, unknown dtype) is a
DataLossError naming the file and the tensor; a variable absent from the checkpoint is a
NotFoundError naming it; a shape or dtype that does not match the variable is an
InvalidArgumentError.

The Saver builds TF1's save/restore ops into the graph ("save/Const" takes the file name,
"save/control_dependency" saves, "save/restore_all" restores; SaveV2 and RestoreV2 do the
file work in their kernels), so it works through any session and its SaverDef is TF's.
"""

from __future__ import annotations

import json
import logging
import os
import re
import tempfile
import time
import zlib
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from tensorslow.framework import dtypes, errors
from tensorslow.framework.ops import (
    REQUIRED,
    NotDifferentiable,
    Tensor,
    get_collection,
    get_default_graph,
    make_op,
    name_scope,
    register_op,
)
from tensorslow.framework.tensor_shape import TensorShape
from tensorslow.ops import array_ops, constant_op, control_flow_ops
from tensorslow.ops.resource_variable_ops import ResourceVariable
from tensorslow.ops.variables import Variable, assign, global_variables
from tensorslow.train import tensor_bundle

_log = logging.getLogger("tensorslow")

FORMAT = "tensorslow-checkpoint"
FORMAT_VERSION = 1
DATA_SUFFIX = ".data-00000-of-00001"
INDEX_SUFFIX = ".index"
_LENGTH = np.dtype("<u8")


# --------------------------------------------------------------------------------------------
# Encoding tensors
# --------------------------------------------------------------------------------------------


def _decode(data: bytes, dtype: dtypes.DType, shape: list[int], where: str,
            writable: bool = True) -> np.ndarray:
    count = int(np.prod(shape, dtype=np.int64))
    if dtype == dtypes.string:
        out = np.empty(count, dtype=object)
        pos = 0
        for i in range(count):
            if pos + 8 > len(data):
                raise errors.DataLossError(None, None, f"{where}: string data is truncated")
            n = int(np.frombuffer(data, dtype=_LENGTH, count=1, offset=pos)[0])
            pos += 8
            if pos + n > len(data):
                raise errors.DataLossError(None, None, f"{where}: string data is truncated")
            out[i] = data[pos:pos + n]
            pos += n
        if pos != len(data):
            raise errors.DataLossError(None, None, f"{where}: string data has {len(data) - pos}"
                                       " unexpected trailing bytes")
        return out.reshape(shape)
    np_dtype = np.dtype(dtype.as_numpy_dtype)
    if len(data) != count * np_dtype.itemsize:
        raise errors.DataLossError(None, None, f"{where}: {len(data)} bytes cannot hold "
                                   f"{count} {dtype.name} values")
    little = np_dtype.newbyteorder("<")
    return np.frombuffer(data, dtype=little).astype(np_dtype, copy=writable).reshape(shape)


def _dtype_named(name, where: str) -> dtypes.DType:
    try:
        dtype = dtypes.as_dtype(name) if isinstance(name, str) else None
    except TypeError:
        dtype = None
    if dtype is None or dtype.name != name:
        raise errors.DataLossError(None, None, f"{where}: unknown dtype {name!r}")
    return dtype


# --------------------------------------------------------------------------------------------
# Writing and reading checkpoint files
# --------------------------------------------------------------------------------------------


def _fsync_dir(path: str) -> None:
    try:
        fd = os.open(path or ".", os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _write_temp(directory: str, base: str, data) -> str:
    """`data` (bytes, or a list of buffers) in a new fsynced temporary file in `directory`."""
    fd, path = tempfile.mkstemp(prefix=f".{base}.", suffix=".tmp", dir=directory or ".")
    try:
        with os.fdopen(fd, "wb") as f:
            for part in data if isinstance(data, list) else [data]:
                f.write(part)
            f.flush()
            os.fsync(f.fileno())
    except BaseException:
        _remove_quietly(path)
        raise
    return path


def _remove_quietly(path: str) -> None:
    try:
        os.remove(path)
    except OSError:
        pass


def _atomic_write(path: str, data: bytes) -> None:
    """Writes `path` as a whole or not at all (temp file, fsync, rename, fsync directory)."""
    directory = os.path.dirname(path)
    tmp = _write_temp(directory, os.path.basename(path), data)
    try:
        os.replace(tmp, path)
    except BaseException:
        _remove_quietly(tmp)
        raise
    _fsync_dir(directory)


def _as_stored(value) -> tuple[np.ndarray, dtypes.DType]:
    value = np.asarray(value)
    if value.dtype.kind in "US":
        value = value.astype(object)
    return value, dtypes.as_dtype(value.dtype)


def write_variables(prefix: str, values: dict) -> None:
    """Writes `values` (name -> array) as the checkpoint `prefix` (a TensorBundle),
    atomically."""
    prefix = os.fspath(prefix)
    directory, base = os.path.split(prefix)
    if directory and not os.path.isdir(directory):
        raise errors.NotFoundError(None, None, f"Parent directory of {prefix} doesn't exist, "
                                   "can't save.")
    tensors = [(name, *_as_stored(values[name])) for name in sorted(values)]
    index_bytes, data_parts = tensor_bundle.encode_bundle_parts(tensors)
    _write_files(prefix, data_parts, index_bytes)


def _write_files(prefix: str, data_bytes, index_bytes: bytes) -> None:
    """Writes the data file (bytes, or a list of buffers written in turn) and then the index,
    each through a temporary file, fsynced, renamed in place."""
    directory, base = os.path.split(prefix)
    data_tmp = _write_temp(directory, base + DATA_SUFFIX, data_bytes)
    try:
        index_tmp = _write_temp(directory, base + INDEX_SUFFIX, index_bytes)
    except BaseException:
        _remove_quietly(data_tmp)
        raise
    try:
        os.replace(data_tmp, prefix + DATA_SUFFIX)
        # The index goes last: until it is in place, this checkpoint does not exist.
        os.replace(index_tmp, prefix + INDEX_SUFFIX)
    finally:
        _remove_quietly(data_tmp)
        _remove_quietly(index_tmp)
    _fsync_dir(directory)


@dataclass(frozen=True)
class _Entry:
    """A tensor in a checkpoint of this library's first format (JSON index)."""

    name: str
    dtype: dtypes.DType
    shape: list
    data_path: str
    offset: int
    size: int
    crc32: int


@dataclass(frozen=True)
class CheckpointIndex:
    """A checkpoint's validated index: its tensors by name (TensorBundle entries, or _Entry
    for the first format), and for the first format the data file's expected length."""

    prefix: str
    entries: dict
    data_lengths: dict = field(default_factory=dict)

    def shape_of(self, name: str) -> list:
        return list(self.entries[name].shape)

    def dtype_of(self, name: str) -> dtypes.DType | None:
        """The stored dtype; None for a DataType this library has no dtype for."""
        return self.entries[name].dtype


def read_index(prefix: str) -> CheckpointIndex:
    """Reads and validates `prefix.index`; NotFoundError / DataLossError when it cannot."""
    prefix = os.fspath(prefix)
    path = prefix + INDEX_SUFFIX
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except FileNotFoundError:
        raise errors.NotFoundError(None, None, f"Checkpoint index file not found: {path} "
                                   f"(no checkpoint with prefix {prefix})") from None
    except OSError as e:
        raise errors.UnknownError(None, None, f"Cannot read {path}: {e}") from None
    if raw.startswith(b"{"):
        return _read_json_index(prefix, path, raw)
    return CheckpointIndex(prefix, tensor_bundle.read_bundle_index(prefix, raw, path))


def _read_json_index(prefix: str, path: str, raw: bytes) -> CheckpointIndex:
    try:
        index = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise errors.DataLossError(None, None, f"{path}: corrupt checkpoint index (not valid "
                                   f"JSON: {e})") from None
    if not isinstance(index, dict) or index.get("format") != FORMAT:
        raise errors.DataLossError(None, None, f"{path}: not a tensorslow checkpoint index")
    if index.get("version") != FORMAT_VERSION:
        raise errors.DataLossError(None, None, f"{path}: unsupported checkpoint format version "
                                   f"{index.get('version')!r} (this library reads version "
                                   f"{FORMAT_VERSION})")
    data_file = index.get("data_file")
    data_length = index.get("data_length")
    tensors = index.get("tensors")
    if (not isinstance(data_file, str) or os.path.basename(data_file) != data_file
            or not _is_count(data_length) or not isinstance(tensors, list)):
        raise errors.DataLossError(None, None, f"{path}: corrupt checkpoint index (bad "
                                   "data_file, data_length or tensors)")
    data_path = os.path.join(os.path.dirname(prefix), data_file)
    entries = {}
    for item in tensors:
        name = item.get("name") if isinstance(item, dict) else None
        if not isinstance(name, str):
            raise errors.DataLossError(None, None, f"{path}: corrupt checkpoint index (a "
                                       "tensor without a name)")
        where = f"{path}, tensor '{name}'"
        dtype = _dtype_named(item.get("dtype"), where)
        shape, offset, length, crc = (item.get(k) for k in ("shape", "offset", "length",
                                                            "crc32"))
        if (not isinstance(shape, list) or not all(_is_count(d) for d in shape)
                or not _is_count(offset) or not _is_count(length) or not _is_count(crc)
                or offset + length > data_length):
            raise errors.DataLossError(None, None, f"{where}: corrupt entry (shape, offset, "
                                       "length or crc32)")
        if name in entries:
            raise errors.DataLossError(None, None, f"{where}: listed twice")
        entries[name] = _Entry(name, dtype, shape, data_path, offset, length, crc)
    return CheckpointIndex(prefix, entries, {data_path: data_length})


def _is_count(x) -> bool:
    return isinstance(x, int) and not isinstance(x, bool) and x >= 0


def read_tensors(index: CheckpointIndex, names, writable: bool = True) -> dict:
    """The named tensors of a checkpoint, each checked against its size and checksum. With
    writable=False the arrays may be read-only views of the bytes read (no copy)."""
    missing = [n for n in names if n not in index.entries]
    if missing:
        raise errors.NotFoundError(None, None, f"Key {missing[0]} not found in checkpoint "
                                   f"{index.prefix}")
    by_file: dict[str, list[str]] = {}
    for name in names:
        by_file.setdefault(index.entries[name].data_path, []).append(name)
    out = {}
    for path, in_file in by_file.items():
        if not path:  # a tensor saved in slices: decode_tensor says why it cannot be read
            entry = index.entries[in_file[0]]
            tensor_bundle.decode_tensor(b"", entry, f"{index.prefix}, tensor '{entry.name}'")
        out.update(_read_from(index, path, in_file, writable))
    return {name: out[name] for name in names}


def _read_from(index: CheckpointIndex, path: str, names: list[str], writable: bool) -> dict:
    try:
        f = open(path, "rb")  # noqa: SIM115 - closed below
    except FileNotFoundError:
        raise errors.NotFoundError(None, None, f"Checkpoint data file not found: {path}"
                                   ) from None
    except OSError as e:
        raise errors.UnknownError(None, None, f"Cannot read {path}: {e}") from None
    out = {}
    with f:
        size = os.fstat(f.fileno()).st_size
        expected = index.data_lengths.get(path)
        if expected is not None and size != expected:
            raise errors.DataLossError(None, None, f"{path}: the data file is {size} bytes, the "
                                       f"index says {expected} (truncated or corrupt)")
        with _ChecksumThread() as checksums:
            read = []
            for name in sorted(names, key=lambda n: index.entries[n].offset):
                entry = index.entries[name]
                where = f"{path}, tensor '{name}'"
                f.seek(entry.offset)
                data = f.read(entry.size)
                if len(data) != entry.size:
                    raise errors.DataLossError(None, None, f"{where}: truncated")
                crc = None
                if type(entry) is not _Entry and entry.dtype != dtypes.string:
                    crc = checksums.submit(data)  # computed while the next tensor is read
                read.append((name, entry, where, data, crc))
            for name, entry, where, data, crc in read:
                if type(entry) is _Entry:
                    if zlib.crc32(data) != entry.crc32:
                        raise errors.DataLossError(None, None, f"{where}: checksum mismatch "
                                                   "(the data is corrupt)")
                    out[name] = _decode(data, entry.dtype, entry.shape, where, writable)
                else:
                    out[name] = tensor_bundle.decode_tensor(
                        data, entry, where, writable, None if crc is None else crc.result())
    return out


class _ChecksumThread:
    """CRC-32C of large tensors on a thread of its own, so that checking one overlaps with
    reading the next (both release the GIL); small ones are checked where they are read."""

    LARGE = 1 << 20

    def __init__(self):
        self._pool = None

    def submit(self, data: bytes) -> Future:
        if len(data) < self.LARGE:
            done = Future()
            done.set_result(tensor_bundle.crc32c(data))
            return done
        if self._pool is None:
            self._pool = ThreadPoolExecutor(1, thread_name_prefix="checkpoint-crc")
        return self._pool.submit(tensor_bundle.crc32c, data)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self._pool is not None:
            self._pool.shutdown(wait=True)


def read_variables(prefix: str) -> dict:
    """Every tensor of the checkpoint `prefix`, by name (validated as read_index/read_tensors
    do)."""
    index = read_index(prefix)
    return read_tensors(index, list(index.entries))


# --------------------------------------------------------------------------------------------
# SaveV2 / RestoreV2
# --------------------------------------------------------------------------------------------


def _text(value) -> str:
    value = np.asarray(value)
    item = value.item() if value.ndim == 0 else value
    if isinstance(item, bytes):
        return item.decode()
    if isinstance(item, str):
        return item
    raise errors.InvalidArgumentError(None, None, f"Expected a scalar string, got {value!r}")


def _names(value) -> list[str]:
    return [x.decode() if isinstance(x, bytes) else str(x)
            for x in np.asarray(value, dtype=object).reshape(-1)]


def _os_error(e: OSError, what: str) -> errors.OpError:
    if isinstance(e, FileNotFoundError):
        return errors.NotFoundError(None, None, f"{what}: {e}")
    if isinstance(e, PermissionError):
        return errors.PermissionDeniedError(None, None, f"{what}: {e}")
    return errors.UnknownError(None, None, f"{what}: {e}")


def _save_kernel(op, ctx):
    def save(prefix, tensor_names, shape_and_slices, *tensors):
        prefix, names = _text(prefix), _names(tensor_names)
        if len(names) != len(tensors):
            raise errors.InvalidArgumentError(None, op, f"Got {len(names)} tensor names for "
                                              f"{len(tensors)} tensors")
        try:
            write_variables(prefix, dict(zip(names, tensors, strict=True)))
        except OSError as e:
            raise _os_error(e, f"Failed to write checkpoint {prefix}") from e
    return save


def _stored_dtype_name(index: CheckpointIndex, name: str) -> str:
    dtype = index.dtype_of(name)
    return dtype.name if dtype is not None else f"DataType {index.entries[name].datatype}"


def _restore_kernel(op, ctx):
    wanted = list(op._attrs["dtypes"])

    def restore(prefix, tensor_names, shape_and_slices):
        prefix, names = _text(prefix), _names(tensor_names)
        sliced = [(n, s) for n, s in zip(names, _names(shape_and_slices), strict=False) if s]
        if sliced:
            raise errors.UnimplementedError(
                None, op, f"Restoring a slice ({sliced[0][1]!r}) of '{sliced[0][0]}': "
                "partitioned variables are not supported")
        index = read_index(prefix)
        for name, dtype in zip(names, wanted, strict=True):
            if name in index.entries and index.dtype_of(name) != dtype:
                raise errors.InvalidArgumentError(
                    None, op, f"tensor_name = {name}; expected dtype {dtype.name} does not "
                    f"equal original dtype {_stored_dtype_name(index, name)} (checkpoint "
                    f"{prefix})")
        try:
            # Read-only views of the bytes read: the variables they are assigned to keep
            # them as they are, so restoring copies each tensor once, from the file.
            values = read_tensors(index, names, writable=False)
        except OSError as e:
            raise _os_error(e, f"Failed to read checkpoint {prefix}") from e
        out = tuple(values[n] for n in names)
        return out[0] if len(out) == 1 else out  # a one-output kernel returns the value
    return restore


register_op("SaveV2", infer=lambda op: [], kernel=_save_kernel, stateful=True,
            attrs={"dtypes": ("list(type)", REQUIRED)})
register_op("RestoreV2",
            infer=lambda op: [(dt, TensorShape(None)) for dt in op._attrs["dtypes"]],
            kernel=_restore_kernel, stateful=True, attrs={"dtypes": ("list(type)", REQUIRED)})
NotDifferentiable("SaveV2")
NotDifferentiable("RestoreV2")


# The ops of a sharded save (TF1's Saver(sharded=True), which SavedModel builders use): each
# shard is saved to ShardedFilename(temporary prefix, i, n), then MergeV2Checkpoints merges
# them into the checkpoint's prefix.
def _sharded_filename_kernel(op, ctx):
    def sharded_filename(basename, shard, num_shards):
        return np.asarray(f"{_text(basename)}-{int(shard):05d}-of-{int(num_shards):05d}"
                          .encode(), dtype=object)
    return sharded_filename


def _sharded_filespec_kernel(op, ctx):
    def sharded_filespec(basename, num_shards):
        return np.asarray(f"{_text(basename)}-?????-of-{int(num_shards):05d}".encode(),
                          dtype=object)
    return sharded_filespec


def _merge_kernel(op, ctx):
    delete_old_dirs = op._attrs["delete_old_dirs"]
    allow_missing = op._attrs["allow_missing_files"]

    def merge_v2_checkpoints(checkpoint_prefixes, destination_prefix):
        destination = _text(destination_prefix)
        sources = []
        for prefix in _names(checkpoint_prefixes):
            path = prefix + INDEX_SUFFIX
            try:
                with open(path, "rb") as f:
                    sources.append((prefix, f.read(), path))
            except FileNotFoundError:
                if allow_missing:
                    continue
                raise errors.NotFoundError(None, op, f"Checkpoint index file not found: "
                                           f"{path}") from None
        try:
            index_bytes, shards, num_shards = tensor_bundle.merge_indexes(sources)
            for source, shard in shards:
                os.replace(source, tensor_bundle.data_filename(destination, shard, num_shards))
            _atomic_write(destination + INDEX_SUFFIX, index_bytes)
            for prefix, _, path in sources:
                if os.path.abspath(prefix) != os.path.abspath(destination):
                    _remove_quietly(path)
                    if delete_old_dirs:
                        _remove_empty_dir(os.path.dirname(prefix), destination)
        except OSError as e:
            raise _os_error(e, f"Failed to merge checkpoints into {destination}") from e
    return merge_v2_checkpoints


def _remove_empty_dir(directory: str, destination: str) -> None:
    if directory and os.path.abspath(directory) != os.path.abspath(
            os.path.dirname(destination) or "."):
        try:
            os.rmdir(directory)  # only when empty: nothing but the merged shards lived there
        except OSError:
            pass


register_op("ShardedFilename", infer=lambda op: [(dtypes.string, TensorShape([]))],
            kernel=_sharded_filename_kernel)
register_op("ShardedFilespec", infer=lambda op: [(dtypes.string, TensorShape([]))],
            kernel=_sharded_filespec_kernel)
register_op("MergeV2Checkpoints", infer=lambda op: [], kernel=_merge_kernel, stateful=True,
            attrs={"delete_old_dirs": ("bool", True), "allow_missing_files": ("bool", False)})
for _op_type in ("ShardedFilename", "ShardedFilespec", "MergeV2Checkpoints"):
    NotDifferentiable(_op_type)


# --------------------------------------------------------------------------------------------
# The `checkpoint` state file
# --------------------------------------------------------------------------------------------


@dataclass
class CheckpointState:
    """The contents of a `checkpoint` file (TF's CheckpointState message)."""

    model_checkpoint_path: str = ""
    all_model_checkpoint_paths: list = field(default_factory=list)
    all_model_checkpoint_timestamps: list = field(default_factory=list)
    last_preserved_timestamp: float = 0.0


def _escape(text: str) -> str:
    out = []
    for byte in text.encode():
        ch = chr(byte)
        if ch in ('"', "\\"):
            out.append("\\" + ch)
        elif ch == "\n":
            out.append("\\n")
        elif 32 <= byte < 127:
            out.append(ch)
        else:
            out.append(f"\\{byte:03o}")
    return "".join(out)


_ESCAPES = {"n": 10, "t": 9, "r": 13, '"': 34, "'": 39, "\\": 92, "a": 7, "b": 8, "f": 12,
            "v": 11, "?": 63}


def _unescape(body: str) -> str:
    out = bytearray()
    i = 0
    while i < len(body):
        ch = body[i]
        if ch != "\\":
            out.extend(ch.encode())
            i += 1
            continue
        nxt = body[i + 1:i + 2]
        if nxt in _ESCAPES:
            out.append(_ESCAPES[nxt])
            i += 2
        elif nxt == "x" and re.match(r"[0-9a-fA-F]", body[i + 2:i + 3]):
            digits = re.match(r"[0-9a-fA-F]{1,2}", body[i + 2:]).group(0)
            out.append(int(digits, 16))
            i += 2 + len(digits)
        elif nxt and nxt in "01234567":
            digits = re.match(r"[0-7]{1,3}", body[i + 1:]).group(0)
            out.append(int(digits, 8) & 0xFF)
            i += 1 + len(digits)
        else:
            raise ValueError(f"bad escape sequence in {body!r}")
    return out.decode()


_LINE = re.compile(r'^\s*([A-Za-z_]+)\s*:\s*(?:"((?:[^"\\]|\\.)*)"|([-+0-9.eE]+))\s*$')


def _parse_state(text: str) -> CheckpointState:
    state = CheckpointState()
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        m = _LINE.match(line)
        if m is None:
            raise ValueError(f"cannot parse line {line!r}")
        key, string, number = m.groups()
        if key == "model_checkpoint_path" and string is not None:
            state.model_checkpoint_path = _unescape(string)
        elif key == "all_model_checkpoint_paths" and string is not None:
            state.all_model_checkpoint_paths.append(_unescape(string))
        elif key == "all_model_checkpoint_timestamps" and number is not None:
            state.all_model_checkpoint_timestamps.append(float(number))
        elif key == "last_preserved_timestamp" and number is not None:
            state.last_preserved_timestamp = float(number)
        else:
            raise ValueError(f"unexpected field in line {line!r}")
    return state


def _format_state(state: CheckpointState) -> str:
    lines = [f'model_checkpoint_path: "{_escape(state.model_checkpoint_path)}"']
    lines += [f'all_model_checkpoint_paths: "{_escape(p)}"'
              for p in state.all_model_checkpoint_paths]
    lines += [f"all_model_checkpoint_timestamps: {t!r}"
              for t in state.all_model_checkpoint_timestamps]
    if state.last_preserved_timestamp:
        lines.append(f"last_preserved_timestamp: {state.last_preserved_timestamp!r}")
    return "\n".join(lines) + "\n"


def _state_path(save_dir: str, latest_filename=None) -> str:
    return os.path.join(save_dir, latest_filename or "checkpoint")


def _relative_to(path: str, directory: str) -> str:
    """`path` relative to `directory` when it lies inside it, else absolute."""
    if not os.path.isabs(path) and not os.path.isabs(directory):
        rel = os.path.relpath(path, directory or ".")
    else:
        rel = os.path.relpath(os.path.abspath(path), os.path.abspath(directory or "."))
    if rel == os.pardir or rel.startswith(os.pardir + os.sep):
        return os.path.abspath(path)
    return rel


def update_checkpoint_state(save_dir, model_checkpoint_path, all_model_checkpoint_paths=None,
                            latest_filename=None, all_model_checkpoint_timestamps=None,
                            last_preserved_timestamp=None) -> None:
    """Rewrites `save_dir/checkpoint` (atomically) to name the latest and the kept checkpoints.

    The latest one is appended to the kept ones when it is not already their last entry.
    """
    save_dir = os.fspath(save_dir)
    paths = list(all_model_checkpoint_paths or [])
    if not paths or paths[-1] != model_checkpoint_path:
        paths.append(model_checkpoint_path)
    state = CheckpointState(
        model_checkpoint_path=_relative_to(model_checkpoint_path, save_dir),
        all_model_checkpoint_paths=[_relative_to(p, save_dir) for p in paths],
        all_model_checkpoint_timestamps=list(all_model_checkpoint_timestamps or []),
        last_preserved_timestamp=last_preserved_timestamp or 0.0)
    path = _state_path(save_dir, latest_filename)
    if os.path.abspath(path) == os.path.abspath(os.path.join(save_dir,
                                                             state.model_checkpoint_path)):
        raise RuntimeError(f"Save path '{model_checkpoint_path}' conflicts with path used for "
                           "checkpoint state.  Please use a different save path.")
    _atomic_write(path, _format_state(state).encode())


def get_checkpoint_state(checkpoint_dir, latest_filename=None):
    """The CheckpointState of `checkpoint_dir` (relative paths made relative to the current
    directory again), or None when there is no readable `checkpoint` file."""
    checkpoint_dir = os.fspath(checkpoint_dir)
    path = _state_path(checkpoint_dir, latest_filename)
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as e:
        _log.warning("%s: cannot read the checkpoint state (%s); ignored", path, e)
        return None
    try:
        state = _parse_state(text)
    except ValueError as e:
        _log.warning("%s: cannot parse the checkpoint state (%s); ignored", path, e)
        return None
    if not state.model_checkpoint_path:
        raise ValueError(f"Invalid checkpoint state loaded from {checkpoint_dir}")
    if not os.path.isabs(state.model_checkpoint_path):
        state.model_checkpoint_path = os.path.join(checkpoint_dir, state.model_checkpoint_path)
    state.all_model_checkpoint_paths = [
        p if os.path.isabs(p) else os.path.join(checkpoint_dir, p)
        for p in state.all_model_checkpoint_paths]
    return state


def checkpoint_exists(checkpoint_prefix) -> bool:
    """True when a checkpoint with this prefix exists (its index file does)."""
    return os.path.isfile(os.fspath(checkpoint_prefix) + INDEX_SUFFIX)


def latest_checkpoint(checkpoint_dir, latest_filename=None):
    """The prefix of the latest checkpoint in `checkpoint_dir`, or None."""
    state = get_checkpoint_state(checkpoint_dir, latest_filename)
    if state and state.model_checkpoint_path:
        if checkpoint_exists(state.model_checkpoint_path):
            return state.model_checkpoint_path
        _log.error("Couldn't match files for checkpoint %s", state.model_checkpoint_path)
    return None


def get_checkpoint_mtimes(checkpoint_prefixes) -> list[float]:
    """The modification times of the checkpoints that exist among `checkpoint_prefixes`."""
    out = []
    for prefix in checkpoint_prefixes:
        try:
            out.append(os.path.getmtime(os.fspath(prefix) + INDEX_SUFFIX))
        except OSError:
            continue
    return out


def remove_checkpoint(checkpoint_prefix, checkpoint_format_version=2,
                      meta_graph_suffix="meta") -> None:
    """Deletes a checkpoint's files (the index first, so it stops existing at once)."""
    prefix = os.fspath(checkpoint_prefix)
    for path in (prefix + INDEX_SUFFIX, prefix + DATA_SUFFIX,
                 meta_graph_filename(prefix, meta_graph_suffix)):
        _remove_quietly(path)


def meta_graph_filename(checkpoint_filename: str, meta_graph_suffix="meta") -> str:
    base = re.sub(r"-[\d\?]+-of-\d+$", "", checkpoint_filename)
    return f"{base}.{meta_graph_suffix}"


def list_variables(ckpt_dir_or_file) -> list[tuple[str, list]]:
    """[(name, shape)] of a checkpoint (a prefix, or a directory's latest checkpoint)."""
    index = read_index(_resolve_checkpoint(ckpt_dir_or_file))
    return [(name, list(e.shape)) for name, e in sorted(index.entries.items())]


def load_variable(ckpt_dir_or_file, name: str) -> np.ndarray:
    """One tensor of a checkpoint (a prefix, or a directory's latest checkpoint)."""
    if name.endswith(":0"):
        name = name[:-2]
    index = read_index(_resolve_checkpoint(ckpt_dir_or_file))
    return read_tensors(index, [name])[name]


def _resolve_checkpoint(ckpt_dir_or_file) -> str:
    path = os.fspath(ckpt_dir_or_file)
    if os.path.isdir(path):
        latest = latest_checkpoint(path)
        if latest is None:
            raise errors.NotFoundError(None, None, f"Couldn't find 'checkpoint' file or "
                                       f"checkpoints in given directory {path}")
        return latest
    return path


# --------------------------------------------------------------------------------------------
# Saver
# --------------------------------------------------------------------------------------------


class _CheckpointNotFoundError(errors.NotFoundError, ValueError):
    """No checkpoint at the path given to restore (TF1 raises ValueError here)."""


def _variables_by_name(var_list) -> dict:
    """name -> Variable (or variable ref tensor), from a list (keyed by op name) or a dict."""
    if isinstance(var_list, dict):
        items = list(var_list.items())
    else:
        items = []
        for v in var_list:
            if not isinstance(v, (Variable, ResourceVariable, Tensor)):
                raise TypeError(f"Variable to save is not a Variable: {v!r}")
            items.append((v.op.name, v))
    out = {}
    for name, v in items:
        if not isinstance(name, str):
            raise TypeError(f"Saver names must be strings, got {name!r}")
        if not isinstance(v, (Variable, ResourceVariable, Tensor)):
            raise TypeError(f"Variable to save is not a Variable: {v!r}")
        ref = v._ref() if isinstance(v, Variable) else v
        if not isinstance(v, ResourceVariable) and ref.op.type not in ("VariableV2",
                                                                       "Variable"):
            raise TypeError(f"Saver can save variables only, not {ref.op.type} '{ref.name}'")
        if name in out:
            raise ValueError(f"At least two variables have the same name: {name}")
        out[name] = v
    return out


class Saver:
    """Saves and restores variables (TF1's tf.train.Saver).

        saver = ts.train.Saver(max_to_keep=5)
        path = saver.save(sess, "run/model.ckpt", global_step=step)   # "run/model.ckpt-<step>"
        saver.restore(sess, ts.train.latest_checkpoint("run"))

    Variables are saved under their op names (or the keys of a `var_list` dict). Only the last
    `max_to_keep` checkpoints are kept (None or 0 keeps all); one every
    `keep_checkpoint_every_n_hours` is kept besides.
    """

    def __init__(self, var_list=None, reshape=False, sharded=False, max_to_keep=5,
                 keep_checkpoint_every_n_hours=10000.0, name=None, restore_sequentially=False,
                 saver_def=None, builder=None, defer_build=False, allow_empty=False,
                 write_version=2, pad_step_numbers=False, save_relative_paths=False,
                 filename=None):
        if defer_build and var_list:
            raise ValueError("If `var_list` is provided then build cannot be deferred. Either "
                             "set defer_build=False or var_list=None.")
        if write_version != 2:
            _log.warning("Only checkpoint format V2 is written; write_version=%s ignored",
                         write_version)
        self._var_list = var_list
        self._reshape = reshape
        self._sharded = sharded
        self._max_to_keep = max_to_keep
        self._keep_checkpoint_every_n_hours = keep_checkpoint_every_n_hours
        self._name = name
        self._allow_empty = allow_empty
        self._pad_step_numbers = pad_step_numbers
        self._save_relative_paths = save_relative_paths
        self._filename = filename
        self._next_checkpoint_time = time.time() + keep_checkpoint_every_n_hours * 3600
        self._last_checkpoints: list[tuple[str, float]] = []
        self._checkpoints_to_be_deleted: list[tuple[str, float]] = []
        self._is_built = False
        self._is_empty = False
        self._names_to_variables: dict = {}
        self._saver_def = saver_def
        if saver_def is not None:
            self._filename_tensor_name = saver_def.filename_tensor_name
            self._save_tensor_name = saver_def.save_tensor_name
            self._restore_op_name = saver_def.restore_op_name
            self._max_to_keep = saver_def.max_to_keep
            self._is_built = True
        elif not defer_build:
            self.build()

    # -- building ---------------------------------------------------------------------------
    def build(self) -> None:
        if self._is_built:
            return
        self._build(get_default_graph())
        self._is_built = True

    def _build(self, graph) -> None:
        with graph.as_default():
            var_list = self._var_list
            if var_list is None:
                var_list = global_variables() + get_collection("saveable_objects")
            names_to_vars = _variables_by_name(var_list)
            if not names_to_vars:
                if self._allow_empty:
                    self._is_empty = True
                    return
                raise ValueError("No variables to save")
            self._names_to_variables = names_to_vars
            names = sorted(names_to_vars)
            refs = [self._ref_of(names_to_vars[n]) for n in names]
            var_dtypes = [r.dtype.base_dtype for r in refs]
            with graph.control_dependencies(None), name_scope(self._name, "save", refs):
                default = constant_op.constant(self._filename or "model", name="filename/input")
                filename = array_ops.placeholder_with_default(default, shape=[],
                                                              name="filename")
                filename = array_ops.placeholder_with_default(filename, shape=[], name="Const")
                save_op = self._save_op(filename, names, refs, var_dtypes)
                save_tensor = control_flow_ops.with_dependencies([save_op], filename,
                                                                 name="control_dependency")
                restore_op = self._restore_op(filename, names, refs, var_dtypes)
            self._filename_tensor_name = filename.name
            self._save_tensor_name = save_tensor.name
            self._restore_op_name = restore_op.name

    @staticmethod
    def _ref_of(v) -> Tensor:
        """What SaveV2 saves: the variable's ref (a resource variable's value)."""
        if isinstance(v, ResourceVariable):
            return v.value()
        return v._ref() if isinstance(v, Variable) else v

    @staticmethod
    def _save_op(filename, names, refs, var_dtypes):
        with name_scope("SaveV2") as scope:
            tensor_names = constant_op.constant(names, dtype=dtypes.string, name="tensor_names")
            slices = constant_op.constant([""] * len(names), dtype=dtypes.string,
                                          name="shape_and_slices")
            return make_op("SaveV2", [filename, tensor_names, slices, *refs],
                           {"dtypes": var_dtypes}, name=scope)

    def _restore_op(self, filename, names, refs, var_dtypes):
        with name_scope("RestoreV2") as scope:
            tensor_names = constant_op.constant(names, dtype=dtypes.string, name="tensor_names")
            slices = constant_op.constant([""] * len(names), dtype=dtypes.string,
                                          name="shape_and_slices")
            restore = make_op("RestoreV2", [filename, tensor_names, slices],
                              {"dtypes": var_dtypes}, name=scope)
        assigns = []
        variables = [self._names_to_variables[n] for n in names]
        for var, ref, value in zip(variables, refs, restore.outputs, strict=True):
            shape = var.shape if isinstance(var, ResourceVariable) else ref.shape
            if self._reshape and shape.is_fully_defined():
                value = array_ops.reshape(value, shape.as_list())
            if isinstance(var, ResourceVariable):
                assigns.append(var.assign(value, read_value=False))
            else:
                assigns.append(assign(ref, value, validate_shape=shape.is_fully_defined()))
        return control_flow_ops.group(*assigns, name="restore_all")

    # -- saver_def ------------------------------------------------------------------------
    @property
    def saver_def(self):
        """The SaverDef message naming this saver's ops (TF's tensorflow.SaverDef)."""
        if self._saver_def is None:
            if not self._is_built:
                raise RuntimeError("The Saver is not built yet: call build() first.")
            from tensorslow import proto

            self._saver_def = proto.SaverDef(
                filename_tensor_name=self._filename_tensor_name if not self._is_empty else "",
                save_tensor_name=self._save_tensor_name if not self._is_empty else "",
                restore_op_name=self._restore_op_name if not self._is_empty else "",
                max_to_keep=self._max_to_keep or 0, sharded=bool(self._sharded),
                keep_checkpoint_every_n_hours=self._keep_checkpoint_every_n_hours,
                version=proto.SaverDef.V2)
        return self._saver_def

    def as_saver_def(self):
        return self.saver_def

    # -- saving -----------------------------------------------------------------------------
    def save(self, sess, save_path, global_step=None, latest_filename=None,
             meta_graph_suffix="meta", write_meta_graph=True, write_state=True,
             strip_default_attrs=False, save_debug_info=False):
        """Saves the variables' values in `sess` to `save_path` (suffixed "-<global_step>"
        when given); returns the checkpoint's prefix (None for an empty saver)."""
        if not self._is_built:
            self.build()
        if latest_filename is None:
            latest_filename = "checkpoint"
        if os.path.split(latest_filename)[0]:
            raise ValueError("'latest_filename' must not contain path components")
        save_path = os.fspath(save_path)
        if global_step is not None:
            if not isinstance(global_step, (int, np.integer)):
                from tensorslow.train.training_util import global_step as step_value

                global_step = step_value(sess, global_step)
            if self._pad_step_numbers:
                checkpoint_file = f"{save_path}-{int(global_step):08d}"
            else:
                checkpoint_file = f"{save_path}-{int(global_step)}"
        else:
            checkpoint_file = save_path
            if os.path.basename(save_path) == latest_filename and not self._sharded:
                raise ValueError(f"'latest_filename' collides with 'save_path': "
                                 f"'{latest_filename}' and '{save_path}'")
        if not hasattr(sess, "run") or not hasattr(sess, "graph"):
            raise TypeError(f"'sess' must be a Session; {sess}")
        save_dir = os.path.dirname(save_path)
        if save_dir and not os.path.isdir(save_dir):
            raise ValueError(f"Parent directory of {save_path} doesn't exist, can't save.")
        model_checkpoint_path = None
        if not self._is_empty:
            # The save op may run in another process (a Ray worker) with another working
            # directory: it gets an absolute path; the caller gets back the path it gave.
            sess.run(self._save_tensor_name,
                     {self._filename_tensor_name: os.path.abspath(checkpoint_file)})
            model_checkpoint_path = checkpoint_file
            if write_state:
                self._record_last_checkpoint(model_checkpoint_path)
                update_checkpoint_state(save_dir, model_checkpoint_path,
                                        all_model_checkpoint_paths=self.last_checkpoints,
                                        latest_filename=latest_filename)
                self._maybe_delete_old_checkpoints(meta_graph_suffix)
        if write_meta_graph:
            self._write_meta_graph(sess, meta_graph_filename(checkpoint_file, meta_graph_suffix),
                                   strip_default_attrs)
        return model_checkpoint_path

    def _write_meta_graph(self, sess, meta_graph_path: str, strip_default_attrs: bool) -> None:
        """Writes `<prefix>.meta`: the MetaGraphDef of `sess.graph` with this saver's
        SaverDef (atomically); `save` calls it when `write_meta_graph` is true."""
        from tensorslow.framework.meta_graph import export_meta_graph

        export_meta_graph(meta_graph_path, graph=sess.graph, saver_def=self.saver_def)

    def _record_last_checkpoint(self, latest_save_path: str) -> None:
        if not self._max_to_keep:
            return
        self._last_checkpoints = [p for p in self._last_checkpoints if p[0] != latest_save_path]
        self._last_checkpoints.append((latest_save_path, time.time()))
        if len(self._last_checkpoints) > self._max_to_keep:
            self._checkpoints_to_be_deleted.append(self._last_checkpoints.pop(0))

    def _maybe_delete_old_checkpoints(self, meta_graph_suffix="meta") -> None:
        while self._checkpoints_to_be_deleted:
            path, stamp = self._checkpoints_to_be_deleted.pop(0)
            if stamp > self._next_checkpoint_time:
                # One checkpoint every keep_checkpoint_every_n_hours is kept for good.
                self._next_checkpoint_time += self._keep_checkpoint_every_n_hours * 3600
                continue
            try:
                remove_checkpoint(path, meta_graph_suffix=meta_graph_suffix)
            except OSError as e:
                _log.warning("Ignoring: %s", e)

    @property
    def last_checkpoints(self) -> list[str]:
        """The kept checkpoints, oldest first."""
        return [p for p, _ in self._last_checkpoints]

    def set_last_checkpoints(self, last_checkpoints) -> None:
        if not isinstance(last_checkpoints, list):
            raise TypeError("last_checkpoints must be a list")
        self._last_checkpoints = [(p, np.inf) for p in last_checkpoints]

    def set_last_checkpoints_with_time(self, last_checkpoints_with_time) -> None:
        if not isinstance(last_checkpoints_with_time, list):
            raise TypeError("last_checkpoints_with_time must be a list")
        self._last_checkpoints = [(p, t) for p, t in last_checkpoints_with_time]

    def recover_last_checkpoints(self, checkpoint_paths) -> None:
        """Takes up the list of kept checkpoints (e.g. from get_checkpoint_state after a
        restart), so that pruning continues with them."""
        with_times = []
        for p in checkpoint_paths:
            mtimes = get_checkpoint_mtimes([p])
            if mtimes:
                with_times.append((p, mtimes[0]))
        self.set_last_checkpoints_with_time(with_times)

    # -- restoring --------------------------------------------------------------------------
    def restore(self, sess, save_path) -> None:
        """Restores the saved variables into `sess` from the checkpoint `save_path`."""
        if self._is_empty:
            return
        if save_path is None:
            raise ValueError("Can't load save_path when it is None.")
        save_path = os.fspath(save_path)
        if not checkpoint_exists(save_path):
            raise _CheckpointNotFoundError(
                None, None, f"The passed save_path is not a valid checkpoint: {save_path} "
                f"({save_path + INDEX_SUFFIX} does not exist)")
        if self._names_to_variables:
            self._check_against(read_index(save_path))
        sess.run(self._restore_op_name,
                 {self._filename_tensor_name: os.path.abspath(save_path)})

    def _check_against(self, index: CheckpointIndex) -> None:
        """Every variable is in the checkpoint with its dtype and shape, before any is set."""
        for name, v in sorted(self._names_to_variables.items()):
            ref = v if isinstance(v, ResourceVariable) else self._ref_of(v)
            if name not in index.entries:
                raise errors.NotFoundError(None, None, f"Key {name} not found in checkpoint "
                                           f"{index.prefix}")
            stored = index.dtype_of(name)
            if stored != ref.dtype.base_dtype:
                raise errors.InvalidArgumentError(
                    None, None, f"tensor_name = {name}; expected dtype "
                    f"{ref.dtype.base_dtype.name} does not equal original dtype "
                    f"{_stored_dtype_name(index, name)} "
                    f"(checkpoint {index.prefix})")
            shape = index.shape_of(name)
            dims = ref.shape.as_tuple()
            if dims is None:
                continue
            same = len(dims) == len(shape) and all(d is None or d == s
                                                   for d, s in zip(dims, shape, strict=True))
            reshapable = (self._reshape and ref.shape.is_fully_defined()
                          and int(np.prod(dims)) == int(np.prod(shape)))
            if not same and not reshapable:
                raise errors.InvalidArgumentError(
                    None, None, f"Restoring '{name}' from {index.prefix}: the checkpoint has "
                    f"shape {shape}, the variable {list(dims)}. Assign requires shapes of both "
                    "tensors to match.")

"""TensorBundle: TensorFlow's checkpoint format (SaverDef.V2), read and written.

A bundle with prefix P is two kinds of file:

    P.index                    a sorted string table (below) mapping the empty key to a
                               BundleHeaderProto, and each tensor's name to a BundleEntryProto
                               (dtype, shape, shard_id, offset, size, masked CRC-32C)
    P.data-SSSSS-of-NNNNN      the tensors' bytes, shard SSSSS of NNNNN (this library writes
                               one shard, P.data-00000-of-00001)

A numeric or bool tensor is stored as its elements in C order in the byte order the header
names (little-endian here). A string tensor is stored as the varint64 length of each element,
then a masked CRC-32C of those lengths (each taken as a little-endian uint32, or uint64 when it
does not fit), then the elements' bytes; its entry's checksum covers the lengths (as taken for
the length checksum), the 4 length-checksum bytes and the elements' bytes.

The index is a table in the LevelDB format TensorFlow uses, uncompressed, as TensorFlow writes
bundles: data blocks of prefix-compressed entries (a restart point every 16 entries), an empty
metaindex block, an index block mapping a separator key to each data block's (offset, size),
each block followed by a type byte and a masked CRC-32C of the block and type byte, and a
48-byte footer with the two block handles and the magic number 0xdb4775248b80fb57. Written
the way TensorFlow writes it (same separators, same block boundaries), a bundle is the same
bytes TensorFlow writes for the same tensors, so either side reads the other's checkpoints and
SavedModel variables.

Reading checks everything it reads and raises DataLossError naming the file (and the tensor)
for anything that does not add up: bad magic, block or tensor checksums, truncation, keys out
of order, entries that do not parse. Nothing read is evaluated. Tensors saved in slices (TF's
partitioned variables) are listed, and reading one is an UnimplementedError.

Writing here returns bytes; the Saver writes them to disk atomically.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

import crc32c as _crc32c
import numpy as np

from tensorslow.framework import dtypes, errors, tensor_util

INDEX_SUFFIX = ".index"
HEADER_KEY = b""
BUNDLE_VERSION = 1       # the format version this library writes and reads
MIN_PRODUCER = 0
TABLE_MAGIC = 0xDB4775248B80FB57
BLOCK_SIZE = 262144      # TensorFlow's table::Options block_size
RESTART_INTERVAL = 16
FOOTER_SIZE = 48         # two BlockHandles padded to 40 bytes, then the 8-byte magic
BLOCK_TRAILER_SIZE = 5   # type byte + masked CRC-32C
NO_COMPRESSION, SNAPPY = 0, 1
_MASK_DELTA = 0xA282EAD8
_U32 = 0xFFFFFFFF


def data_filename(prefix: str, shard: int, num_shards: int) -> str:
    return f"{prefix}.data-{shard:05d}-of-{num_shards:05d}"


# --------------------------------------------------------------------------------------------
# CRC-32C, masked as LevelDB and TensorFlow store it
# --------------------------------------------------------------------------------------------


def crc32c(data, crc: int = 0) -> int:
    """CRC-32C of `data` (bytes or any buffer, an array's memory without a copy), continuing
    from `crc` (the CRC of the bytes before it)."""
    return _crc32c.crc32c(data, value=crc)


def mask(crc: int) -> int:
    return ((((crc >> 15) | (crc << 17)) & _U32) + _MASK_DELTA) & _U32


def unmask(masked: int) -> int:
    rotated = (masked - _MASK_DELTA) & _U32
    return ((rotated >> 17) | (rotated << 15)) & _U32


# --------------------------------------------------------------------------------------------
# Varints and fixed-width integers
# --------------------------------------------------------------------------------------------


def put_varint(out: bytearray, value: int) -> None:
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)


class _Corrupt(Exception):
    """Raised by the parsers below; turned into a DataLossError naming the file."""


def get_varint(data, pos: int, limit: int, bits: int = 64) -> tuple[int, int]:
    """(value, position after it) of the varint at data[pos:limit]."""
    result = shift = 0
    while pos < limit and shift < bits:
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result, pos
        shift += 7
    raise _Corrupt("bad varint")


def _fixed32(value: int) -> bytes:
    return value.to_bytes(4, "little")


def _read_fixed32(data, pos: int) -> int:
    return int.from_bytes(data[pos:pos + 4], "little")


# --------------------------------------------------------------------------------------------
# The sorted string table
# --------------------------------------------------------------------------------------------


def _shortest_separator(start: bytes, limit: bytes) -> bytes:
    """A short key k with start <= k < limit (LevelDB's bytewise FindShortestSeparator)."""
    common = 0
    end = min(len(start), len(limit))
    while common < end and start[common] == limit[common]:
        common += 1
    if common < end:
        byte = start[common]
        if byte < 0xFF and byte + 1 < limit[common]:
            return start[:common] + bytes((byte + 1,))
    return start


def _short_successor(key: bytes) -> bytes:
    """A short key k >= key (LevelDB's bytewise FindShortSuccessor)."""
    for i, byte in enumerate(key):
        if byte != 0xFF:
            return key[:i] + bytes((byte + 1,))
    return key


class _BlockBuilder:
    def __init__(self, restart_interval: int):
        self.restart_interval = restart_interval
        self.reset()

    def reset(self) -> None:
        self.buffer = bytearray()
        self.restarts = [0]
        self.counter = 0
        self.last_key = b""

    def empty(self) -> bool:
        return not self.buffer

    def size_estimate(self) -> int:
        return len(self.buffer) + 4 * len(self.restarts) + 4

    def add(self, key: bytes, value: bytes) -> None:
        shared = 0
        if self.counter < self.restart_interval:
            end = min(len(key), len(self.last_key))
            while shared < end and key[shared] == self.last_key[shared]:
                shared += 1
        else:
            self.restarts.append(len(self.buffer))
            self.counter = 0
        put_varint(self.buffer, shared)
        put_varint(self.buffer, len(key) - shared)
        put_varint(self.buffer, len(value))
        self.buffer += key[shared:]
        self.buffer += value
        self.last_key = key
        self.counter += 1

    def finish(self) -> bytes:
        return bytes(self.buffer) + b"".join(_fixed32(r) for r in self.restarts) + _fixed32(
            len(self.restarts))


def build_table(items, block_size: int = BLOCK_SIZE) -> bytes:
    """The table of (key, value) byte pairs, given in strictly increasing key order."""
    out = bytearray()
    data_block = _BlockBuilder(RESTART_INTERVAL)
    index_block = _BlockBuilder(1)
    pending = None  # the handle of the last data block written, not yet in the index
    last_key = None

    def write_block(block: _BlockBuilder) -> bytes:
        raw = block.finish()
        handle = bytearray()
        put_varint(handle, len(out))
        put_varint(handle, len(raw))
        trailer = bytes((NO_COMPRESSION,))
        out.extend(raw)
        out.extend(trailer + _fixed32(mask(crc32c(trailer, crc32c(raw)))))
        block.reset()
        return bytes(handle)

    for key, value in items:
        if last_key is not None and key <= last_key:
            raise ValueError(f"table keys must increase: {key!r} after {last_key!r}")
        if pending is not None:
            index_block.add(_shortest_separator(last_key, key), pending)
            pending = None
        data_block.add(key, value)
        last_key = key
        if data_block.size_estimate() >= block_size:
            pending = write_block(data_block)
    if not data_block.empty():
        pending = write_block(data_block)
    metaindex_handle = write_block(_BlockBuilder(RESTART_INTERVAL))
    if pending is not None:
        index_block.add(_short_successor(last_key), pending)
    index_handle = write_block(index_block)
    footer = (metaindex_handle + index_handle).ljust(FOOTER_SIZE - 8, b"\0")
    out.extend(footer + TABLE_MAGIC.to_bytes(8, "little"))
    return bytes(out)


def _block_handle(data, pos: int, limit: int) -> tuple[int, int, int]:
    offset, pos = get_varint(data, pos, limit)
    size, pos = get_varint(data, pos, limit)
    return offset, size, pos


def _read_block(data: bytes, offset: int, size: int) -> bytes:
    end = offset + size
    if end + BLOCK_TRAILER_SIZE > len(data) - FOOTER_SIZE:
        raise _Corrupt(f"block at {offset} of {size} bytes lies past the end of the table")
    block = data[offset:end]
    kind = data[end]
    if unmask(_read_fixed32(data, end + 1)) != crc32c(data[end:end + 1], crc32c(block)):
        raise _Corrupt(f"block at {offset}: checksum mismatch")
    if kind == SNAPPY:
        raise _Corrupt(f"block at {offset} is snappy-compressed, which TensorFlow never "
                       "writes for checkpoints and this library does not read")
    if kind != NO_COMPRESSION:
        raise _Corrupt(f"block at {offset}: unknown compression type {kind}")
    return block


def _block_entries(block: bytes):
    """(key, value) pairs of a block, in order."""
    size = len(block)
    if size < 4:
        raise _Corrupt("block too small")
    num_restarts = _read_fixed32(block, size - 4)
    limit = size - 4 - 4 * num_restarts
    if num_restarts < 1 or limit < 0:
        raise _Corrupt("bad restart array")
    pos, key = 0, b""
    while pos < limit:
        shared, pos = get_varint(block, pos, limit, 32)
        non_shared, pos = get_varint(block, pos, limit, 32)
        value_length, pos = get_varint(block, pos, limit, 32)
        if shared > len(key) or pos + non_shared + value_length > limit:
            raise _Corrupt("bad entry in block")
        key = key[:shared] + block[pos:pos + non_shared]
        pos += non_shared
        yield key, block[pos:pos + value_length]
        pos += value_length


def read_table(data: bytes) -> list[tuple[bytes, bytes]]:
    """Every (key, value) of a table, checked: magic, block checksums, key order."""
    if len(data) < FOOTER_SIZE:
        raise _Corrupt(f"{len(data)} bytes is too short for a table")
    footer = len(data) - FOOTER_SIZE
    if int.from_bytes(data[-8:], "little") != TABLE_MAGIC:
        raise _Corrupt("not a TensorFlow table (bad magic number)")
    _, _, pos = _block_handle(data, footer, len(data) - 8)  # the metaindex: nothing we need
    index_offset, index_size, _ = _block_handle(data, pos, len(data) - 8)
    items: list[tuple[bytes, bytes]] = []
    for separator, handle in _block_entries(_read_block(data, index_offset, index_size)):
        offset, size, _ = _block_handle(handle, 0, len(handle))
        for key, value in _block_entries(_read_block(data, offset, size)):
            if items and key <= items[-1][0]:
                raise _Corrupt("keys out of order")
            if key > separator:
                raise _Corrupt("a key lies beyond its block's index entry")
            items.append((key, value))
    return items


# --------------------------------------------------------------------------------------------
# Bundles
# --------------------------------------------------------------------------------------------


def _proto():
    from tensorslow import proto

    return proto


def _string_elements(value: np.ndarray) -> list[bytes]:
    out = []
    for item in np.asarray(value, dtype=object).reshape(-1):
        if isinstance(item, str):
            item = item.encode()
        elif not isinstance(item, (bytes, bytearray, memoryview)):
            raise TypeError(f"a string tensor holds bytes or str, not {type(item).__name__}")
        out.append(bytes(item))
    return out


def encode_tensor(value: np.ndarray, dtype: dtypes.DType) -> tuple[bytes | memoryview, int]:
    """(stored bytes, their CRC-32C as the entry records it, unmasked) of one tensor. A
    numeric tensor's bytes are a view of its memory when it is already stored as a bundle
    keeps it (contiguous, little-endian), not a copy."""
    if dtype == dtypes.string:
        elements = _string_elements(value)
        lengths = bytearray()
        crc = 0
        for element in elements:
            put_varint(lengths, len(element))
            size = len(element)
            crc = crc32c(size.to_bytes(4 if size <= _U32 else 8, "little"), crc)
        length_checksum = _fixed32(mask(crc))
        crc = crc32c(length_checksum, crc)
        for element in elements:
            crc = crc32c(element, crc)
        return bytes(lengths) + length_checksum + b"".join(elements), crc
    little = np.dtype(dtype.as_numpy_dtype).newbyteorder("<")
    raw = memoryview(np.ascontiguousarray(value, dtype=little).reshape(-1).view(np.uint8))
    return raw, crc32c(raw)


def encode_bundle(tensors) -> tuple[bytes, bytes]:
    """(index bytes, data bytes) of a one-shard bundle of `tensors`: (name, array, DType)
    triples, stored in the order given; the index lists them by name."""
    index, parts = encode_bundle_parts(tensors)
    return index, b"".join(parts)


def encode_bundle_parts(tensors) -> tuple[bytes, list]:
    """encode_bundle with the data as the list of its parts, one buffer per tensor (views of
    the arrays' memory where they can be), to be written one after the other."""
    proto = _proto()
    entries = {}
    chunks, offset = [], 0
    for name, value, dtype in tensors:
        key = name.encode("utf-8", "surrogateescape")
        if not key or key in entries:
            raise ValueError(f"bad or repeated tensor name {name!r}")
        raw, crc = encode_tensor(value, dtype)
        entry = proto.BundleEntryProto(dtype=dtype.as_datatype_enum, offset=offset,
                                       size=len(raw), crc32c=mask(crc))
        entry.shape.SetInParent()
        for size in np.shape(value):
            entry.shape.dim.add(size=int(size))
        entries[key] = entry.SerializeToString()
        chunks.append(raw)
        offset += len(raw)
    header = proto.BundleHeaderProto(num_shards=1, endianness=proto.BundleHeaderProto.LITTLE)
    header.version.producer = BUNDLE_VERSION
    items = [(HEADER_KEY, header.SerializeToString()), *sorted(entries.items())]
    return build_table(items), chunks


@dataclass(frozen=True)
class BundleEntry:
    """One tensor of a bundle, as its index describes it."""

    name: str
    datatype: int            # the DataType enum
    shape: tuple[int, ...]
    data_path: str
    offset: int
    size: int
    crc32c: int              # unmasked
    num_slices: int
    big_endian: bool

    @property
    def dtype(self) -> dtypes.DType | None:
        try:
            return dtypes.as_dtype(self.datatype)
        except TypeError:
            return None


def _header_and_items(raw: bytes, path: str):
    """(BundleHeaderProto, the other (key, value) pairs) of the index file `path`."""
    try:
        items = read_table(raw)
    except _Corrupt as e:
        raise errors.DataLossError(None, None, f"{path}: corrupt checkpoint index ({e})"
                                   ) from None
    if not items or items[0][0] != HEADER_KEY:
        raise errors.DataLossError(None, None, f"{path}: the checkpoint index has no header")
    try:
        header = _proto().BundleHeaderProto.FromString(items[0][1])
    except Exception as e:  # noqa: BLE001 - protobuf's DecodeError
        raise errors.DataLossError(None, None, f"{path}: unparsable header: {e}") from None
    return header, items[1:]


def read_bundle_index(prefix: str, raw: bytes, path: str) -> dict[str, BundleEntry]:
    """The entries of the bundle `prefix` (whose index file `path` holds `raw`)."""
    proto = _proto()
    header, items = _header_and_items(raw, path)
    version = header.version
    if (version.producer < MIN_PRODUCER or version.min_consumer > BUNDLE_VERSION
            or BUNDLE_VERSION in version.bad_consumers):
        raise errors.DataLossError(
            None, None, f"{path}: checkpoint format version {version.producer} (needs a "
            f"reader of version {version.min_consumer} or newer); this library reads version "
            f"{BUNDLE_VERSION}")
    num_shards = header.num_shards
    big_endian = header.endianness == proto.BundleHeaderProto.BIG
    entries = {}
    directory_prefix = os.fspath(prefix)
    for key, value in items:
        name = key.decode("utf-8", "surrogateescape")
        where = f"{path}, tensor '{name}'"
        entry = proto.BundleEntryProto()
        try:
            entry.ParseFromString(value)
        except Exception as e:  # noqa: BLE001
            raise errors.DataLossError(None, None, f"{where}: unparsable entry: {e}") from None
        shape = tuple(int(d.size) for d in entry.shape.dim)
        if entry.shape.unknown_rank or any(d < 0 for d in shape):
            raise errors.DataLossError(None, None, f"{where}: invalid shape {list(shape)}")
        if entry.slices:
            data_path = ""
        elif not 0 <= entry.shard_id < num_shards or entry.offset < 0 or entry.size < 0:
            raise errors.DataLossError(None, None, f"{where}: bad shard, offset or size")
        else:
            data_path = data_filename(directory_prefix, entry.shard_id, num_shards)
        entries[name] = BundleEntry(name, int(entry.dtype), shape, data_path, entry.offset,
                                    entry.size, unmask(entry.crc32c), len(entry.slices),
                                    big_endian)
    return entries


def decode_tensor(data: bytes, entry: BundleEntry, where: str, writable: bool = True,
                  crc: int | None = None) -> np.ndarray:
    """The array stored as `data` (the entry's bytes), its checksum verified (`crc`: the
    CRC-32C of `data`, when the caller computed it already). With writable=False a numeric
    array stored in the machine's byte order is a read-only view of `data`, not a copy."""
    if entry.num_slices:
        raise errors.UnimplementedError(
            None, None, f"{where}: saved in {entry.num_slices} slices (a partitioned "
            "variable); reading sliced tensors is not supported")
    dtype = entry.dtype
    count = math.prod(entry.shape)
    if dtype == dtypes.string:
        return _decode_strings(data, entry, count, where)
    try:
        np_dtype = np.dtype(tensor_util.proto_dtype_to_numpy(entry.datatype))
    except TypeError:
        np_dtype = None
    if dtype is None or np_dtype is None or np_dtype.kind == "O":
        raise errors.UnimplementedError(None, None, f"{where}: cannot read tensors of "
                                        f"DataType {entry.datatype}")
    if len(data) != count * np_dtype.itemsize:
        raise errors.DataLossError(None, None, f"{where}: {len(data)} bytes cannot hold "
                                   f"{count} {dtype.name} values")
    if (crc32c(data) if crc is None else crc) != entry.crc32c:
        raise errors.DataLossError(None, None, f"{where}: checksum mismatch (the data is "
                                   "corrupt)")
    stored = np_dtype.newbyteorder(">" if entry.big_endian else "<")
    return np.frombuffer(data, dtype=stored).astype(np_dtype, copy=writable).reshape(
        entry.shape)


def _decode_strings(data: bytes, entry: BundleEntry, count: int, where: str) -> np.ndarray:
    out = np.empty(count, dtype=object)
    if not data:
        if count:
            raise errors.DataLossError(None, None, f"{where}: no bytes for {count} strings")
        return out.reshape(entry.shape)
    order = "big" if entry.big_endian else "little"
    lengths, pos, crc = [], 0, 0
    try:
        for _ in range(count):
            length, pos = get_varint(data, pos, len(data))
            lengths.append(length)
            crc = crc32c(length.to_bytes(4 if length <= _U32 else 8, order), crc)
    except _Corrupt:
        raise errors.DataLossError(None, None, f"{where}: string lengths are corrupt"
                                   ) from None
    if pos + 4 > len(data):
        raise errors.DataLossError(None, None, f"{where}: string data is truncated")
    stored_checksum = int.from_bytes(data[pos:pos + 4], order)
    if unmask(stored_checksum) != crc:
        raise errors.DataLossError(None, None, f"{where}: string length checksum mismatch")
    crc = crc32c(data[pos:pos + 4], crc)
    pos += 4
    if pos + sum(lengths) != len(data):
        raise errors.DataLossError(None, None, f"{where}: string data does not fill the "
                                   f"{len(data)} bytes the index gives it")
    for i, length in enumerate(lengths):
        out[i] = element = data[pos:pos + length]
        crc = crc32c(element, crc)
        pos += length
    if crc != entry.crc32c:
        raise errors.DataLossError(None, None, f"{where}: checksum mismatch (the data is "
                                   "corrupt)")
    return out.reshape(entry.shape)


def merge_indexes(sources) -> tuple[bytes, list[tuple[str, int]], int]:
    """Merges bundles into one: `sources` are (prefix, index bytes, index path) triples.

    Returns (the merged index bytes, [(data file of a source, its shard id in the merged
    bundle)], the merged bundle's shard count), as TensorFlow's MergeBundles numbers them:
    shards in the order of the sources, then of their shard ids. The data files are to be
    renamed to data_filename(destination, shard id, shard count) before the index is written.
    """
    proto = _proto()
    shards: dict[str, int] = {}
    entries: dict[bytes, bytes] = {}
    header_out = None
    for prefix, raw, path in sources:
        header, items = _header_and_items(raw, path)
        if header_out is None:
            header_out = header
        elif (header.endianness != header_out.endianness
              or header.version.SerializeToString() != header_out.version.SerializeToString()):
            raise errors.InvalidArgumentError(None, None, f"{path}: cannot merge bundles of "
                                              "different byte orders or format versions")
        for key, value in items:
            if key in entries:
                raise errors.InvalidArgumentError(
                    None, None, f"Duplicate tensor keyed by {key.decode(errors='replace')} "
                    f"encountered, when merging prefix: {prefix}")
            try:
                entry = proto.BundleEntryProto.FromString(value)
            except Exception as e:  # noqa: BLE001 - protobuf's DecodeError
                raise errors.DataLossError(None, None, f"{path}: unparsable entry for "
                                           f"{key.decode(errors='replace')}: {e}") from None
            if not entry.slices:
                source = data_filename(prefix, entry.shard_id, header.num_shards)
                entry.shard_id = shards.setdefault(source, len(shards))
            entries[key] = entry.SerializeToString()
    header = proto.BundleHeaderProto()
    if header_out is not None:
        header.CopyFrom(header_out)
    header.num_shards = len(shards)
    if header_out is None:
        header.version.producer = BUNDLE_VERSION
    items = [(HEADER_KEY, header.SerializeToString()), *sorted(entries.items())]
    return build_table(items), list(shards.items()), len(shards)

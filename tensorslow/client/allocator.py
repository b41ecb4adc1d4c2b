"""Keeping glibc's malloc from returning step-sized buffers to the kernel on every step.

A training step allocates and frees the same large arrays every time (activations, gradients,
the new value of each variable). With glibc's default settings, blocks of more than 128 KB are
mapped with mmap, and the heap is trimmed whenever more than twice the current mmap threshold
lies free at its top. glibc raises that threshold as it sees large blocks freed, but a step
that frees more than twice its largest block still gives the memory back, and the next step
takes every page again as a page fault: about a thousand faults, 2 ms, of a 5 ms step of a
784-512-512-10 MLP at batch 256 (measured with `getrusage` around `Session.run`).

`tune()` sets the two thresholds to the values glibc's own adjustment would reach at its
ceiling (an mmap threshold of 32 MB, trimming beyond 64 MB free), so buffers of up to 32 MB
are reused from the heap from step to step, as TensorFlow's own allocator keeps its memory.
The cost is at most 64 MB held free at the heap's top. Sessions call it once per process.
Set TENSORSLOW_MALLOC_TUNING=0 to leave malloc alone; on a C library without `mallopt`
(macOS, musl) nothing changes.

What the heap keeps between steps is given back by `release()` (malloc_trim), which the model
server calls after a request larger than its threshold.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import threading

M_TRIM_THRESHOLD = -1  # malloc.h
M_MMAP_THRESHOLD = -3
M_ARENA_MAX = -8
MMAP_THRESHOLD = 32 << 20  # glibc's DEFAULT_MMAP_THRESHOLD_MAX on 64-bit systems
TRIM_THRESHOLD = 2 * MMAP_THRESHOLD  # what glibc sets beside a raised mmap threshold

_lock = threading.Lock()
_state: dict[str, object] = {}


def tune() -> bool:
    """Sets malloc's thresholds once per process; True when they are set."""
    with _lock:
        if "tuned" not in _state:
            _state["tuned"] = _set_thresholds()
        return _state["tuned"]


def _libc_function(name: str, argtypes: tuple):
    """The C library's function `name` returning an int, or None where there is none."""
    try:
        function = getattr(ctypes.CDLL(ctypes.util.find_library("c")), name)
    except (OSError, AttributeError, TypeError):
        return None
    function.argtypes = argtypes
    function.restype = ctypes.c_int
    return function


def _mallopt():
    return _libc_function("mallopt", (ctypes.c_int, ctypes.c_int))


def limit_arenas(count: int) -> bool:
    """Caps the number of malloc arenas (glibc's M_ARENA_MAX) at `count`, unless the
    MALLOC_ARENA_MAX environment variable already chose. Each thread that allocates gets an
    arena of its own up to 8 per core by default, and memory freed in the arena of a thread
    that then sleeps is not given back by release(); a server whose request threads take
    turns needs few. Set it before those threads start. True when it is set."""
    if "MALLOC_ARENA_MAX" in os.environ:
        return False
    mallopt = _mallopt()
    return bool(mallopt is not None and mallopt(M_ARENA_MAX, count))


def _set_thresholds() -> bool:
    if os.environ.get("TENSORSLOW_MALLOC_TUNING", "1") == "0":
        return False
    mallopt = _mallopt()
    if mallopt is None:
        return False
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)
                and mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))


def release() -> bool:
    """Gives the memory malloc holds free (at the heap's top, in whole free pages inside it,
    in every thread's arena) back to the kernel: glibc's malloc_trim(0). A server calls it
    after a large request, so one spike does not keep the process at its size for good.
    False where there is no malloc_trim (macOS, musl) or it had nothing to release."""
    with _lock:
        if "malloc_trim" not in _state:
            _state["malloc_trim"] = _libc_function("malloc_trim", (ctypes.c_size_t,))
        trim = _state["malloc_trim"]
    return bool(trim is not None and trim(0))

"""Memory a large request leaves behind, given back to the kernel.

Sessions keep malloc from returning step-sized buffers to the kernel after every step
(tensorslow/client/allocator.py), which is what a training loop wants; a server that takes
one 30 MB request among thousands of small ones would then keep the memory that request's
step took for the rest of its life. A `MemoryReleaser` is told the size of each request's
body as it arrives, and when each request is answered; a short while after a request of at
least `threshold_bytes` arrives, and again a short while after it is answered, it calls
malloc_trim on a thread of its own, so no request waits for it. Timing from the answer too
matters on a busy machine: a large request's step may outlast both releases timed from its
arrival, and would then leave its buffers behind.

malloc_trim gives back what lies free in every arena, but not all of what a thread's own arena
holds: a request handled on one of gRPC's threads leaves its buffers in that thread's arena.
`limit_arenas()` (called once, before the server's threads start) caps the arenas at
`ARENAS`, so the request threads share arenas that release() does empty. The environment
variable MALLOC_ARENA_MAX, when set, chooses instead.
"""

from __future__ import annotations

import logging
import threading
import time

from tensorslow.client import allocator

logger = logging.getLogger(__name__)

# Seconds after the latest large request arrived or was answered to release, twice: soon, then
# once more for a request whose step was still running at the first.
RELEASE_DELAYS = (0.3, 2.0)
ARENAS = 2


def limit_arenas() -> bool:
    return allocator.limit_arenas(ARENAS)


class MemoryReleaser:
    """note(nbytes) as each request arrives, answered() once a request note() called large
    is answered; releases memory after large ones. stop() ends its thread."""

    def __init__(self, threshold_bytes: int, delays: tuple[float, ...] = RELEASE_DELAYS):
        self.threshold_bytes = threshold_bytes
        self._delays = delays
        self._latest: float | None = None  # monotonic time of the latest large request
        self._wake = threading.Condition(threading.Lock())
        self._stopped = False
        self.releases = 0
        self._thread = threading.Thread(target=self._run, name="serving-memory", daemon=True)
        self._thread.start()

    def note(self, nbytes: int) -> bool:
        """A request of `nbytes` arrived (cheap: called for every request); True when it is
        large, and answered() is then to be called once it is answered."""
        if nbytes < self.threshold_bytes:
            return False
        self._arm()
        return True

    def answered(self) -> None:
        """A request note() called large is answered."""
        self._arm()

    def _arm(self) -> None:
        """Release a while after now (a later call moves the releases after it)."""
        with self._wake:
            self._latest = time.monotonic()
            self._wake.notify()

    def stop(self) -> None:
        with self._wake:
            self._stopped = True
            self._wake.notify()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        while True:
            with self._wake:
                self._wake.wait_for(lambda: self._stopped or self._latest is not None)
                if self._stopped:
                    return
            for delay in self._delays:
                with self._wake:
                    # A later large request moves the release after it too.
                    while not self._stopped:
                        latest = self._latest
                        remaining = latest + delay - time.monotonic()
                        if remaining <= 0:
                            break
                        self._wake.wait(remaining)
                    if self._stopped:
                        return
                started = time.perf_counter()
                allocator.release()
                self.releases += 1
                logger.debug("Released free memory to the kernel in %.1f ms",
                             (time.perf_counter() - started) * 1e3)
            with self._wake:
                if self._latest == latest:
                    self._latest = None

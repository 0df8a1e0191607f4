"""Draining: refuse new requests, let running ones finish (graceful shutdown)."""

from __future__ import annotations

import threading


class Drain:
    """Counts requests in flight; once draining, new requests are refused with UNAVAILABLE.

    gRPC's own ``stop(grace)`` cancels calls still queued for a handler thread, so
    shutdown first drains: queued calls get UNAVAILABLE (clients retry elsewhere),
    running ones finish, then the server stops.
    """

    def __init__(self):
        self._cond = threading.Condition()
        self._active = 0
        self.draining = False

    def enter(self) -> bool:
        with self._cond:
            if self.draining:
                return False
            self._active += 1
            return True

    def exit(self) -> None:
        with self._cond:
            self._active -= 1
            self._cond.notify_all()

    def drain(self, timeout: float) -> bool:
        """Refuses new requests and waits for the running ones; True if all finished in time."""
        with self._cond:
            self.draining = True
            return self._cond.wait_for(lambda: self._active == 0, timeout)

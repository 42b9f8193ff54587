"""Token buckets in memory, per worker process (a limit of N per worker is N x workers in all)."""

from __future__ import annotations

import threading
import time


class TokenBuckets:
    def __init__(self, rate: float, burst: float, max_keys: int = 100_000) -> None:
        self.rate, self.burst, self.max_keys = rate, burst, max_keys
        self._state: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, key: str, cost: float = 1.0) -> float:
        """0 when allowed, else the seconds to wait before ``cost`` tokens are there."""
        now = time.monotonic()
        with self._lock:
            tokens, last = self._state.get(key, (self.burst, now))
            tokens = min(self.burst, tokens + (now - last) * self.rate)
            if tokens < cost:
                self._state[key] = (tokens, now)
                return (cost - tokens) / self.rate
            if len(self._state) >= self.max_keys:
                self._state.clear()  # bounded memory under address spraying; limits reset
            self._state[key] = (tokens - cost, now)
            return 0.0

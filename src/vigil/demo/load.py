"""A load generator for the demo: a steady mix of requests, some slow, some failing."""

from __future__ import annotations

import logging
import random
import threading
import time
import urllib.error
import urllib.request

log = logging.getLogger("vigil.demo.load")

# (weight, method, path); {id} is filled with a random user ID.
MIX: tuple[tuple[int, str, str], ...] = (
    (40, "GET", "/users/{id}"),
    (25, "POST", "/orders?product={product}&quantity={qty}"),
    (15, "GET", "/"),
    (8, "GET", "/slow"),
    (4, "GET", "/error"),
    (4, "GET", "/no/such/page"),
    (4, "POST", "/orders?product=spaceship"),
)


class LoadGenerator:
    """Sends about *rate* requests a second to *base_url* from one thread until stopped."""

    def __init__(self, base_url: str, rate: float, *, seed: int | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.rate = rate
        self.sent = 0
        self._rng = random.Random(seed)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="vigil-demo-load", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._thread.join(timeout)

    def _next_request(self) -> urllib.request.Request:
        weights = [w for w, _, _ in MIX]
        _, method, path = self._rng.choices(MIX, weights=weights)[0]
        path = path.format(
            id=self._rng.randint(1, 500),
            product=self._rng.choice(("book", "lamp", "chair", "mug")),
            qty=self._rng.randint(1, 5),
        )
        return urllib.request.Request(
            self.base_url + path, method=method, data=b"" if method == "POST" else None
        )

    def _run(self) -> None:
        interval = 1.0 / self.rate
        next_at = time.monotonic()
        while not self._stop.is_set():
            try:
                with urllib.request.urlopen(self._next_request(), timeout=5) as resp:
                    resp.read()
            except urllib.error.HTTPError as exc:
                exc.read()
            except OSError as exc:
                log.warning("demo load request failed", extra={"error": str(exc)})
                self._stop.wait(1.0)
            self.sent += 1
            next_at += interval
            delay = next_at - time.monotonic()
            if delay > 0:
                self._stop.wait(delay)
            else:
                next_at = time.monotonic()

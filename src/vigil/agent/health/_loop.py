"""A private event loop in a daemon thread, for callers without a loop (WSGI)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

__all__ = ["LoopThread"]

T = TypeVar("T")


class LoopThread:
    """A private event loop in a daemon thread, for callers without a loop (WSGI)."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._orphans: list[asyncio.AbstractEventLoop] = []

    def _ensure(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None:
                loop = asyncio.new_event_loop()
                ready = threading.Event()

                def main() -> None:
                    asyncio.set_event_loop(loop)
                    loop.call_soon(ready.set)
                    loop.run_forever()

                thread = threading.Thread(target=main, name=self._name, daemon=True)
                thread.start()
                ready.wait()
                self._loop, self._thread = loop, thread
            return self._loop

    def run(self, factory: Callable[[], Coroutine[Any, Any, T]]) -> T:
        if self._thread is not None and threading.current_thread() is self._thread:
            raise RuntimeError(
                "a *_sync method of HealthRegistry was called from inside its own event-loop "
                "thread; await the async method instead"
            )
        loop = self._ensure()
        return asyncio.run_coroutine_threadsafe(factory(), loop).result()

    @property
    def loop(self) -> asyncio.AbstractEventLoop | None:
        return self._loop

    def reset_after_fork(self) -> None:
        """In a forked child the thread is gone; forget it (a new one starts on demand).

        The parent's loop object is kept referenced, not closed: the child
        cannot close a loop that was running in the parent.
        """
        if self._loop is not None:
            self._orphans.append(self._loop)
        self._lock = threading.Lock()
        self._loop = self._thread = None

    def close(self) -> None:
        with self._lock:
            loop, thread = self._loop, self._thread
            self._loop = self._thread = None
        if loop is None or thread is None:
            return

        async def cancel_all() -> None:
            current = asyncio.current_task()
            tasks = [t for t in asyncio.all_tasks() if t is not current]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        asyncio.run_coroutine_threadsafe(cancel_all(), loop).result()
        loop.call_soon_threadsafe(loop.stop)
        thread.join()
        loop.close()

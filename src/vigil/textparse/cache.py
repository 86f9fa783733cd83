"""A cache from a series' text to its parsed name and labels, kept between scrapes."""

from __future__ import annotations

from vigil.model import Labels

__all__ = ["SeriesCache"]


class SeriesCache:
    """Maps the text of a sample line up to its value (``name{labels}`` as written)
    to the parsed ``(name, Labels)``, so a known series costs a dict look-up
    instead of a label parse (Prometheus's ``scrapeCache`` idea).

    Keep one per target. Entries are only valid for the format and strictness
    that parsed them: a parser given a cache filled by another mode clears it
    first. When it holds more than ``max_entries`` it is cleared (the next
    scrape refills it), which bounds memory for targets with churning series.
    """

    __slots__ = ("entries", "max_entries", "mode")

    def __init__(self, max_entries: int = 1_000_000) -> None:
        self.entries: dict[str, tuple[str, Labels]] = {}
        self.max_entries = max_entries
        self.mode = ""

    def _for(self, mode: str) -> dict[str, tuple[str, Labels]]:
        if self.mode != mode or len(self.entries) > self.max_entries:
            self.entries.clear()
            self.mode = mode
        return self.entries

    def __len__(self) -> int:
        return len(self.entries)

    def clear(self) -> None:
        self.entries.clear()

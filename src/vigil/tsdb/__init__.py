"""The embedded time-series store: head, WAL, chunks, index, blocks, retention (see FORMAT.md)."""

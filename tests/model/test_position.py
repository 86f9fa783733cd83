from __future__ import annotations

import pytest

from vigil.model import Position, PositionRange, VigilError, position_at


def test_position_at_counts_lines_columns_and_bytes() -> None:
    text = "ab\n☃cd\nx"
    assert position_at(text, 0) == Position(1, 1, 0)
    assert position_at(text, 3) == Position(2, 1, 3)
    assert position_at(text, 5) == Position(2, 3, 7)  # ☃ is 3 bytes
    assert position_at(text, 99) == Position(3, 2, len(text.encode()))
    assert str(Position(2, 3, 7)) == "2:3"


def test_position_range() -> None:
    r = PositionRange(Position(1, 1, 0), Position(1, 4, 3))
    assert str(r) == "1:1-1:4"
    with pytest.raises(ValueError, match="before its start"):
        PositionRange(Position(2, 1, 5), Position(1, 1, 0))


def test_vigil_error_format() -> None:
    err = VigilError("bad thing", Position(3, 7, 40), source="vigil.yml")
    assert err.format() == "vigil.yml:3:7: bad thing"
    assert str(err) == "vigil.yml:3:7: bad thing"
    assert err.format("other.yml") == "other.yml:3:7: bad thing"
    assert VigilError("x", Position(1, 2, 1)).format() == "1:2: x"
    assert VigilError("plain").format() == "plain"
    assert VigilError("no pos", source="f").format() == "f: no pos"
    assert isinstance(err, Exception)
    assert err.message == "bad thing"

"""Atomic file replacement: the new bytes with the asked mode, or the old file untouched."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelwire._atomic import write_atomically


@pytest.mark.parametrize("durable", [True, False])
def test_the_file_is_replaced_with_the_given_mode(tmp_path: Path, durable: bool) -> None:
    path = tmp_path / "deep" / "file.json"
    write_atomically(path, b"one", mode=0o600, durable=durable, dir_mode=0o700)
    write_atomically(path, b"two", mode=0o644, durable=durable)
    assert path.read_bytes() == b"two"
    assert path.stat().st_mode & 0o777 == 0o644
    assert path.parent.stat().st_mode & 0o777 == 0o700
    assert [p.name for p in path.parent.iterdir()] == ["file.json"]


def test_a_failed_replace_keeps_the_old_file_and_leaves_no_temp(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "file.json"
    path.write_bytes(b"old")

    def refuse(self: Path, target: Path) -> Path:
        raise OSError("simulated crash before the rename")

    monkeypatch.setattr(Path, "replace", refuse)
    with pytest.raises(OSError, match="simulated"):
        write_atomically(path, b"new", mode=0o600, durable=True)
    assert path.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["file.json"]

"""The commit journal file: records, the chain, resets, torn writes, the lock."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from audit.journal import CommitJournal, JournalFull, Record, encode


@pytest.fixture
def journal(tmp_path: Path) -> Iterator[CommitJournal]:
    j = CommitJournal(tmp_path / "log.db-commits", size=1 << 16)
    j.lock()
    yield j
    j.close()


def test_the_file_is_allocated_at_its_size_once(tmp_path: Path) -> None:
    path = tmp_path / "j"
    CommitJournal(path, size=3 << 20).close()
    assert path.stat().st_size == 3 << 20
    assert path.read_bytes() == bytes(3 << 20)
    again = CommitJournal(path, size=1 << 20)  # a smaller size never shrinks it
    again.close()
    assert path.stat().st_size == 3 << 20


def test_a_fresh_file_holds_no_chain(journal: CommitJournal) -> None:
    assert journal.read_chain() == []


def test_records_read_back_in_order(journal: CommitJournal) -> None:
    journal.read_chain()
    journal.reset(10)
    journal.append(10, [b"a", b"bb"])
    journal.append(12, [b""])
    journal.append(13, [b"x" * 1000])
    assert journal.read_chain() == [
        Record(10, ()),
        Record(10, (b"a", b"bb")),
        Record(12, (b"",)),
        Record(13, (b"x" * 1000,)),
    ]
    assert journal.read_chain()[-1].end == 14


def test_a_reset_hides_the_earlier_chain(journal: CommitJournal) -> None:
    journal.reset(0)
    journal.append(0, [b"one", b"two"])
    journal.append(2, [b"three"])
    journal.reset(3)
    assert journal.read_chain() == [Record(3, ())]
    journal.append(3, [b"four"])
    # The earlier cycle's records behind the new one do not continue it.
    assert journal.read_chain() == [Record(3, ()), Record(3, (b"four",))]


def test_a_torn_record_ends_the_chain(journal: CommitJournal, tmp_path: Path) -> None:
    journal.reset(0)
    journal.append(0, [b"kept"])
    journal.append(1, [b"torn"])
    journal.append(2, [b"after"])
    offset = len(encode(0, ())) + len(encode(0, [b"kept"])) + 20
    with open(journal.path, "r+b") as fh:
        fh.seek(offset)
        fh.write(b"?")
    assert journal.read_chain() == [Record(0, ()), Record(0, (b"kept",))]


def test_a_record_that_does_not_fit_is_refused(journal: CommitJournal) -> None:
    journal.reset(0)
    big = b"z" * 40_000
    journal.append(0, [big])
    with pytest.raises(JournalFull):
        journal.append(1, [big])
    assert journal.read_chain() == [Record(0, ()), Record(0, (big,))]
    journal.reset(1)
    journal.append(1, [big])
    assert journal.read_chain()[-1] == Record(1, (big,))


def test_one_holder_at_a_time(tmp_path: Path) -> None:
    path = tmp_path / "shared-commits"
    first, second = CommitJournal(path), CommitJournal(path)
    try:
        assert first.try_lock()
        assert not second.try_lock()
        first.unlock()
        assert second.try_lock()
        assert not first.try_lock()
    finally:
        first.close()
        second.close()

"""The commit journal of a SQLite audit log: where a batch is durable before it is a row.

A batch of events is durable once its leaves are in this file and the file is synced:
one small write into space that is already allocated, and one ``fdatasync``. The rows,
nodes and indexes of the batch are written into the database afterwards, for many
batches at once (see :class:`audit.sqlite_writer.SqliteAppender`). After a crash the
batches the database lacks are read back from here and written then.

The file has a fixed size, allocated and zero-filled when it is created, so that an
``fdatasync`` never has to commit a change of its size or block map. It holds a chain of
records from its start:

* each record: magic, the leaf index of its first event, its number of events, the
  length of its payload, the payload (each leaf with its length), and a CRC-32 of all of
  that (torn-write detection, as in SQLite's own WAL; tampering is the Merkle tree's
  business);
* a *marker* is a record of no events: the journal starts with one after every reset,
  naming the tree size that the database holds durably by then.

The chain ends at the first record that is torn, or that does not start where the one
before it ended: whatever lies beyond is an earlier cycle's, and already in the
database. A reset writes a new marker over the start of the file and does not sync it:
the next record's sync carries it, and until then the old chain still reads as already
written.

The journal is shared by every process that appends to the log. A process appends only
while it holds the file's exclusive ``flock``; it lets go once what it journaled is in
the database and durable there. Whoever takes the lock next first writes whatever the
chain holds beyond the database's size (a holder that died) before appending its own.
"""

from __future__ import annotations

import fcntl
import os
import struct
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

_MAGIC = b"SGJ1"
_HEAD = struct.Struct("<4sQII")  # magic, first leaf index, events, payload bytes
_LEN = struct.Struct("<I")
_CRC = struct.Struct("<I")
DEFAULT_SIZE = 16 << 20
_FILL = 1 << 20


class JournalFull(Exception):
    """The record does not fit behind the chain: write the journal into the database and
    reset it first."""


@dataclass(frozen=True, slots=True)
class Record:
    """A batch read back from the journal."""

    first: int
    leaves: tuple[bytes, ...]

    @property
    def end(self) -> int:
        return self.first + len(self.leaves)


def encode(first: int, leaves: Sequence[bytes]) -> bytes:
    """One record: the batch of ``leaves`` whose first leaf has index ``first``."""
    payload = b"".join(_LEN.pack(len(leaf)) + leaf for leaf in leaves)
    body = _HEAD.pack(_MAGIC, first, len(leaves), len(payload)) + payload
    return body + _CRC.pack(zlib.crc32(body))


def _fdatasync(fd: int) -> None:
    os.fdatasync(fd)


class CommitJournal:
    """One journal file. Not for concurrent use within a process; between processes,
    :meth:`lock` and :meth:`try_lock` decide who appends."""

    def __init__(self, path: Path, *, size: int = DEFAULT_SIZE) -> None:
        self.path = path
        self._size = size
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        self._end = 0  # where the next record goes (valid while the lock is held)
        try:
            self._allocate()
        except BaseException:
            os.close(self._fd)
            raise

    def __repr__(self) -> str:
        return f"CommitJournal({self.path.name!r})"

    def _allocate(self) -> None:
        """Zero-fill the file up to its size, once, and make that durable (its directory
        entry too): later syncs then carry data only."""
        have = os.fstat(self._fd).st_size
        if have >= self._size:
            self._size = have
            return
        zeros = bytes(_FILL)
        for offset in range(have - have % _FILL, self._size, _FILL):
            os.pwrite(self._fd, zeros[: min(_FILL, self._size - offset)], offset)
        os.fsync(self._fd)
        directory = os.open(self.path.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)

    # --- the lock ----------------------------------------------------------------------

    def try_lock(self) -> bool:
        """Take the appenders' lock if no other holder has it; True when taken."""
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    def lock(self) -> None:
        """Take the appenders' lock, waiting for its holder."""
        fcntl.flock(self._fd, fcntl.LOCK_EX)

    def unlock(self) -> None:
        fcntl.flock(self._fd, fcntl.LOCK_UN)

    # --- under the lock ----------------------------------------------------------------

    def read_chain(self) -> list[Record]:
        """The records of the chain, the leading marker included; also sets where the
        next record goes."""
        records: list[Record] = []
        offset = 0
        while offset + _HEAD.size + _CRC.size <= self._size:
            head = os.pread(self._fd, _HEAD.size, offset)
            magic, first, count, length = _HEAD.unpack(head)
            end = offset + _HEAD.size + length + _CRC.size
            if magic != _MAGIC or end > self._size:
                break
            if records and first != records[-1].end:
                break  # an earlier cycle's record
            rest = os.pread(self._fd, length + _CRC.size, offset + _HEAD.size)
            payload = rest[:length]
            if _CRC.unpack(rest[length:])[0] != zlib.crc32(head + payload):
                break  # torn: its batch was never acknowledged
            leaves = _split(payload, count)
            if leaves is None:
                break
            records.append(Record(first, leaves))
            offset = end
        self._end = offset
        return records

    def append(self, first: int, leaves: Sequence[bytes]) -> None:
        """Add a batch at the end of the chain and make it durable."""
        record = encode(first, leaves)
        if self._end + len(record) > self._size:
            raise JournalFull(f"{len(record)} bytes do not fit in the journal")
        os.pwrite(self._fd, record, self._end)
        self._end += len(record)
        _fdatasync(self._fd)

    def reset(self, size: int) -> None:
        """Start a new chain: everything up to tree ``size`` is durable in the database."""
        marker = encode(size, ())
        os.pwrite(self._fd, marker, 0)
        self._end = len(marker)

    def close(self) -> None:
        os.close(self._fd)


def _split(payload: bytes, count: int) -> tuple[bytes, ...] | None:
    leaves = []
    offset = 0
    for _ in range(count):
        if offset + _LEN.size > len(payload):
            return None
        (length,) = _LEN.unpack_from(payload, offset)
        offset += _LEN.size
        leaves.append(payload[offset : offset + length])
        offset += length
    return tuple(leaves) if offset == len(payload) else None

"""C2SP tlog-tiles: the tree's hashes and entries as static, immutable resources.

https://c2sp.org/tlog-tiles. A hash tile ``tile/<L>/<N>`` holds the 256 hashes of the
nodes at tree level ``8 * L`` with indices ``256 * N`` to ``256 * N + 255``; level 0
holds the leaf hashes. An entry bundle ``tile/entries/<N>`` holds leaves ``256 * N`` on,
each as a big-endian 16-bit length and its bytes. Before a tile is full, only its
partial form ``<path>.p/<W>`` exists, the first ``W`` of its hashes or entries; a full
tile never changes, and neither does a partial one of a given width, so both may be
cached for ever. ``<N>`` is written in groups of three digits, every group but the last
prefixed with ``x``: 1234067 is ``x001/x234/067``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from audit import store
from audit.errors import ProofError
from audit.log import AuditLog

TILE_HEIGHT = 8
TILE_WIDTH = 1 << TILE_HEIGHT
MAX_LEVEL = 63

_INDEX = re.compile(r"^(?:x\d{3}/)*\d{3}$")


@dataclass(frozen=True, slots=True)
class TileRef:
    """A tile named by a tlog-tiles path: ``width`` is 256 for a full tile."""

    level: int | None  # None: an entry bundle
    index: int
    width: int

    def path(self) -> str:
        kind = "entries" if self.level is None else str(self.level)
        tail = "" if self.width == TILE_WIDTH else f".p/{self.width}"
        return f"tile/{kind}/{encode_index(self.index)}{tail}"


def encode_index(n: int) -> str:
    """``N`` in the tile path layout: 1234067 -> ``x001/x234/067``."""
    digits = str(n)
    digits = digits.zfill(-(-len(digits) // 3) * 3)
    groups = [digits[i : i + 3] for i in range(0, len(digits), 3)]
    return "/".join([*(f"x{g}" for g in groups[:-1]), groups[-1]])


def parse_path(kind: str, rest: str) -> TileRef:
    """Parse ``<N>[.p/<W>]`` after ``tile/<kind>/``; :class:`ProofError` when malformed."""
    level: int | None
    if kind == "entries":
        level = None
    elif kind.isdigit() and len(kind) <= 2 and int(kind) <= MAX_LEVEL and str(int(kind)) == kind:
        level = int(kind)
    else:
        raise ProofError("not a tile level")
    width = TILE_WIDTH
    index_part, sep, width_text = rest.partition(".p/")
    if sep:
        if not width_text.isdigit() or str(int(width_text)) != width_text:
            raise ProofError("not a partial tile width")
        width = int(width_text)
        if not 1 <= width < TILE_WIDTH:
            raise ProofError("a partial tile has 1 to 255 entries")
    if not _INDEX.match(index_part):
        raise ProofError("not a tile index")
    groups = index_part.split("/")
    if len(groups) > 1 and groups[0] == "x000":
        raise ProofError("a tile index has no leading zero groups")
    return TileRef(level, int("".join(g.lstrip("x") for g in groups)), width)


def available(ref: TileRef, tree_size: int) -> bool:
    """Whether the tree of ``tree_size`` holds the whole of tile ``ref``."""
    level = 0 if ref.level is None else ref.level
    nodes = tree_size >> (TILE_HEIGHT * level)
    return ref.index * TILE_WIDTH + ref.width <= nodes


async def read_tile(log: AuditLog, ref: TileRef) -> bytes | None:
    """The tile's bytes, or ``None`` while the log is too small to hold it."""
    size = await log.size()
    if not available(ref, size):
        return None
    start = ref.index * TILE_WIDTH
    async with log._reader() as conn:
        if ref.level is None:
            rows = await store.read_leaves(conn, start, start + ref.width)
            if len(rows) != ref.width:
                raise ProofError("the log is missing leaves")
            return encode_bundle(leaf for _, leaf in rows)
        level = TILE_HEIGHT * ref.level
        ids = [(level, start + i) for i in range(ref.width)]
        found = await store.read_nodes(conn, ids)
    return b"".join(found[i] for i in ids)


def entry_bundles(tree_size: int) -> list[TileRef]:
    """The entry bundles that hold leaves ``0 .. tree_size - 1``, the last one partial."""
    full, rest = divmod(tree_size, TILE_WIDTH)
    refs = [TileRef(None, n, TILE_WIDTH) for n in range(full)]
    return [*refs, TileRef(None, full, rest)] if rest else refs


def parse_bundle(data: bytes, count: int) -> list[bytes]:
    """The ``count`` leaves of an entry bundle (each a big-endian uint16 length and its
    bytes); :class:`ProofError` when the bundle does not hold exactly that."""
    leaves: list[bytes] = []
    at = 0
    while at < len(data):
        if at + 2 > len(data):
            raise ProofError("an entry bundle ends inside a length")
        size = int.from_bytes(data[at : at + 2], "big")
        leaves.append(data[at + 2 : at + 2 + size])
        at += 2 + size
        if at > len(data):
            raise ProofError("an entry bundle ends inside an entry")
    if len(leaves) != count:
        raise ProofError(f"the entry bundle holds {len(leaves)} entries, not {count}")
    return leaves


def encode_bundle(leaves: Iterable[bytes]) -> bytes:
    """An entry bundle: each leaf as a big-endian uint16 length and its bytes."""
    out = bytearray()
    for leaf in leaves:
        if len(leaf) > 0xFFFF:
            raise ProofError("a leaf is too long for an entry bundle")
        out += len(leaf).to_bytes(2, "big") + leaf
    return bytes(out)

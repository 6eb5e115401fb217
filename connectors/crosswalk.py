"""The Kemendagri <-> BPS region-code crosswalk.

The civil registry codes regions the Kemendagri way (Gubeng is ``35.78.08``); the
statistics office (BPS) numbers them its own way (Gubeng is ``3578100``: province, city,
then a three-digit kecamatan number in BPS order, generally the index times ten, with
later splits taking the numbers in between). The two orders differ, so the mapping is
data, not arithmetic: ``connectors/data/bps-crosswalk-demo.csv`` holds the demo cities;
operators load the official crosswalk of their area with :meth:`Crosswalk.from_csv`.
"""

from __future__ import annotations

import csv
from pathlib import Path

__all__ = ["DEMO_CROSSWALK_CSV", "Crosswalk"]

DEMO_CROSSWALK_CSV = Path(__file__).with_name("data") / "bps-crosswalk-demo.csv"


class Crosswalk:
    """A two-way mapping between Kemendagri dotted codes and BPS numeric codes."""

    def __init__(self, pairs: dict[str, str]) -> None:
        self._to_bps = dict(pairs)
        self._to_kemendagri = {b: k for k, b in pairs.items()}
        if len(self._to_kemendagri) != len(self._to_bps):
            raise ValueError("the crosswalk maps two Kemendagri codes to one BPS code")

    @classmethod
    def from_csv(cls, path: Path) -> Crosswalk:
        """Load ``kemendagri_code,bps_code[,name]`` rows."""
        with path.open(newline="", encoding="utf-8-sig") as handle:
            rows = csv.DictReader(handle)
            return cls({r["kemendagri_code"].strip(): r["bps_code"].strip() for r in rows})

    @classmethod
    def demo(cls) -> Crosswalk:
        return cls.from_csv(DEMO_CROSSWALK_CSV)

    def __len__(self) -> int:
        return len(self._to_bps)

    def to_bps(self, kemendagri_code: str) -> str | None:
        """The BPS code of a Kemendagri code, ``None`` when the crosswalk lacks it."""
        return self._to_bps.get(kemendagri_code)

    def to_kemendagri(self, bps_code: str) -> str | None:
        """The Kemendagri code of a BPS code, ``None`` when the crosswalk lacks it."""
        return self._to_kemendagri.get(bps_code)

"""The synthetic city's households: where they live, who belongs to them, their names
and registry numbers.

Residents live in Kota Surabaya and Kota Denpasar with the real Kemendagri codes of
their kecamatan and kelurahan. Everything comes from one ``random.Random``: the same seed
gives the same families. Names are assembled from name parts (``gateway.demo.names``),
never taken from lists of real people.
"""

from __future__ import annotations

import random
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, timedelta

from connectors.names import NormalisedName, normalise_name
from connectors.regions import RegionTable
from gateway.demo.names import Culture, NameFactory

__all__ = ["REFERENCE_DATE", "Family", "Households", "Kelurahan", "Person"]

#: The date "today" is in the synthetic world, so that ages do not drift between runs.
REFERENCE_DATE = date(2025, 7, 1)


@dataclass(frozen=True, slots=True)
class Kelurahan:
    code: str
    name: str
    kecamatan_code: str
    kecamatan_name: str
    city_code: str
    city_name: str
    province_code: str
    province_name: str
    rws: int
    streets: tuple[str, ...]


_FLOWER_STREETS = (
    "KENANGA",
    "MAWAR",
    "MELATI",
    "ANGGREK",
    "CEMPAKA",
    "FLAMBOYAN",
    "DAHLIA",
    "TERATAI",
    "SEMANGGI",
    "NANGKA",
    "MANGGA",
    "BELIMBING",
    "RAYA",
    "MERDEKA",
    "PAHLAWAN",
    "KARTINI",
)
_CULTURES: dict[str, tuple[tuple[Culture, ...], tuple[float, ...]]] = {
    "35.78": (("javanese", "madurese", "muslim", "balinese"), (55, 20, 23, 2)),
    "51.71": (("balinese", "javanese", "muslim", "madurese"), (70, 17, 10, 3)),
}
_CITY_WEIGHTS = {"35.78": 0.8, "51.71": 0.2}


def _load_kelurahan(rng: random.Random) -> dict[str, list[Kelurahan]]:
    table = RegionTable.demo()
    names = table.names()
    by_city: dict[str, list[Kelurahan]] = {}
    for city in _CITY_WEIGHTS:
        province = city[:2]
        items: list[Kelurahan] = []
        for kec in table.children(city):
            for kel in table.children(kec.code):
                kel_street = kel.name.upper()
                streets = (
                    f"JL. {kel_street}",
                    f"JL. {kel_street} GG. {rng.randint(1, 9)}",
                    f"JL. {kel_street} {rng.choice(('I', 'II', 'III', 'IV'))}",
                    f"JL. {rng.choice(_FLOWER_STREETS)}",
                    f"JL. {rng.choice(_FLOWER_STREETS)} GG. {rng.randint(1, 12)}",
                    f"GG. {rng.choice(_FLOWER_STREETS)}",
                )
                items.append(
                    Kelurahan(
                        code=kel.code,
                        name=kel.name,
                        kecamatan_code=kec.code,
                        kecamatan_name=kec.name,
                        city_code=city,
                        city_name=names[city],
                        province_code=province,
                        province_name=names[province],
                        rws=rng.randint(3, 14),
                        streets=streets,
                    )
                )
        by_city[city] = items
    return by_city


def _other_kecamatan(city: str) -> list[str]:
    """Kecamatan elsewhere in the city's province: where some adults were first registered."""
    table = RegionTable.demo()
    province = city[:2]
    return [
        kec.code
        for c in table.children(province)
        if c.code != city
        for kec in table.children(c.code)
    ]


class _Numbers:
    """Issues NIK and KK numbers: prefix + date + a serial unique per prefix and date."""

    def __init__(self) -> None:
        self._serials: dict[str, int] = defaultdict(int)

    def issue(self, kecamatan_code: str, day: date, *, female: bool = False) -> str:
        dd = day.day + 40 if female else day.day
        stem = f"{kecamatan_code.replace('.', '')}{dd:02d}{day.month:02d}{day.year % 100:02d}"
        self._serials[stem] += 1
        serial = self._serials[stem]
        if serial > 9999:
            raise RuntimeError("serial space exhausted for one prefix and date")
        return f"{stem}{serial:04d}"


@dataclass(slots=True)
class Person:
    nik: str
    female: bool
    birth: date
    name: str
    relation: str
    marital: str
    mother_nik: str | None = None
    mother_name: str | None = None
    father_nik: str | None = None
    father_name: str | None = None


#: A family as ``Households.family`` makes it: its kelurahan, KK number, members, culture,
#: RT, RW and street.
Family = tuple[Kelurahan, str, list[Person], Culture, str, str, str]


class Households:
    """Families, one at a time, from one seed (``family``)."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)  # noqa: S311 - synthetic data, not secrets
        self.names = NameFactory(self.rng)
        self.kelurahan = _load_kelurahan(self.rng)
        self.elsewhere = {city: _other_kecamatan(city) for city in self.kelurahan}
        self.kecamatan = {
            city: sorted({k.kecamatan_code for k in kels}) for city, kels in self.kelurahan.items()
        }
        self.nik = _Numbers()
        self.kk = _Numbers()
        self._keys: dict[str, str] = {}
        self.cities = tuple(_CITY_WEIGHTS)
        self.city_weights = tuple(_CITY_WEIGHTS.values())

    def name_tokens(self, key: str) -> tuple[str, ...]:
        return NormalisedName.from_key(key).strong_tokens

    def name_key(self, full_name: str) -> str:
        key = self._keys.get(full_name)
        if key is None:
            key = normalise_name(full_name).key
            if len(self._keys) < 500_000:
                self._keys[full_name] = key
        return key

    def birth(self, age_years: int) -> date:
        start = date(REFERENCE_DATE.year - age_years - 1, REFERENCE_DATE.month, 2)
        return start + timedelta(days=self.rng.randrange(365))

    def age(self, birth: date) -> int:
        r = REFERENCE_DATE
        return r.year - birth.year - ((r.month, r.day) < (birth.month, birth.day))

    def register_prefix(self, home: Kelurahan, *, born_here: bool) -> str:
        r = self.rng.random()
        if born_here or r < 0.8:
            return home.kecamatan_code
        if r < 0.92:
            return self.rng.choice(self.kecamatan[home.city_code])
        return self.rng.choice(self.elsewhere[home.city_code])

    def parent_name(self, culture: Culture, female: bool, birth_year: int) -> str:
        return self.names.register_name(
            culture,
            female,
            birth_year=birth_year - 28,
            degree=False,
            haji=self.rng.random() < 0.1 and culture != "balinese",
        )

    def person_name(self, culture: Culture, female: bool, birth: date, order: int) -> str:
        age = self.age(birth)
        degree = age >= 23 and self.rng.random() < 0.12
        haji = age >= 40 and culture != "balinese" and self.rng.random() < 0.08
        return self.names.register_name(
            culture, female, birth_year=birth.year, degree=degree, haji=haji, birth_order=order
        )

    def family(self) -> Family:
        rng = self.rng
        city = rng.choices(self.cities, self.city_weights)[0]
        home = rng.choice(self.kelurahan[city])
        cultures, weights = _CULTURES[city]
        culture = rng.choices(cultures, weights)[0]
        rw = f"{rng.randint(1, home.rws):03d}"
        rt = f"{rng.randint(1, 3 + (int(home.code[-2:]) % 8)):03d}"
        street = f"{rng.choice(home.streets)} NO. {rng.randint(1, 180)}"
        members: list[Person] = []

        head_female = rng.random() < 0.14
        head_birth = self.birth(rng.randint(21, 82))
        head_name = self.person_name(culture, head_female, head_birth, rng.randint(1, 4))
        head = Person(
            nik=self.nik.issue(
                self.register_prefix(home, born_here=False), head_birth, female=head_female
            ),
            female=head_female,
            birth=head_birth,
            name=head_name,
            relation="KEPALA KELUARGA",
            marital="KAWIN",
            mother_name=self.parent_name(culture, True, head_birth.year),
            father_name=self.parent_name(culture, False, head_birth.year),
        )
        members.append(head)
        spouse: Person | None = None
        if head_female:
            head.marital = rng.choice(("CERAI MATI", "CERAI HIDUP", "BELUM KAWIN"))
        elif rng.random() < 0.85:
            s_birth = self.birth(max(18, self.age(head_birth) - rng.randint(-3, 9)))
            spouse = Person(
                nik=self.nik.issue(
                    self.register_prefix(home, born_here=False), s_birth, female=True
                ),
                female=True,
                birth=s_birth,
                name=self.person_name(culture, True, s_birth, 1),
                relation="ISTRI",
                marital="KAWIN",
                mother_name=self.parent_name(culture, True, s_birth.year),
                father_name=self.parent_name(culture, False, s_birth.year),
            )
            members.append(spouse)
        else:
            head.marital = rng.choice(("BELUM KAWIN", "CERAI MATI", "CERAI HIDUP"))
        mother = spouse if spouse is not None else (head if head.female else None)
        father = head if not head.female else None
        youngest_parent = min(self.age(m.birth) for m in members)
        if head.marital != "BELUM KAWIN" and youngest_parent >= 19:
            n_children = rng.choices((0, 1, 2, 3, 4, 5), (18, 24, 30, 17, 8, 3))[0]
            ages = sorted(
                (rng.randint(0, min(youngest_parent - 18, 30)) for _ in range(n_children)),
                reverse=True,
            )
            for order, age in enumerate(ages, start=1):
                female = rng.random() < 0.49
                birth = self.birth(age)
                members.append(
                    Person(
                        nik=self.nik.issue(home.kecamatan_code, birth, female=female),
                        female=female,
                        birth=birth,
                        name=self.person_name(culture, female, birth, order),
                        relation="ANAK",
                        marital="BELUM KAWIN" if age < 22 or rng.random() < 0.6 else "KAWIN",
                        mother_nik=mother.nik if mother else None,
                        mother_name=mother.name
                        if mother
                        else self.parent_name(culture, True, birth.year),
                        father_nik=father.nik if father else None,
                        father_name=father.name
                        if father
                        else self.parent_name(culture, False, birth.year),
                    )
                )
        if rng.random() < 0.05 and self.age(head_birth) < 60:
            p_birth = self.birth(self.age(head_birth) + rng.randint(20, 32))
            members.append(
                Person(
                    nik=self.nik.issue(
                        self.register_prefix(home, born_here=False), p_birth, female=True
                    ),
                    female=True,
                    birth=p_birth,
                    name=self.person_name(culture, True, p_birth, 1),
                    relation="ORANG TUA",
                    marital="CERAI MATI",
                    mother_name=self.parent_name(culture, True, p_birth.year),
                    father_name=self.parent_name(culture, False, p_birth.year),
                )
            )
        issued = REFERENCE_DATE - timedelta(days=rng.randrange(20 * 365))
        kk_number = self.kk.issue(home.kecamatan_code, issued)
        return home, kk_number, members, culture, rt, rw, street

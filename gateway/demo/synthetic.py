"""Synthetic source databases for the demo and the benchmarks.

:func:`generate_sources` writes three separate SQLite databases, one per source of
truth, the way a city's data actually sits in different agencies:

* ``civil.db``, table ``residents`` (the civil registry, source ``dukcapil``);
* ``welfare.db``, table ``welfare`` (the welfare registry, source ``dtks``), for about
  35 % of families, one row per family member;
* ``health.db``, table ``health`` (a health survey, source ``dinkes_survey``), for about
  20 % of residents;

and a ``sources.yaml`` that points the connectors at them. Residents live in Kota
Surabaya and Kota Denpasar with the real Kemendagri codes of their kecamatan and
kelurahan. Everything is generated from one seed: the same seed gives the same files.
All personal data is made up; names are assembled from name parts, never taken from
lists of real people.
"""

from __future__ import annotations

import random
import sqlite3
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

from connectors.names import NormalisedName, normalise_name
from connectors.regions import RegionTable
from gateway.demo.names import Culture, NameFactory

__all__ = [
    "CIVIL_COLUMNS",
    "HEALTH_COLUMNS",
    "TOKEN_COLUMNS",
    "WELFARE_COLUMNS",
    "SyntheticSummary",
    "generate_sources",
]

#: The date "today" is in the synthetic world, so that ages do not drift between runs.
REFERENCE_DATE = date(2025, 7, 1)

CIVIL_COLUMNS: tuple[tuple[str, str], ...] = (
    ("nik", "TEXT PRIMARY KEY"),
    ("kk_number", "TEXT NOT NULL"),
    ("full_name", "TEXT NOT NULL"),
    ("sex", "TEXT NOT NULL"),
    ("birth_place", "TEXT"),
    ("birth_date", "TEXT NOT NULL"),
    ("blood_type", "TEXT"),
    ("religion", "TEXT"),
    ("marital_status", "TEXT"),
    ("family_relation", "TEXT"),
    ("disability", "TEXT"),
    ("education", "TEXT"),
    ("occupation", "TEXT"),
    ("mother_nik", "TEXT"),
    ("mother_name", "TEXT"),
    ("father_nik", "TEXT"),
    ("father_name", "TEXT"),
    ("street", "TEXT"),
    ("rt", "TEXT"),
    ("rw", "TEXT"),
    ("kelurahan_code", "TEXT NOT NULL"),
    ("kelurahan_name", "TEXT"),
    ("kecamatan_code", "TEXT NOT NULL"),
    ("kecamatan_name", "TEXT"),
    ("city_code", "TEXT"),
    ("city_name", "TEXT"),
    ("province_code", "TEXT"),
    ("province_name", "TEXT"),
    ("name_key", "TEXT NOT NULL"),
)
WELFARE_COLUMNS: tuple[tuple[str, str], ...] = (
    ("nik", "TEXT PRIMARY KEY"),
    ("welfare_decile", "INTEGER"),
    ("housing_ownership", "TEXT"),
    ("floor_type", "TEXT"),
    ("wall_type", "TEXT"),
    ("roof_type", "TEXT"),
    ("water_source", "TEXT"),
    ("sanitation", "TEXT"),
    ("pkh_member", "BOOLEAN"),
    ("bpnt_member", "BOOLEAN"),
    ("pbi_member", "BOOLEAN"),
    ("monthly_income", "INTEGER"),
)
HEALTH_COLUMNS: tuple[tuple[str, str], ...] = (
    ("nik", "TEXT PRIMARY KEY"),
    ("bpjs_class", "TEXT"),
    ("chronic_conditions", "TEXT"),
    ("disability_support_needs", "TEXT"),
)
#: The search's token index: one row per distinctive name token of a resident.
TOKEN_COLUMNS: tuple[tuple[str, str], ...] = (
    ("token", "TEXT NOT NULL"),
    ("kelurahan_code", "TEXT NOT NULL"),
    ("nik", "TEXT NOT NULL"),
)
_CIVIL_INDEXES = (
    ("ix_residents_block", "kelurahan_code, rt, rw"),
    ("ix_residents_kecamatan", "kecamatan_code"),
    ("ix_residents_kk", "kk_number"),
)
_CHUNK = 20_000


@dataclass(frozen=True)
class SyntheticSummary:
    """What :func:`generate_sources` wrote."""

    count: int
    sources_file: Path
    sample_niks: list[str] = field(default_factory=list)
    sample_residents: list[dict[str, str]] = field(default_factory=list)
    families: int = 0
    welfare_rows: int = 0
    health_rows: int = 0


@dataclass(frozen=True, slots=True)
class _Kelurahan:
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
_BIRTH_PLACES: dict[str, tuple[str, ...]] = {
    "35.78": ("SURABAYA",) * 8
    + (
        "SIDOARJO",
        "GRESIK",
        "MALANG",
        "LAMONGAN",
        "MOJOKERTO",
        "JOMBANG",
        "KEDIRI",
        "JEMBER",
        "BANYUWANGI",
        "BLITAR",
    ),
    "madurese": ("SURABAYA",) * 4 + ("BANGKALAN", "SAMPANG", "PAMEKASAN", "SUMENEP"),
    "51.71": ("DENPASAR",) * 8
    + ("GIANYAR", "TABANAN", "BADUNG", "BULELENG", "KLUNGKUNG", "KARANGASEM", "BANGLI", "JEMBRANA"),
}
_EDUCATION = (
    "TIDAK/BELUM SEKOLAH",
    "BELUM TAMAT SD/SEDERAJAT",
    "TAMAT SD/SEDERAJAT",
    "SLTP/SEDERAJAT",
    "SLTA/SEDERAJAT",
    "DIPLOMA I/II",
    "AKADEMI/DIPLOMA III/S. MUDA",
    "DIPLOMA IV/STRATA I",
    "STRATA II",
    "STRATA III",
)
_ADULT_EDUCATION_WEIGHTS = (3, 4, 18, 18, 35, 3, 5, 12, 1.6, 0.4)
_OCCUPATIONS = (
    "KARYAWAN SWASTA",
    "WIRASWASTA",
    "PEDAGANG",
    "BURUH HARIAN LEPAS",
    "PEGAWAI NEGERI SIPIL",
    "GURU",
    "SOPIR",
    "PETANI/PEKEBUN",
    "NELAYAN/PERIKANAN",
    "PERAWAT",
    "TUKANG BATU",
    "KARYAWAN BUMN",
    "DOSEN",
    "BIDAN",
    "PERANGKAT DESA",
)
_OCCUPATION_WEIGHTS = (30, 22, 12, 14, 5, 4, 3, 1, 1, 1, 3, 2, 0.5, 0.5, 1)
_RELIGIONS: dict[Culture, tuple[tuple[str, ...], tuple[float, ...]]] = {
    "javanese": (("ISLAM", "KRISTEN", "KATOLIK", "HINDU", "BUDDHA"), (84, 9, 5, 0.5, 1.5)),
    "madurese": (("ISLAM", "KRISTEN"), (99, 1)),
    "muslim": (("ISLAM",), (1,)),
    "balinese": (("HINDU", "ISLAM", "KRISTEN", "KATOLIK", "BUDDHA"), (93, 2, 2, 2, 1)),
}
_CULTURES: dict[str, tuple[tuple[Culture, ...], tuple[float, ...]]] = {
    "35.78": (("javanese", "madurese", "muslim", "balinese"), (55, 20, 23, 2)),
    "51.71": (("balinese", "javanese", "muslim", "madurese"), (70, 17, 10, 3)),
}
_CITY_WEIGHTS = {"35.78": 0.8, "51.71": 0.2}
_BLOOD = (("A", "B", "AB", "O", "TIDAK TAHU"), (20, 22, 5, 30, 23))
_DISABILITIES = ("TUNA NETRA", "TUNA RUNGU", "TUNA WICARA", "TUNA DAKSA", "TUNA GRAHITA")
_CHRONIC = (
    "HIPERTENSI",
    "DIABETES MELITUS",
    "ASMA",
    "TUBERKULOSIS",
    "JANTUNG KORONER",
    "GAGAL GINJAL",
    "STROKE",
)
_SUPPORT = (
    "KURSI RODA",
    "ALAT BANTU JALAN",
    "ALAT BANTU DENGAR",
    "PENDAMPINGAN HARIAN",
    "TERAPI RUTIN",
)


def _load_kelurahan(rng: random.Random) -> dict[str, list[_Kelurahan]]:
    table = RegionTable.demo()
    names = table.names()
    by_city: dict[str, list[_Kelurahan]] = {}
    for city in _CITY_WEIGHTS:
        province = city[:2]
        items: list[_Kelurahan] = []
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
                    _Kelurahan(
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
class _Person:
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


class _Generator:
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

    def register_prefix(self, home: _Kelurahan, *, born_here: bool) -> str:
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

    def family(self) -> tuple[_Kelurahan, str, list[_Person], Culture, str, str, str]:
        rng = self.rng
        city = rng.choices(self.cities, self.city_weights)[0]
        home = rng.choice(self.kelurahan[city])
        cultures, weights = _CULTURES[city]
        culture = rng.choices(cultures, weights)[0]
        rw = f"{rng.randint(1, home.rws):03d}"
        rt = f"{rng.randint(1, 3 + (int(home.code[-2:]) % 8)):03d}"
        street = f"{rng.choice(home.streets)} NO. {rng.randint(1, 180)}"
        members: list[_Person] = []

        head_female = rng.random() < 0.14
        head_birth = self.birth(rng.randint(21, 82))
        head_name = self.person_name(culture, head_female, head_birth, rng.randint(1, 4))
        head = _Person(
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
        spouse: _Person | None = None
        if head_female:
            head.marital = rng.choice(("CERAI MATI", "CERAI HIDUP", "BELUM KAWIN"))
        elif rng.random() < 0.85:
            s_birth = self.birth(max(18, self.age(head_birth) - rng.randint(-3, 9)))
            spouse = _Person(
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
                    _Person(
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
                _Person(
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

    def civil_row(
        self,
        p: _Person,
        home: _Kelurahan,
        kk: str,
        culture: Culture,
        rt: str,
        rw: str,
        street: str,
    ) -> tuple[object, ...]:
        rng = self.rng
        age = self.age(p.birth)
        if age < 5:
            education = _EDUCATION[0]
        elif age < 18:
            education = _EDUCATION[min(1 + (age - 5) // 4, 4)]
        else:
            education = rng.choices(_EDUCATION, _ADULT_EDUCATION_WEIGHTS)[0]
        if age < 18:
            occupation = "PELAJAR/MAHASISWA" if age >= 6 else "BELUM/TIDAK BEKERJA"
        elif age >= 65 and rng.random() < 0.5:
            occupation = "PENSIUNAN" if rng.random() < 0.4 else "BELUM/TIDAK BEKERJA"
        elif p.female and rng.random() < 0.35:
            occupation = "MENGURUS RUMAH TANGGA"
        elif age < 24 and rng.random() < 0.5:
            occupation = "PELAJAR/MAHASISWA"
        else:
            occupation = rng.choices(_OCCUPATIONS, _OCCUPATION_WEIGHTS)[0]
        religions, weights = _RELIGIONS[culture]
        places = _BIRTH_PLACES["madurese" if culture == "madurese" else home.city_code]
        birth_place = (
            home.city_name.removeprefix("Kota ").upper() if age < 18 else rng.choice(places)
        )
        return (
            p.nik,
            kk,
            p.name,
            "PEREMPUAN" if p.female else "LAKI-LAKI",
            birth_place,
            p.birth.isoformat(),
            rng.choices(*_BLOOD)[0],
            rng.choices(religions, weights)[0],
            p.marital,
            p.relation,
            rng.choice(_DISABILITIES) if rng.random() < 0.02 else None,
            education,
            occupation,
            p.mother_nik,
            p.mother_name,
            p.father_nik,
            p.father_name,
            street,
            rt,
            rw,
            home.code,
            home.name.upper(),
            home.kecamatan_code,
            home.kecamatan_name.upper(),
            home.city_code,
            home.city_name.upper(),
            home.province_code,
            home.province_name.upper(),
            self.name_key(p.name),
        )

    def welfare_rows(self, members: list[_Person]) -> Iterator[tuple[object, ...]]:
        rng = self.rng
        decile = rng.choices(range(1, 11), (16, 15, 14, 12, 10, 9, 8, 6, 5, 5))[0]
        poor = decile <= 4
        family = (
            rng.choice(("MILIK SENDIRI", "SEWA", "KONTRAK", "BEBAS SEWA", "DINAS")),
            rng.choice(("TANAH", "SEMEN", "KERAMIK") if poor else ("KERAMIK", "GRANIT", "SEMEN")),
            rng.choice(("BAMBU", "KAYU", "TEMBOK")) if poor else "TEMBOK",
            rng.choice(("SENG", "ASBES", "GENTENG")),
            rng.choice(("SUMUR", "PDAM", "AIR KEMASAN", "MATA AIR")),
            rng.choice(("JAMBAN BERSAMA", "TIDAK ADA", "JAMBAN SENDIRI"))
            if poor
            else "JAMBAN SENDIRI",
            poor and rng.random() < 0.6,
            poor and rng.random() < 0.7,
            decile <= 5 and rng.random() < 0.8,
        )
        base_income = int(600_000 + decile * rng.randint(350_000, 700_000))
        for p in members:
            earns = p.relation in ("KEPALA KELUARGA", "ISTRI") and self.age(p.birth) >= 18
            income = (
                base_income
                if p.relation == "KEPALA KELUARGA"
                else (rng.randrange(0, base_income // 2, 50_000) if earns else 0)
            )
            yield (p.nik, decile, *family, income)

    def health_row(self, p: _Person, disability: object, decile: int | None) -> tuple[object, ...]:
        rng = self.rng
        if decile is not None and decile <= 4:
            bpjs = "PBI"
        else:
            bpjs = rng.choices(
                ("KELAS 1", "KELAS 2", "KELAS 3", "PBI", "TIDAK TERDAFTAR"), (20, 25, 30, 10, 15)
            )[0]
        chronic = None
        if self.age(p.birth) >= 30 and rng.random() < 0.3:
            chronic = "; ".join(sorted(rng.sample(_CHRONIC, rng.choice((1, 1, 2)))))
        support = rng.choice(_SUPPORT) if disability else None
        return (p.nik, bpjs, chronic, support)


def _create(path: Path, table: str, columns: tuple[tuple[str, str], ...]) -> sqlite3.Connection:
    path.unlink(missing_ok=True)
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=OFF")
    conn.execute("PRAGMA synchronous=OFF")
    conn.execute("PRAGMA cache_size=-200000")
    cols = ", ".join(f"{name} {decl}" for name, decl in columns)
    conn.execute(f"CREATE TABLE {table} ({cols})")
    return conn


def _insert_sql(table: str, columns: tuple[tuple[str, str], ...]) -> str:
    marks = ", ".join("?" for _ in columns)
    return f"INSERT INTO {table} VALUES ({marks})"  # noqa: S608 - table names are constants


def _sources_yaml() -> str:
    return """\
# Sources of truth for satugate (SATUGATE_SOURCES_FILE). SQLite paths are relative to
# this file's folder. Field lists default to the datasets' fields of the data contract.
sources:
  - name: dukcapil
    kind: sql
    url: sqlite:///civil.db
    datasets: [civil_registry]
    table: residents
    key: nik
    primary: true
    region_system: kemendagri
    timeout_seconds: 2.0
    search:
      enabled: true
      name_key_column: name_key
      token_table: name_tokens
  - name: dtks
    kind: sql
    url: sqlite:///welfare.db
    datasets: [welfare]
    table: welfare
    key: nik
    region_system: kemendagri
    timeout_seconds: 2.0
  - name: dinkes_survey
    kind: sql
    url: sqlite:///health.db
    datasets: [health]
    table: health
    key: nik
    region_system: bps
    timeout_seconds: 2.0
"""


def generate_sources(out_dir: Path, *, residents: int = 10_000, seed: int = 7) -> SyntheticSummary:
    """Write ``civil.db``, ``welfare.db``, ``health.db`` and ``sources.yaml`` into ``out_dir``.

    Existing files of those names are replaced. ``residents`` is the exact number of
    rows in the civil registry (the last family is cut to fit). Deterministic for a seed.
    """
    if residents < 1:
        raise ValueError("residents must be at least 1")
    out_dir.mkdir(parents=True, exist_ok=True)
    gen = _Generator(seed)
    civil = _create(out_dir / "civil.db", "residents", CIVIL_COLUMNS)
    welfare = _create(out_dir / "welfare.db", "welfare", WELFARE_COLUMNS)
    health = _create(out_dir / "health.db", "health", HEALTH_COLUMNS)
    civil.execute(
        "CREATE TABLE name_tokens ("
        + ", ".join(f"{name} {decl}" for name, decl in TOKEN_COLUMNS)
        + ")"
    )
    token_sql = _insert_sql("name_tokens", TOKEN_COLUMNS)
    token_rows: list[tuple[object, ...]] = []
    civil_sql = _insert_sql("residents", CIVIL_COLUMNS)
    welfare_sql = _insert_sql("welfare", WELFARE_COLUMNS)
    health_sql = _insert_sql("health", HEALTH_COLUMNS)
    civil_rows: list[tuple[object, ...]] = []
    welfare_rows: list[tuple[object, ...]] = []
    health_rows: list[tuple[object, ...]] = []
    samples: list[tuple[object, ...]] = []
    sample_every = max(1, residents // 10)
    count = families = n_welfare = n_health = 0
    # A separate stream decides which families the welfare and health sources hold, so
    # that the civil data of a seed does not depend on those choices.
    pick = random.Random(seed * 7919 + 1)  # noqa: S311 - synthetic data
    try:
        while count < residents:
            home, kk, members, culture, rt, rw, street = gen.family()
            members = members[: residents - count]
            families += 1
            decile: int | None = None
            if pick.random() < 0.35:
                rows = list(gen.welfare_rows(members))
                decile = int(rows[0][1])  # type: ignore[call-overload]
                welfare_rows.extend(rows)
                n_welfare += len(rows)
            for person in members:
                row = gen.civil_row(person, home, kk, culture, rt, rw, street)
                civil_rows.append(row)
                token_rows.extend(
                    (token, home.code, person.nik) for token in set(gen.name_tokens(str(row[-1])))
                )
                if (
                    count >= len(samples) * sample_every
                    and len(samples) < 10
                    and normalise_name(str(row[2])).is_specific
                ):
                    samples.append(row)  # searchable by name and address alone
                count += 1
                if pick.random() < 0.2:
                    health_rows.append(gen.health_row(person, row[10], decile))
                    n_health += 1
            if len(civil_rows) >= _CHUNK:
                civil.executemany(civil_sql, civil_rows)
                civil.executemany(token_sql, token_rows)
                token_rows.clear()
                welfare.executemany(welfare_sql, welfare_rows)
                health.executemany(health_sql, health_rows)
                civil_rows.clear()
                welfare_rows.clear()
                health_rows.clear()
        civil.executemany(civil_sql, civil_rows)
        civil.executemany(token_sql, token_rows)
        welfare.executemany(welfare_sql, welfare_rows)
        health.executemany(health_sql, health_rows)
        civil.execute("CREATE INDEX ix_name_tokens ON name_tokens (token, kelurahan_code)")
        civil.execute("CREATE INDEX ix_name_tokens_region ON name_tokens (kelurahan_code, token)")
        for name, cols in _CIVIL_INDEXES:
            civil.execute(f"CREATE INDEX {name} ON residents ({cols})")
        for conn in (civil, welfare, health):
            conn.commit()
            conn.execute("ANALYZE")
    finally:
        for conn in (civil, welfare, health):
            conn.close()
    sources_file = out_dir / "sources.yaml"
    sources_file.write_text(_sources_yaml(), encoding="utf-8")
    columns = [name for name, _ in CIVIL_COLUMNS]
    sample_residents = [
        {
            k: str(dict(zip(columns, row, strict=True))[k])
            for k in ("nik", "full_name", "kelurahan_code", "rt", "rw")
        }
        for row in samples[:: max(1, len(samples) // 5)][:5]
    ]
    return SyntheticSummary(
        count=count,
        sources_file=sources_file,
        sample_niks=[str(row[0]) for row in samples],
        sample_residents=sample_residents,
        families=families,
        welfare_rows=n_welfare,
        health_rows=n_health,
    )

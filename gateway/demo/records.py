"""The rows each source holds of a synthetic resident: the civil registry's, the welfare
registry's (per family) and the health survey's.

Each row takes its random draws from the households' generator, in a fixed order, so
that a seed gives the same files.
"""

from __future__ import annotations

from collections.abc import Iterator

from gateway.demo.households import Households, Kelurahan, Person
from gateway.demo.names import Culture

__all__ = ["civil_row", "health_row", "welfare_rows"]

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


def civil_row(
    gen: Households,
    p: Person,
    home: Kelurahan,
    kk: str,
    culture: Culture,
    rt: str,
    rw: str,
    street: str,
) -> tuple[object, ...]:
    rng = gen.rng
    age = gen.age(p.birth)
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
    birth_place = home.city_name.removeprefix("Kota ").upper() if age < 18 else rng.choice(places)
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
        gen.name_key(p.name),
    )


def welfare_rows(gen: Households, members: list[Person]) -> Iterator[tuple[object, ...]]:
    rng = gen.rng
    decile = rng.choices(range(1, 11), (16, 15, 14, 12, 10, 9, 8, 6, 5, 5))[0]
    poor = decile <= 4
    family = (
        rng.choice(("MILIK SENDIRI", "SEWA", "KONTRAK", "BEBAS SEWA", "DINAS")),
        rng.choice(("TANAH", "SEMEN", "KERAMIK") if poor else ("KERAMIK", "GRANIT", "SEMEN")),
        rng.choice(("BAMBU", "KAYU", "TEMBOK")) if poor else "TEMBOK",
        rng.choice(("SENG", "ASBES", "GENTENG")),
        rng.choice(("SUMUR", "PDAM", "AIR KEMASAN", "MATA AIR")),
        rng.choice(("JAMBAN BERSAMA", "TIDAK ADA", "JAMBAN SENDIRI")) if poor else "JAMBAN SENDIRI",
        poor and rng.random() < 0.6,
        poor and rng.random() < 0.7,
        decile <= 5 and rng.random() < 0.8,
    )
    base_income = int(600_000 + decile * rng.randint(350_000, 700_000))
    for p in members:
        earns = p.relation in ("KEPALA KELUARGA", "ISTRI") and gen.age(p.birth) >= 18
        income = (
            base_income
            if p.relation == "KEPALA KELUARGA"
            else (rng.randrange(0, base_income // 2, 50_000) if earns else 0)
        )
        yield (p.nik, decile, *family, income)


def health_row(
    gen: Households, p: Person, disability: object, decile: int | None
) -> tuple[object, ...]:
    rng = gen.rng
    if decile is not None and decile <= 4:
        bpjs = "PBI"
    else:
        bpjs = rng.choices(
            ("KELAS 1", "KELAS 2", "KELAS 3", "PBI", "TIDAK TERDAFTAR"), (20, 25, 30, 10, 15)
        )[0]
    chronic = None
    if gen.age(p.birth) >= 30 and rng.random() < 0.3:
        chronic = "; ".join(sorted(rng.sample(_CHRONIC, rng.choice((1, 1, 2)))))
    support = rng.choice(_SUPPORT) if disability else None
    return (p.nik, bpjs, chronic, support)

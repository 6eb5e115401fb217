"""Generated names for synthetic residents: Javanese, Madurese, Muslim and Balinese parts.

Every name is assembled at random from the parts and syllables below; no list of real
people is used. The builders also reproduce what real registers contain, so that
matching is tested for real: Muhammad's spellings and abbreviations, spellings from
before 1972 for older residents, religious and academic titles (sometimes glued to the
name), Balinese birth-order names and caste titles.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

__all__ = ["Culture", "NameFactory", "old_spelling"]

Culture = str  # "javanese" | "madurese" | "muslim" | "balinese"

_JAVA_M_FIRST = (
    "Budi",
    "Agus",
    "Bambang",
    "Joko",
    "Slamet",
    "Sugeng",
    "Hadi",
    "Eko",
    "Dwi",
    "Tri",
    "Heru",
    "Wahyu",
    "Teguh",
    "Rudi",
    "Andi",
    "Bayu",
    "Dimas",
    "Arif",
    "Fajar",
    "Hendra",
    "Yudi",
    "Adi",
    "Imam",
    "Gatot",
    "Bagus",
    "Danang",
    "Yoga",
    "Anton",
    "Dedi",
    "Edi",
    "Iwan",
    "Rizky",
)
_JAVA_F_FIRST = (
    "Sri",
    "Dewi",
    "Endang",
    "Tutik",
    "Ratna",
    "Ayu",
    "Indah",
    "Puji",
    "Retno",
    "Dian",
    "Rina",
    "Eka",
    "Novi",
    "Fitri",
    "Yuli",
    "Wiwik",
    "Ninik",
    "Nanik",
    "Lilik",
    "Erna",
    "Tri",
    "Dwi",
    "Putri",
    "Anik",
    "Yeni",
    "Rini",
    "Tatik",
    "Kartika",
)
_JAVA_STEMS = (
    "su",
    "har",
    "pur",
    "wi",
    "dar",
    "mar",
    "sa",
    "kar",
    "sus",
    "pra",
    "tri",
    "han",
    "wal",
    "sar",
    "ja",
    "nga",
    "pai",
    "ba",
    "ra",
    "yu",
    "sup",
    "ku",
    "sum",
    "ru",
    "wid",
    "ta",
    "mul",
    "gu",
    "se",
    "nu",
    "san",
    "hari",
    "pri",
    "suli",
    "sis",
    "par",
    "tu",
    "wa",
    "kas",
    "ngad",
)
_JAVA_MID = ("", "", "", "a", "i", "o", "ya", "ma", "ri", "wa", "di", "na", "ra", "ka", "ti", "la")
_JAVA_M_END = (
    "to",
    "no",
    "yono",
    "jo",
    "di",
    "man",
    "min",
    "yanto",
    "wanto",
    "mo",
    "ri",
    "roso",
    "yadi",
    "tono",
    "dono",
    "jono",
    "wono",
    "harjo",
    "sono",
    "mito",
    "rjo",
    "kun",
    "pan",
)
_JAVA_F_END = (
    "tini",
    "yati",
    "ningsih",
    "wati",
    "yani",
    "ani",
    "mi",
    "nah",
    "ti",
    "sari",
    "asih",
    "rsih",
    "yem",
    "inah",
    "tun",
    "rini",
    "yanti",
)
_JAVA_M_LAST = (
    "Wibowo",
    "Prasetyo",
    "Nugroho",
    "Widodo",
    "Hartono",
    "Kurniawan",
    "Setiawan",
    "Purnomo",
    "Gunawan",
    "Susilo",
    "Priyono",
    "Sutrisno",
    "Sugiarto",
    "Raharjo",
    "Santoso",
    "Saputro",
    "Wicaksono",
    "Pamungkas",
    "Utomo",
    "Cahyono",
    "Hidayat",
    "Mulyono",
)
_JAVA_F_LAST = (
    "Rahayu",
    "Lestari",
    "Astuti",
    "Handayani",
    "Wulandari",
    "Purwanti",
    "Suryani",
    "Sulistyowati",
    "Utami",
    "Setyowati",
    "Wahyuni",
    "Kartini",
    "Ningrum",
    "Puspitasari",
    "Pratiwi",
    "Anggraini",
    "Maharani",
    "Cahyani",
)
_MUSLIM_M = (
    "Ahmad",
    "Abdul",
    "Rahman",
    "Rahmat",
    "Hidayat",
    "Fauzi",
    "Yusuf",
    "Ridwan",
    "Hasan",
    "Husain",
    "Ali",
    "Ilham",
    "Arif",
    "Syaiful",
    "Khoirul",
    "Anwar",
    "Zainal",
    "Abidin",
    "Nur",
    "Fathur",
    "Imam",
    "Mustofa",
    "Sholeh",
    "Hamid",
    "Jamal",
    "Kholil",
    "Lukman",
    "Maulana",
    "Najib",
    "Rosyid",
    "Saiful",
    "Syamsul",
    "Taufik",
    "Ubaidillah",
    "Wahid",
    "Yahya",
    "Zakaria",
    "Faisal",
    "Hafidz",
    "Ikhsan",
    "Rizal",
    "Syarifudin",
    "Amin",
)
_MUSLIM_F = (
    "Siti",
    "Fatimah",
    "Aisyah",
    "Khadijah",
    "Zahra",
    "Nurul",
    "Laila",
    "Aminah",
    "Maryam",
    "Hafizah",
    "Annisa",
    "Zulaikha",
    "Rohmah",
    "Muflikhah",
    "Khoiriyah",
    "Umi",
    "Latifah",
    "Nafisah",
    "Rofiah",
    "Sholikhah",
    "Zumrotun",
    "Ulfa",
    "Mutmainah",
    "Qomariyah",
    "Faridah",
    "Hasanah",
    "Jamilah",
    "Kholifah",
    "Maimunah",
    "Nur",
    "Aini",
    "Azizah",
    "Hidayati",
)
_MADURA_M = (
    "Matrawi",
    "Musleh",
    "Hosnan",
    "Holis",
    "Suhaimi",
    "Marsuki",
    "Masrukin",
    "Sunarto",
    "Mat",
    "Sahri",
    "Sujai",
    "Hamdan",
    "Fathorrahman",
    "Syafi'i",
    "Rasid",
    "Halili",
    "Sakrani",
    "Busiri",
    "Juhari",
    "Marzuki",
    "Tohir",
    "Sanusi",
    "Hairul",
)
_MADURA_F = (
    "Hosiyah",
    "Sitti",
    "Muna",
    "Misnati",
    "Sumiati",
    "Maryati",
    "Juma'ati",
    "Halimah",
    "Suhariyah",
    "Hotijah",
    "Marlina",
    "Rukayah",
    "Sahwati",
    "Bunati",
    "Maisaroh",
    "Nurhayati",
)
_BALI_M = (
    "Sudarma",
    "Suarta",
    "Mertha",
    "Arya",
    "Adi",
    "Budiarta",
    "Sukadana",
    "Wirawan",
    "Swastika",
    "Artawan",
    "Sudiarsa",
    "Suparta",
    "Sumerta",
    "Darmawan",
    "Widiana",
    "Wiranata",
    "Sukarya",
    "Astawa",
    "Parwata",
    "Yasa",
    "Suardana",
    "Mahendra",
    "Wijaya",
    "Kusuma",
    "Ardana",
)
_BALI_F = (
    "Sukerti",
    "Suartini",
    "Ariani",
    "Darmayanti",
    "Sudiani",
    "Kusumawati",
    "Puspitasari",
    "Wahyuni",
    "Sri",
    "Ayu",
    "Sumerti",
    "Widiastuti",
    "Artini",
    "Suryani",
    "Juliantari",
    "Mertayani",
    "Wulandari",
    "Purnamasari",
    "Sudarmi",
    "Astiti",
    "Parwati",
    "Rusmini",
)
_BALI_STEMS = ("su", "ar", "wi", "dar", "mer", "ast", "sud", "pas", "sur", "kar", "wir", "yas")
_BALI_M_END = ("arta", "adana", "diarsa", "wan", "tawa", "yasa", "ana", "ada", "ika", "arsa")
_BALI_F_END = ("tini", "yani", "ari", "asih", "warni", "adewi", "antari", "iani", "erti")
_BALI_ORDER = (
    ("Wayan", "Putu", "Gede"),
    ("Made", "Kadek", "Nengah"),
    ("Nyoman", "Komang"),
    ("Ketut",),
)
_BALI_CASTE_M = ("Ida Bagus", "Anak Agung Gede", "I Gusti Ngurah", "Cokorda", "Dewa Gede")
_BALI_CASTE_F = ("Ida Ayu", "Anak Agung Ayu", "I Gusti Ayu", "Cokorda Istri", "Desak")

_MUHAMMAD_SPELLINGS = (
    ("Muhammad", 30),
    ("Muhamad", 12),
    ("Mohammad", 10),
    ("Mochamad", 8),
    ("Mochammad", 5),
    ("Mohamad", 6),
    ("Moehammad", 2),
    ("Muchammad", 3),
    ("Moh.", 10),
    ("Moch.", 8),
    ("Mohd.", 2),
    ("M.", 8),
    ("Muh.", 3),
    ("Mukhammad", 1),
)
_PREFIX_TITLES_M = ("H.", "Drs.", "Ir.", "Dr.")
_PREFIX_TITLES_F = ("Hj.", "Dra.", "Ir.", "Dr.")
_DEGREES = ("S.Pd.", "S.H.", "S.E.", "S.Kom.", "S.T.", "M.M.", "A.Md.", "S.Sos.", "S.Ag.")


def old_spelling(name: str) -> str:
    """Write a modern-spelling name the way a register from before 1972 would.

    ``old_spelling("Joko Suyono") == "Djoko Soejono"``.
    """
    out = name.lower()
    # Placeholders keep one rewrite from feeding the next (new "c" -> old "tj" must not
    # become "tdj" when new "j" -> old "dj" runs afterwards).
    for new, mark in (
        ("ch", "\x05"),
        ("sy", "\x01"),
        ("ny", "\x02"),
        ("c", "\x03"),
        ("kh", "\x04"),
    ):
        out = out.replace(new, mark)
    out = out.replace("u", "oe").replace("j", "dj").replace("y", "j")
    for mark, old in (
        ("\x01", "sj"),
        ("\x02", "nj"),
        ("\x03", "tj"),
        ("\x04", "ch"),
        ("\x05", "ch"),
    ):
        out = out.replace(mark, old)
    return " ".join(w[:1].upper() + w[1:] for w in out.split(" "))


@dataclass(frozen=True, slots=True)
class PersonName:
    """A generated person's name: the register spelling and its culture."""

    full_name: str
    culture: Culture


class NameFactory:
    """Builds register-style names from the parts above with one seeded random source."""

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng
        self._muhammad: list[str] = [spelling for spelling, _ in _MUHAMMAD_SPELLINGS]
        self._muhammad_weights: list[int] = [weight for _, weight in _MUHAMMAD_SPELLINGS]

    def _java_token(self, female: bool) -> str:
        r = self._rng
        stem = r.choice(_JAVA_STEMS)
        end = r.choice(_JAVA_F_END if female else _JAVA_M_END)
        return (stem + r.choice(_JAVA_MID) + end).capitalize()

    def _bali_token(self, female: bool) -> str:
        r = self._rng
        end = r.choice(_BALI_F_END if female else _BALI_M_END)
        return (r.choice(_BALI_STEMS) + end).capitalize()

    def muhammad(self) -> str:
        return self._rng.choices(self._muhammad, self._muhammad_weights)[0]

    def given(self, culture: Culture, female: bool, *, birth_order: int = 1) -> str:
        """A name without titles, in modern spelling."""
        r = self._rng
        if culture == "balinese":
            parts: list[str] = []
            if r.random() < 0.12:
                parts.append(r.choice(_BALI_CASTE_F if female else _BALI_CASTE_M))
                if r.random() < 0.5:
                    parts.append(r.choice(_BALI_ORDER[min(birth_order, 4) - 1]))
            else:
                parts.append("Ni" if female else "I")
                if female and r.random() < 0.3:
                    parts.append("Luh")
                order = _BALI_ORDER[(birth_order - 1) % 4]
                parts.append(r.choice(order[:2] if female else order))
            pool: tuple[str, ...] = _BALI_F if female else _BALI_M
            parts.append(r.choice(pool) if r.random() < 0.5 else self._bali_token(female))
            if r.random() < 0.5:
                parts.append(self._bali_token(female) if r.random() < 0.6 else r.choice(pool))
            return " ".join(parts)
        if culture == "javanese":
            if r.random() < 0.3:
                return self._java_token(female)  # a single name, very common
            first = r.choice(_JAVA_F_FIRST if female else _JAVA_M_FIRST)
            rest = [self._java_token(female)]
            if r.random() < 0.4:
                rest.append(r.choice(_JAVA_F_LAST if female else _JAVA_M_LAST))
            return " ".join([first, *rest])
        if culture == "madurese":
            pool = _MADURA_F if female else _MADURA_M
            first = r.choice(pool)
            if not female and r.random() < 0.35:
                first = self.muhammad()
            elif not female and r.random() < 0.1:
                first = f"Abd. {r.choice(('Rahman', 'Rasid', 'Hamid', 'Wahid', 'Kadir'))}"
            if r.random() < 0.3:
                return first if not first.endswith(".") else f"{first} {r.choice(_MADURA_M)}"
            second = r.choice(pool) if r.random() < 0.5 else self._java_token(female)
            return f"{first} {second}"
        # muslim
        pool = _MUSLIM_F if female else _MUSLIM_M
        parts = []
        if not female and r.random() < 0.45:
            parts.append(self.muhammad())
        parts.append(r.choice(pool))
        if r.random() < 0.7 or len(parts) == 1:
            parts.append(r.choice(pool) if r.random() < 0.5 else self._java_token(female))
        return " ".join(parts)

    def register_name(
        self,
        culture: Culture,
        female: bool,
        *,
        birth_year: int,
        degree: bool,
        haji: bool,
        birth_order: int = 1,
    ) -> str:
        """A name as it stands in a register: upper case, old spelling, titles."""
        r = self._rng
        name = self.given(culture, female, birth_order=birth_order)
        if birth_year < 1965 and culture != "balinese" and r.random() < 0.35:
            name = old_spelling(name)
        elif culture == "balinese" and birth_year < 1965 and r.random() < 0.2:
            name = name.replace("Cokorda", "Tjokorda").replace("Nyoman", "Njoman")
        if haji and culture != "balinese":
            title = "Hj." if female else "H."
            name = f"{title}{name}" if r.random() < 0.3 else f"{title} {name}"
        elif degree and r.random() < 0.15:
            titles = _PREFIX_TITLES_F if female else _PREFIX_TITLES_M
            name = f"{r.choice(titles[1:])} {name}"
        if degree and r.random() < 0.6:
            deg = r.choice(_DEGREES)
            name = f"{name},{deg}" if r.random() < 0.4 else f"{name}, {deg}"
        return name.upper()

"""Generated names for synthetic residents: Javanese, Madurese, Muslim and Balinese parts.

Every name is assembled at random from the parts and syllables in ``name_parts``; no list
of real people is used. The builders also reproduce what real registers contain, so that
matching is tested for real: Muhammad's spellings and abbreviations, spellings from
before 1972 for older residents, religious and academic titles (sometimes glued to the
name), Balinese birth-order names and caste titles.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from gateway.demo import name_parts

__all__ = ["Culture", "NameFactory", "old_spelling"]

Culture = str  # "javanese" | "madurese" | "muslim" | "balinese"


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
    """Builds register-style names from ``name_parts`` with one seeded random source."""

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng
        self._muhammad: list[str] = [spelling for spelling, _ in name_parts.MUHAMMAD_SPELLINGS]
        self._muhammad_weights: list[int] = [weight for _, weight in name_parts.MUHAMMAD_SPELLINGS]

    def _java_token(self, female: bool) -> str:
        r = self._rng
        stem = r.choice(name_parts.JAVA_STEMS)
        end = r.choice(name_parts.JAVA_F_END if female else name_parts.JAVA_M_END)
        return (stem + r.choice(name_parts.JAVA_MID) + end).capitalize()

    def _bali_token(self, female: bool) -> str:
        r = self._rng
        end = r.choice(name_parts.BALI_F_END if female else name_parts.BALI_M_END)
        return (r.choice(name_parts.BALI_STEMS) + end).capitalize()

    def muhammad(self) -> str:
        return self._rng.choices(self._muhammad, self._muhammad_weights)[0]

    def given(self, culture: Culture, female: bool, *, birth_order: int = 1) -> str:
        """A name without titles, in modern spelling."""
        r = self._rng
        if culture == "balinese":
            parts: list[str] = []
            if r.random() < 0.12:
                parts.append(
                    r.choice(name_parts.BALI_CASTE_F if female else name_parts.BALI_CASTE_M)
                )
                if r.random() < 0.5:
                    parts.append(r.choice(name_parts.BALI_ORDER[min(birth_order, 4) - 1]))
            else:
                parts.append("Ni" if female else "I")
                if female and r.random() < 0.3:
                    parts.append("Luh")
                order = name_parts.BALI_ORDER[(birth_order - 1) % 4]
                parts.append(r.choice(order[:2] if female else order))
            pool: tuple[str, ...] = name_parts.BALI_F if female else name_parts.BALI_M
            parts.append(r.choice(pool) if r.random() < 0.5 else self._bali_token(female))
            if r.random() < 0.5:
                parts.append(self._bali_token(female) if r.random() < 0.6 else r.choice(pool))
            return " ".join(parts)
        if culture == "javanese":
            if r.random() < 0.3:
                return self._java_token(female)  # a single name, very common
            first = r.choice(name_parts.JAVA_F_FIRST if female else name_parts.JAVA_M_FIRST)
            rest = [self._java_token(female)]
            if r.random() < 0.4:
                rest.append(r.choice(name_parts.JAVA_F_LAST if female else name_parts.JAVA_M_LAST))
            return " ".join([first, *rest])
        if culture == "madurese":
            pool = name_parts.MADURA_F if female else name_parts.MADURA_M
            first = r.choice(pool)
            if not female and r.random() < 0.35:
                first = self.muhammad()
            elif not female and r.random() < 0.1:
                first = f"Abd. {r.choice(('Rahman', 'Rasid', 'Hamid', 'Wahid', 'Kadir'))}"
            if r.random() < 0.3:
                return (
                    first if not first.endswith(".") else f"{first} {r.choice(name_parts.MADURA_M)}"
                )
            second = r.choice(pool) if r.random() < 0.5 else self._java_token(female)
            return f"{first} {second}"
        # muslim
        pool = name_parts.MUSLIM_F if female else name_parts.MUSLIM_M
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
            titles = name_parts.PREFIX_TITLES_F if female else name_parts.PREFIX_TITLES_M
            name = f"{r.choice(titles[1:])} {name}"
        if degree and r.random() < 0.6:
            deg = r.choice(name_parts.DEGREES)
            name = f"{name},{deg}" if r.random() < 0.4 else f"{name}, {deg}"
        return name.upper()

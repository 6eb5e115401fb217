"""Normalisation of Indonesian personal names for matching by name and address.

No mature normaliser for Indonesian names exists, so the rule table lives here. Every
function is pure: a name goes in, a :class:`NormalisedName` comes out.

What the rules handle (see the project's domain notes):

* **Titles**, religious and academic, before or after the name and sometimes glued to it
  (``H.``, ``Hj.``, ``Ir.``, ``Dr.``, ``Drs.``, ``Prof.``; ``S.Pd.``, ``S.H.``, ``S.E.``,
  ``S.Kom.``, ``M.M.``, ``A.Md.`` ...): dropped. Everything after a comma is a title list.
* **Muhammad**, with its twenty-odd spellings and abbreviations (``Moh.``, ``Moch.``,
  ``Mohd.``, ``M.``): one canonical token ``muhammad``.
* **Spellings from before 1972** (``oe``/``u``, ``dj``/``j``, ``tj``/``c``, ``nj``/``ny``,
  ``sj``/``sy``, ``ch``/``kh``, old ``j`` for new ``y``): :func:`spelling_variants` produces
  both readings of a token; the matching key (:func:`match_key`) folds them into one form
  so that ``Soedjono``, ``Sudjono`` and ``Sujono`` compare equal, and so do old ``Jusuf``
  and new ``Yusuf`` without breaking new ``Joko``.
* **Balinese names**: the sex marker ``I``/``Ni``, birth-order names (Wayan, Putu, Gede,
  Made, Kadek, Nengah, Nyoman, Komang, Ketut) and caste titles (Ida Bagus, Ida Ayu,
  Anak Agung, Cokorda, I Gusti, Dewa, Desak ...) are stripped from the comparable tokens
  and kept as *weak evidence* only: thousands of people in one kelurahan are "I Made".
* **Initials**: single letters are kept as initials and match any token with that letter.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

from rapidfuzz.distance import OSA

__all__ = [
    "NormalisedName",
    "match_key",
    "normalise_name",
    "spelling_variants",
]

# Prefix titles (lower case, dots removed). "h" and "hj" only count at the start.
_PREFIX_TITLES = frozenset(
    {
        "h",
        "hj",
        "haji",
        "nyonya",
        "hajah",
        "hajjah",
        "kh",
        "ir",
        "dr",
        "drs",
        "dra",
        "drg",
        "prof",
        "ust",
        "ustadz",
        "ustad",
        "ny",
        "nn",
        "tn",
        "sdr",
        "sdri",
        "bpk",
        "ibu",
        "raden",
        "rr",
        "r",
        "ra",
        "rm",
        "rngt",
        "mas",
        "kyai",
        "kiai",
        "habib",
    }
)
# Suffix titles as token sequences (after splitting on dots and spaces).
_SUFFIX_TITLES: tuple[tuple[str, ...], ...] = tuple(
    tuple(t.split())
    for t in (
        "s pd",
        "s pd i",
        "s h",
        "s e",
        "s kom",
        "s sos",
        "s t",
        "s ag",
        "s ked",
        "s psi",
        "s ip",
        "s farm",
        "s kep",
        "s si",
        "s hum",
        "s ak",
        "s i kom",
        "s ars",
        "s gz",
        "m m",
        "m pd",
        "m si",
        "m kes",
        "m hum",
        "m kn",
        "m h",
        "m t",
        "m ag",
        "m ak",
        "a md",
        "amd",
        "a ma",
        "a md kep",
        "a md keb",
        "spd",
        "sh",
        "se",
        "skom",
        "ssos",
        "st",
        "mm",
        "mpd",
        "msi",
        "mkes",
        "mh",
        "mt",
        "sag",
        "ssi",
        "skm",
        "s km",
        "sp",
        "phd",
        "ph d",
        "mba",
        "msc",
        "bsc",
    )
)
_SUFFIX_LONGEST_FIRST = tuple(sorted(_SUFFIX_TITLES, key=len, reverse=True))
_SUFFIX_LAST = frozenset(seq[-1] for seq in _SUFFIX_TITLES)
# Muhammad's abbreviations (a spelled-out form is recognised by pattern below).
_MUHAMMAD_ABBREVIATIONS = frozenset(
    {"mhd", "moh", "moch", "mochd", "mohd", "muh", "muhd", "mch", "mad", "mukh", "much"}
)
_MUHAMMAD_PATTERN = re.compile(r"^m[uoe]+[hk]*[a]?m+[ae]+[dt]$")
_MUHAMMAD = "muhammad"

# Balinese markers: sex, birth order, caste.
_BALI_SEX = frozenset({"i", "ni", "luh"})
_BALI_ORDER = {
    "wayan": "1",
    "putu": "1",
    "gede": "1",
    "gd": "1",
    "wy": "1",
    "pt": "1",
    "made": "2",
    "kadek": "2",
    "nengah": "2",
    "md": "2",
    "kd": "2",
    "nyoman": "3",
    "komang": "3",
    "njoman": "3",
    "nym": "3",
    "kmg": "3",
    "ny": "3",
    "ketut": "4",
    "kt": "4",
    "ktut": "4",
}
_BALI_CASTE_SEQUENCES: tuple[tuple[tuple[str, ...], str], ...] = (
    (("ida", "bagus"), "ida_bagus"),
    (("ida", "ayu"), "ida_ayu"),
    (("ib",), "ida_bagus"),
    (("ia",), "ida_ayu"),
    (("anak", "agung", "ayu"), "anak_agung"),
    (("anak", "agung", "istri"), "anak_agung"),
    (("anak", "agung"), "anak_agung"),
    (("a", "a"), "anak_agung"),
    (("aa",), "anak_agung"),
    (("agung",), "anak_agung"),
    (("cokorda", "istri"), "cokorda"),
    (("tjokorda", "istri"), "cokorda"),
    (("cokorda",), "cokorda"),
    (("tjokorda",), "cokorda"),
    (("cok",), "cokorda"),
    (("tjok",), "cokorda"),
    (("gusti", "ayu"), "gusti"),
    (("gusti", "ngurah"), "gusti"),
    (("gusti", "putu"), "gusti"),
    (("gusti",), "gusti"),
    (("gst",), "gusti"),
    (("dewa", "ayu"), "dewa"),
    (("dewa", "gede"), "dewa"),
    (("dewa",), "dewa"),
    (("dw",), "dewa"),
    (("desak",), "desak"),
    (("dsk",), "desak"),
    (("ngakan",), "ngakan"),
    (("sang",), "sang"),
)
_BALI_LEADING = frozenset(
    {"i", "ni", "luh", "ida", "anak", "cokorda", "tjokorda", "gusti", "desak"}
)
# Tokens that occur so often in one block that they identify no one on their own.
_COMMON_NAMES = (_MUHAMMAD, "siti", "sitti", "nur", "nurul", "abdul", "abd", "ayu", "sri", "luh")
_CONNECTORS = frozenset({"bin", "binti", "al", "el"})

_Y_AS_I = re.compile(r"[jy](?=[^aeiou]|$)")
_DOUBLED = re.compile(r"(.)\1+")
_SPLIT = re.compile(r"[^a-z0-9]+")
_APOSTROPHES = re.compile("[`'\u2019]")
_INITIAL_FOLDS = {"z": "j", "q": "k", "v": "f", "y": "j"}
_OLD_TO_NEW = (("oe", "u"), ("dj", "j"), ("tj", "c"), ("nj", "ny"), ("sj", "sy"), ("ch", "kh"))
_VOWELS = frozenset("aeiou")


@dataclass(frozen=True, slots=True)
class NormalisedName:
    """A name reduced to what matching compares.

    ``tokens`` are the comparable name parts in their matching form (:func:`match_key`),
    initials included as single letters; ``markers`` hold the weak evidence that was
    stripped (Balinese sex, birth order and caste, e.g. ``{"order:2", "sex:i"}``).
    """

    tokens: tuple[str, ...]
    markers: frozenset[str]

    @property
    def key(self) -> str:
        """The form stored in a source's name-key column.

        Markers first, each prefixed with ``#``, then the tokens, joined by spaces:
        ``normalise_name("I Made Sudarma").key == "#order:2 #sex:i sudarma"``.
        :meth:`from_key` reads it back.
        """
        return " ".join([*(f"#{m}" for m in sorted(self.markers)), *self.tokens])

    @property
    def text(self) -> str:
        """The comparable tokens only, joined by spaces."""
        return " ".join(self.tokens)

    @classmethod
    def from_key(cls, key: str) -> NormalisedName:
        parts = key.split()
        return cls(
            tokens=tuple(p for p in parts if not p.startswith("#")),
            markers=frozenset(p[1:] for p in parts if p.startswith("#")),
        )

    @property
    def initials(self) -> tuple[str, ...]:
        return tuple(t for t in self.tokens if len(t) == 1)

    @property
    def strong_tokens(self) -> tuple[str, ...]:
        """Tokens that can single a person out: full tokens, neither common nor initials."""
        return tuple(t for t in self.tokens if len(t) >= 3 and t not in _COMMON_TOKENS)

    @property
    def is_specific(self) -> bool:
        """Whether the name carries anything beyond titles, markers and very common parts.

        Security decision: a search whose name is only "I Made", "Muhammad" or "Siti"
        would return a whole neighbourhood; callers refuse it (anti-enumeration).
        """
        return bool(self.strong_tokens)


def _fold(text: str) -> str:
    """Lower-case ASCII: accents removed, apostrophes and hyphens joined or split."""
    decomposed = unicodedata.normalize("NFKD", text)
    ascii_only = decomposed.encode("ascii", "ignore").decode("ascii").lower()
    ascii_only = _APOSTROPHES.sub("", ascii_only)
    return ascii_only


def _raw_tokens(name: str) -> list[str]:
    """Split a register name into raw tokens, dropping a comma-separated title tail."""
    folded = _fold(name)
    head = folded.split(",", 1)[0]
    return [t for t in _SPLIT.split(head) if t and not t.isdigit()]


def _strip_suffix_titles(tokens: list[str]) -> list[str]:
    while len(tokens) > 1 and tokens[-1] in _SUFFIX_LAST:
        for seq in _SUFFIX_LONGEST_FIRST:
            n = len(seq)
            if len(tokens) > n and tuple(tokens[-n:]) == seq:
                tokens = tokens[:-n]
                break
        else:
            break
    return tokens


def _strip_prefix_titles(tokens: list[str]) -> list[str]:
    while len(tokens) > 1 and tokens[0] in _PREFIX_TITLES:
        # "ny" is also a Balinese birth-order abbreviation after "I"/"Ni"; at the very
        # start it is "Nyonya" (Mrs).
        tokens = tokens[1:]
    return tokens


@lru_cache(maxsize=65_536)
def _marker_word(token: str) -> str:
    """The Balinese marker word a token stands for, or the token itself.

    Old spellings ("Goesti", "Ketoet", "Wajan") and one-letter typos of the longer
    marker words ("Negnah", "Komagn") are recognised, so that they are stripped too.
    """
    if token in _BALI_WORDS:
        return token
    key = match_key(token)
    if key in _BALI_WORD_KEYS:
        return _BALI_WORD_KEYS[key]
    if len(token) >= 4:
        for word in _BALI_LONG_WORDS:
            if abs(len(word) - len(token)) <= 1 and OSA.distance(word, token, score_cutoff=1) <= 1:
                return word
    return token


def _strip_balinese(tokens: list[str]) -> tuple[list[str], set[str]]:
    markers: set[str] = set()
    if not tokens:
        return tokens, markers
    words = [_marker_word(t) for t in tokens]
    first = words[0]
    balinese = first in _BALI_LEADING or first in _BALI_ORDER or first in _BALI_CASTE_FIRST
    if not balinese:
        return tokens, markers
    i = 0
    progressed = True
    while progressed and i < len(words):
        progressed = False
        word = words[i]
        if word in _BALI_SEX and (i == 0 or words[i - 1] == "ni"):
            markers.add(f"sex:{word}")
            i += 1
            progressed = True
            continue
        for seq, caste in _BALI_CASTE_SEQUENCES:
            n = len(seq)
            if tuple(words[i : i + n]) == seq:
                markers.add(f"caste:{caste}")
                i += n
                progressed = True
                break
        if progressed:
            continue
        order = _BALI_ORDER.get(word)
        if order and (markers or i == 0):
            markers.add(f"order:{order}")
            i += 1
            progressed = True
    return tokens[i:], markers


def spelling_variants(token: str) -> frozenset[str]:
    """Both readings of a token across the 1972 spelling reform, lower case.

    The old-to-new rewrites (``oe``→``u``, ``dj``→``j``, ``tj``→``c``, ``nj``→``ny``,
    ``sj``→``sy``, ``ch``→``kh``) and the old ``j`` that is a new ``y`` conflict with new
    ``dj``→``j``, so instead of rewriting in one direction every plausible reading is
    returned: ``spelling_variants("djoko") == {"djoko", "joko"}``,
    ``spelling_variants("jusuf") == {"jusuf", "yusuf"}``.
    """
    token = _fold(token)
    modern = token
    for old, new in _OLD_TO_NEW:
        modern = modern.replace(old, new)
    variants = {token, modern}
    # Old "j" (not part of "dj") stood for today's "y".
    if "j" in token and "dj" not in token:
        variants.add(re.sub(r"j", "y", modern))
    # A modern token may itself be written the old way in a register.
    old = modern
    for a, b in (("u", "oe"), ("j", "dj"), ("c", "tj"), ("ny", "nj"), ("sy", "sj"), ("kh", "ch")):
        old = old.replace(a, b)
    variants.add(old)
    if "y" in modern:
        variants.add(modern.replace("y", "j"))
    return frozenset(v for v in variants if v)


@lru_cache(maxsize=262_144)
def match_key(token: str) -> str:
    """The matching form of one token, folding spelling variants into one string.

    Old spellings are modernised, ``y``/``j`` are merged (a trailing or pre-consonant
    ``y`` reads ``i``), ``h`` after the first letter and doubled letters are dropped,
    ``q``→``k``, ``v``→``f``, ``z``→``j``. The result is a key, not a spelling:
    ``Achmad``, ``Akhmad`` and ``Ahmad`` all become ``amad``. Muhammad in any spelling
    becomes ``muhammad``.
    """
    t = _fold(token)
    if t in _MUHAMMAD_ABBREVIATIONS:
        return _MUHAMMAD
    if len(t) == 1:
        # An initial stays an initial, with the first-letter folds of full tokens.
        return _INITIAL_FOLDS.get(t, t)
    for old, new in _OLD_TO_NEW:
        t = t.replace(old, new)
    if _MUHAMMAD_PATTERN.match(t.replace("h", "") if len(t) > 4 else t) or _MUHAMMAD_PATTERN.match(
        t
    ):
        return _MUHAMMAD
    # y before a consonant or at the end reads "i"; elsewhere old "j" = new "y": merge.
    t = _Y_AS_I.sub("i", t)
    t = t.replace("y", "j")
    t = t.replace("q", "k").replace("v", "f").replace("z", "j").replace("x", "ks")
    # "Kh"/"Ch" at the start keeps its k (so the initial K. still matches); inside a
    # name it is an h, and inner h's are dropped below.
    if t.startswith("kh"):
        t = "k" + t[2:]
    t = t.replace("kh", "h")
    if len(t) > 1:
        t = t[0] + t[1:].replace("h", "")
    t = _DOUBLED.sub(r"\1", t)
    return t or token


def normalise_name(name: str) -> NormalisedName:
    """Reduce a register or query name to comparable tokens and weak markers.

    >>> normalise_name("H. Moch. Soedjono, S.H.").text
    'muhammad sujono'
    >>> sorted(normalise_name("I Made Sudarma").markers)
    ['order:2', 'sex:i']
    """
    tokens = _raw_tokens(name)
    tokens = _strip_suffix_titles(tokens)
    tokens = _strip_prefix_titles(tokens)
    tokens, markers = _strip_balinese(tokens)
    if len(tokens) > 1:
        tokens = [t for t in tokens if t not in _CONNECTORS] or tokens
    # A lone "M." stays an initial: it abbreviates Muhammad as often as Mutmainah or
    # Marzuki, and as an initial it matches all of them.
    keys = tuple(match_key(t) for t in tokens)
    return NormalisedName(tokens=keys, markers=frozenset(markers))


_BALI_CASTE_FIRST = frozenset(seq[0] for seq, _ in _BALI_CASTE_SEQUENCES)
_BALI_WORDS = frozenset(
    {*_BALI_SEX, *_BALI_ORDER, *(w for seq, _ in _BALI_CASTE_SEQUENCES for w in seq)}
)
# Marker words in matching form, so that old "Wajan" and "Ketoet" are recognised.
_BALI_WORD_KEYS = {match_key(w): w for w in sorted(_BALI_WORDS) if len(w) >= 3}
_BALI_LONG_WORDS = tuple(sorted(w for w in _BALI_WORDS if len(w) >= 5))
# In matching form, so that "Ayu" and "Aju" are equally common.
_COMMON_TOKENS = frozenset(match_key(t) for t in _COMMON_NAMES)

"""The 20 made-up species of the embedded birdsong dataset: names, frequency bands, syllable
repertoires, phrase rhythm and how many recordings each gets.

Everything is drawn from one fixed seed, so every machine generates the same species.
Bands are spread log-uniformly over ~1-7 kHz and are wide enough that neighbours overlap:
band alone does not identify a species; syllable shapes and rhythm have to be used too.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

SAMPLE_RATE = 16_000
SPECIES_SEED = 20_250_301
KINDS = ("sweep", "trill", "harmonic", "buzz")
MAX_FREQUENCY = 7_600.0  # keep every partial below the 8 kHz Nyquist limit

# (common name, scientific name); the eBird-like code is the first three letters of each word.
NAMES = (
    ("Amber Warbler", "Fictophylla succinea"), ("Ashy Thrush", "Pseudoturdus cinereus"),
    ("Banded Finch", "Synthospiza fasciata"), ("Crested Wren", "Fictodytes cristatus"),
    ("Dusky Tanager", "Pseudothraupis obscura"), ("Golden Vireo", "Synthovireo aureus"),
    ("Hooded Sparrow", "Fictospiza cucullata"), ("Lesser Bunting", "Pseudemberiza minor"),
    ("Marsh Pipit", "Synthanthus palustris"), ("Olive Robin", "Fictorobia olivacea"),
    ("Pale Flycatcher", "Pseudempidonax pallidus"), ("Rufous Chat", "Synthsaxicola rufa"),
    ("Scaly Babbler", "Fictotimalia squamata"), ("Spotted Lark", "Pseudalauda maculata"),
    ("Streaked Oriole", "Synthoriolus striatus"), ("Sooty Shrike", "Fictolanius fuliginosus"),
    ("Tawny Kinglet", "Pseudoregulus fulvus"), ("Velvet Cisticola", "Synthcisticola velutina"),
    ("Whistling Myna", "Fictosturnus sibilans"), ("Zebra Siskin", "Pseudospinus zebra"),
)
MOST_RECORDINGS = 60
FEWEST_RECORDINGS = 5


@dataclass(frozen=True)
class SyllableType:
    """One syllable of a species' repertoire (frequencies before per-recording pitch jitter).

    sweep: tone gliding f_start -> f_end (linear or exponential). trill: tone whose frequency
    oscillates by +-mod_depth Hz at mod_rate Hz around a centre gliding f_start -> f_end.
    harmonic: fundamental f_start -> f_end with partial amplitudes ``harmonics``. buzz: noise
    band of width mod_depth Hz around f_start -> f_end, amplitude-modulated at mod_rate Hz.
    """

    kind: str
    duration: float
    f_start: float
    f_end: float
    exponential: bool = False
    mod_rate: float = 0.0
    mod_depth: float = 0.0
    harmonics: tuple[float, ...] = ()
    gain: float = 1.0


@dataclass(frozen=True)
class Species:
    """A species: its repertoire, its phrase (a sequence of syllable-type indices) and rhythm."""

    code: str
    common_name: str
    scientific_name: str
    band: tuple[float, float]
    syllables: tuple[SyllableType, ...]
    phrase: tuple[int, ...]
    syllable_gap: float
    phrase_gap: tuple[float, float]
    num_recordings: int
    latitude: float
    longitude: float


def recording_counts(num_species: int) -> np.ndarray:
    """Long tail: counts fall geometrically from MOST to FEWEST (12x), ``[num_species]``."""
    ratios = np.linspace(0.0, 1.0, num_species)
    return np.rint(MOST_RECORDINGS * (FEWEST_RECORDINGS / MOST_RECORDINGS) ** ratios).astype(int)


def _syllable_type(kind: str, band: tuple[float, float], rng: np.random.Generator) -> SyllableType:
    lo, hi = band
    width = hi - lo
    if kind == "sweep":
        a, b = lo + width * rng.uniform(0.0, 0.3), hi - width * rng.uniform(0.0, 0.3)
        up = rng.random() < 0.5
        return SyllableType(kind, rng.uniform(0.04, 0.22), a if up else b, b if up else a,
                            exponential=bool(rng.random() < 0.5), gain=rng.uniform(0.7, 1.0))
    if kind == "trill":
        centre = lo + width * rng.uniform(0.35, 0.65)
        glide = width * rng.uniform(-0.2, 0.2)
        return SyllableType(kind, rng.uniform(0.15, 0.5), centre - glide, centre + glide,
                            mod_rate=rng.uniform(8.0, 30.0), mod_depth=width * rng.uniform(0.3, 0.5),
                            gain=rng.uniform(0.6, 0.9))
    if kind == "harmonic":
        # The fundamental sits below the band and the partials' amplitude profile peaks in it.
        f0 = lo * rng.uniform(0.4, 0.6)
        k = np.arange(1, 9)
        centre = lo + width * rng.uniform(0.3, 0.7)
        profile = np.exp(-0.5 * ((k * f0 - centre) / (0.6 * width)) ** 2) * rng.uniform(0.5, 1.0, 8)
        return SyllableType(kind, rng.uniform(0.08, 0.35), f0, f0 * rng.uniform(0.9, 1.12),
                            harmonics=tuple(np.round(profile / profile.max(), 3)), gain=rng.uniform(0.7, 1.0))
    if kind == "buzz":
        centre = lo + width * rng.uniform(0.4, 0.6)
        return SyllableType(kind, rng.uniform(0.1, 0.4), centre, centre * rng.uniform(0.95, 1.05),
                            mod_rate=rng.uniform(50.0, 200.0), mod_depth=width * rng.uniform(0.3, 0.7),
                            gain=rng.uniform(0.5, 0.8))
    raise ValueError(f"syllable kind {kind!r} is not one of {KINDS}")


def _phrase(syllables: tuple[SyllableType, ...], rng: np.random.Generator) -> tuple[int, ...]:
    """Each syllable type repeated a species-specific number of times, in a species order."""
    phrase: list[int] = []
    for t in rng.permutation(len(syllables)):
        long_syllable = syllables[t].kind in ("trill", "buzz")
        phrase += [int(t)] * int(rng.integers(1, 4) if long_syllable else rng.integers(2, 9))
    return tuple(phrase)


@lru_cache(maxsize=None)
def make_species(seed: int = SPECIES_SEED) -> tuple[Species, ...]:
    """The species list, most-recorded first."""
    rng = np.random.default_rng(seed)
    num = len(NAMES)
    # Band centres log-spaced over 1.3-6 kHz, assigned in random order so that the long tail
    # (species index) is not also a frequency ordering.
    centres = np.geomspace(1_300.0, 6_000.0, num)[rng.permutation(num)]
    counts = recording_counts(num)
    species = []
    for i, ((common, scientific), centre) in enumerate(zip(NAMES, centres)):
        half_octaves = rng.uniform(0.2, 0.45)  # half the bandwidth, in octaves
        band = (float(centre * 2**-half_octaves), float(min(centre * 2**half_octaves, MAX_FREQUENCY)))
        num_types = int(rng.integers(1, 4))
        kinds = rng.choice(KINDS, size=num_types, replace=False)
        syllables = tuple(_syllable_type(str(kind), band, rng) for kind in kinds)
        gap = rng.uniform(0.4, 1.6)
        first, last = common.split()
        species.append(Species(
            code=(first[:3] + last[:3]).lower(), common_name=common, scientific_name=scientific,
            band=band, syllables=syllables, phrase=_phrase(syllables, rng),
            syllable_gap=float(rng.uniform(0.02, 0.15)), phrase_gap=(float(gap), float(2 * gap)),
            num_recordings=int(counts[i]),
            latitude=float(rng.uniform(-40, 60)), longitude=float(rng.uniform(-120, 140)),
        ))
    codes = [s.code for s in species]
    if len(set(codes)) != len(codes):  # guards edits to NAMES
        raise ValueError(f"species codes are not unique: {codes}")
    return tuple(species)

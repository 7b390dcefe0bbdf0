"""One individual bird singing: phrases of syllables on a timeline, with per-individual
variation (pitch, tempo, syllable length) and silent stretches."""
from __future__ import annotations

import numpy as np

from .birdsong_species import Species
from .birdsong_syllables import synthesize

PITCH_JITTER = 0.03     # std of log pitch factor per individual (~3 %)
TEMPO_JITTER = 0.10     # std of log gap factor per individual
LENGTH_JITTER = 0.07    # std of log syllable-duration factor per individual
SILENCE_PROBABILITY = 0.15  # chance, after each phrase, of a silent stretch (noise only)
SILENCE_SECONDS = (1.5, 4.0)


def sing(species: Species, num_samples: int, sample_rate: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Song of one individual of ``species``.

    Returns (wave ``[num_samples]`` float64 with peak about 1, active ``[num_samples]`` bool:
    True where a syllable sounds). The first phrase starts within the first second.
    """
    pitch = np.exp(rng.normal(0.0, PITCH_JITTER))
    tempo = np.exp(rng.normal(0.0, TEMPO_JITTER))
    length = np.exp(rng.normal(0.0, LENGTH_JITTER))
    wave = np.zeros(num_samples)
    active = np.zeros(num_samples, dtype=bool)
    t = rng.uniform(0.0, 1.0)
    total = num_samples / sample_rate
    while t < total:
        phrase_gain = 10 ** (rng.uniform(-3.0, 3.0) / 20)
        for index in species.phrase:
            syllable = species.syllables[index]
            # Small per-syllable jitter on top of the individual's own pitch and timing.
            duration = syllable.duration * length * np.exp(rng.normal(0.0, 0.03))
            piece = synthesize(syllable, pitch * np.exp(rng.normal(0.0, 0.01)), duration, sample_rate, rng)
            start = int(t * sample_rate)
            stop = min(start + piece.shape[0], num_samples)
            if stop > start:
                wave[start:stop] += phrase_gain * 10 ** (rng.normal(0.0, 1.0) / 20) * piece[: stop - start]
                active[start:stop] = True
            t += duration + species.syllable_gap * tempo * np.exp(rng.normal(0.0, 0.1))
        t += rng.uniform(*species.phrase_gap) * tempo
        if rng.random() < SILENCE_PROBABILITY:
            t += rng.uniform(*SILENCE_SECONDS)
    return wave, active

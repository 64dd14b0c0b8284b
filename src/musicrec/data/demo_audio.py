"""Procedural music for the embedded demo: genres, composition and synthesis.

A track is described by a *style*: its genre plus a handful of audible factors
(tempo, brightness, percussion, mode, softness, distortion, register, the lead
instrument's FM ratio and the key). :func:`synthesize_track` turns a style into
a mono float32 waveform: a chord progression voiced by a pad/strum/arpeggio
instrument, a bass line, a motif-based melody and a synthesised drum kit
(kick, snare, hi-hat), all rendered with vectorised NumPy (two-operator FM
synthesis with per-note envelopes). Genres differ in tempo range, drum
patterns, progressions, instruments, brightness and mode, so an audio model
can hear them apart; artists and tracks vary continuously around them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import numpy as np

# The continuous factors of a style, in the order the listener model uses them.
STYLE_FACTORS = ("tempo", "brightness", "percussion", "major", "softness", "distortion", "register")

MAJOR_SCALE = (0, 2, 4, 5, 7, 9, 11)
MINOR_SCALE = (0, 2, 3, 5, 7, 8, 10)

STEPS_PER_BAR = 16  # a 4/4 bar on a sixteenth-note grid
PEAK = 0.75  # head-room below full scale: MP3 decoding overshoots the input peak a little

_STEP_SYMBOLS = {".": 0.0, "-": 0.25, "o": 0.5, "x": 1.0}


def _pattern(text: str) -> tuple[float, ...]:
    """A 16-step pattern written as text: ``x`` always, ``o`` half the time, ``-`` ghost, ``.`` never."""
    if len(text) != STEPS_PER_BAR or set(text) - set(_STEP_SYMBOLS):
        raise ValueError(f"step pattern {text!r} must be {STEPS_PER_BAR} characters of {''.join(_STEP_SYMBOLS)}")
    return tuple(_STEP_SYMBOLS[symbol] for symbol in text)


@dataclass(frozen=True)
class GenreStyle:
    """What makes a genre sound like itself.

    Continuous centres (``brightness`` … ``register``, all in [0, 1]) are where
    the genre's artists are drawn around; patterns are 16-step probabilities;
    progressions are scale degrees, one chord per bar.
    """

    name: str
    tempo_bpm: tuple[float, float]  # centre, spread between artists
    brightness: float
    percussion: float
    major_probability: float
    softness: float
    distortion: float
    register: float
    swing: float
    kick: tuple[float, ...]
    snare: tuple[float, ...]
    hat: tuple[float, ...]
    hat_decay_s: float
    progressions: tuple[tuple[int, ...], ...]
    chord_size: int  # 2: power chord (root, fifth, octave); 3: triad; 4: seventh chord
    chord_steps: tuple[float, ...]
    chord_length_steps: int
    arpeggio: bool  # chords played one tone at a time, cycling upwards
    bass_steps: tuple[float, ...]
    bass_length_steps: int
    walking_bass: bool
    melody_lengths: tuple[int, ...]  # note lengths in sixteenths, drawn uniformly
    melody_rest: float
    lead_ratios: tuple[float, ...]  # FM modulator:carrier ratios an artist's lead instrument is drawn from
    lead_sustain: float  # 0: plucked (decays to silence), 1: held
    lead_decay_s: float
    chord_ratio: float
    subgenres: tuple[str, ...]
    acoustic: bool


GENRES: dict[str, GenreStyle] = {
    style.name: style
    for style in (
        GenreStyle(
            name="rock", tempo_bpm=(124.0, 10.0), brightness=0.6, percussion=0.75,
            major_probability=0.6, softness=0.2, distortion=0.35, register=0.5, swing=0.0,
            kick=_pattern("x.......x.o....."), snare=_pattern("....x.......x..."),
            hat=_pattern("x.x.x.x.x.x.x.x."), hat_decay_s=0.05,
            progressions=((0, 4, 5, 3), (0, 3, 4, 3), (0, 5, 3, 4)), chord_size=3,
            chord_steps=_pattern("x...x...x...x..."), chord_length_steps=4, arpeggio=False,
            bass_steps=_pattern("x.x.x.x.x.x.x.x."), bass_length_steps=2, walking_bass=False,
            melody_lengths=(2, 4, 4, 8), melody_rest=0.15, lead_ratios=(1.0, 2.0),
            lead_sustain=0.6, lead_decay_s=0.5, chord_ratio=1.0,
            subgenres=("indie rock", "alternative rock", "classic rock"), acoustic=False,
        ),
        GenreStyle(
            name="electronic", tempo_bpm=(126.0, 4.0), brightness=0.75, percussion=0.9,
            major_probability=0.35, softness=0.15, distortion=0.1, register=0.65, swing=0.0,
            kick=_pattern("x...x...x...x..."), snare=_pattern("....x.......x..."),
            hat=_pattern("-.x.-.x.-.x.-.x."), hat_decay_s=0.04,
            progressions=((5, 3, 0, 4), (0, 5, 3, 4), (0, 0, 5, 6)), chord_size=3,
            chord_steps=_pattern("..x...x...x...x."), chord_length_steps=1, arpeggio=False,
            bass_steps=_pattern("..x...x...x...x."), bass_length_steps=2, walking_bass=False,
            melody_lengths=(1, 2, 2, 4), melody_rest=0.2, lead_ratios=(1.0, 0.5, 3.0),
            lead_sustain=0.8, lead_decay_s=0.3, chord_ratio=1.0,
            subgenres=("house", "techno", "synthpop"), acoustic=False,
        ),
        GenreStyle(
            name="jazz", tempo_bpm=(132.0, 22.0), brightness=0.35, percussion=0.4,
            major_probability=0.5, softness=0.4, distortion=0.0, register=0.55, swing=0.6,
            kick=_pattern("x.........o....."), snare=_pattern("......-.....-..o"),
            hat=_pattern("x...x.x.x...x.x."), hat_decay_s=0.18,
            progressions=((1, 4, 0, 0), (0, 5, 1, 4), (2, 5, 1, 4)), chord_size=4,
            chord_steps=_pattern("x.....x...o....."), chord_length_steps=3, arpeggio=False,
            bass_steps=_pattern("x...x...x...x..."), bass_length_steps=4, walking_bass=True,
            melody_lengths=(2, 2, 3, 4, 6), melody_rest=0.2, lead_ratios=(1.0, 4.0),
            lead_sustain=0.3, lead_decay_s=0.6, chord_ratio=1.0,
            subgenres=("bebop", "smooth jazz", "cool jazz"), acoustic=True,
        ),
        GenreStyle(
            name="classical", tempo_bpm=(84.0, 12.0), brightness=0.35, percussion=0.0,
            major_probability=0.65, softness=0.7, distortion=0.0, register=0.6, swing=0.0,
            kick=_pattern("................"), snare=_pattern("................"),
            hat=_pattern("................"), hat_decay_s=0.05,
            progressions=((0, 3, 4, 0), (0, 5, 1, 4), (0, 4, 5, 2)), chord_size=3,
            chord_steps=_pattern("x.x.x.x.x.x.x.x."), chord_length_steps=2, arpeggio=True,
            bass_steps=_pattern("x.......x......."), bass_length_steps=8, walking_bass=False,
            melody_lengths=(2, 4, 4, 8), melody_rest=0.1, lead_ratios=(1.0, 2.0),
            lead_sustain=0.9, lead_decay_s=1.5, chord_ratio=1.0,
            subgenres=("baroque", "romantic", "string quartet"), acoustic=True,
        ),
        GenreStyle(
            name="hiphop", tempo_bpm=(90.0, 5.0), brightness=0.3, percussion=0.85,
            major_probability=0.25, softness=0.3, distortion=0.05, register=0.3, swing=0.15,
            kick=_pattern("x......x..x....."), snare=_pattern("....x.......x..."),
            hat=_pattern("x-x-x-x-x-x-x-x-"), hat_decay_s=0.03,
            progressions=((0, 0, 5, 5), (0, 3, 0, 4), (0, 5, 3, 3)), chord_size=3,
            chord_steps=_pattern("x.......x......."), chord_length_steps=8, arpeggio=False,
            bass_steps=_pattern("x......x..x....."), bass_length_steps=3, walking_bass=False,
            melody_lengths=(2, 4, 6), melody_rest=0.3, lead_ratios=(1.0, 0.5),
            lead_sustain=0.5, lead_decay_s=0.4, chord_ratio=1.0,
            subgenres=("boom bap", "trap", "rap"), acoustic=False,
        ),
        GenreStyle(
            name="ambient", tempo_bpm=(68.0, 6.0), brightness=0.15, percussion=0.05,
            major_probability=0.5, softness=0.95, distortion=0.0, register=0.45, swing=0.0,
            kick=_pattern("o..............."), snare=_pattern("................"),
            hat=_pattern("................"), hat_decay_s=0.05,
            progressions=((0, 3), (0, 5), (0, 4, 5, 3)), chord_size=4,
            chord_steps=_pattern("x..............."), chord_length_steps=16, arpeggio=False,
            bass_steps=_pattern("x..............."), bass_length_steps=16, walking_bass=False,
            melody_lengths=(8, 12, 16), melody_rest=0.3, lead_ratios=(2.0, 0.5, 3.5),
            lead_sustain=0.7, lead_decay_s=2.0, chord_ratio=2.0,
            subgenres=("drone", "new age", "chillout"), acoustic=False,
        ),
        GenreStyle(
            name="folk", tempo_bpm=(106.0, 10.0), brightness=0.45, percussion=0.3,
            major_probability=0.8, softness=0.1, distortion=0.0, register=0.55, swing=0.0,
            kick=_pattern("x.......x......."), snare=_pattern("....o.......o..."),
            hat=_pattern("x-x-x-x-x-x-x-x-"), hat_decay_s=0.03,
            progressions=((0, 3, 4, 0), (0, 4, 5, 3), (0, 3, 0, 4)), chord_size=3,
            chord_steps=_pattern("x.x.x.x.x.x.x.x."), chord_length_steps=3, arpeggio=True,
            bass_steps=_pattern("x.......x......."), bass_length_steps=6, walking_bass=False,
            melody_lengths=(2, 4, 4, 8), melody_rest=0.15, lead_ratios=(1.0, 3.0),
            lead_sustain=0.0, lead_decay_s=0.7, chord_ratio=1.0,
            subgenres=("singer-songwriter", "americana", "indie folk"), acoustic=True,
        ),
        GenreStyle(
            name="metal", tempo_bpm=(172.0, 12.0), brightness=0.9, percussion=1.0,
            major_probability=0.15, softness=0.1, distortion=0.9, register=0.35, swing=0.0,
            kick=_pattern("xoxoxoxoxoxoxoxo"), snare=_pattern("....x.......x..."),
            hat=_pattern("x.x.x.x.x.x.x.x."), hat_decay_s=0.12,
            progressions=((0, 5, 6, 0), (0, 0, 5, 6), (0, 1, 0, 6)), chord_size=2,
            chord_steps=_pattern("x.x.x.x.x.x.x.x."), chord_length_steps=2, arpeggio=False,
            bass_steps=_pattern("x.x.x.x.x.x.x.x."), bass_length_steps=2, walking_bass=False,
            melody_lengths=(1, 2, 2, 4), melody_rest=0.1, lead_ratios=(1.0,),
            lead_sustain=0.9, lead_decay_s=0.5, chord_ratio=1.0,
            subgenres=("thrash metal", "death metal", "heavy metal"), acoustic=False,
        ),
    )
}


def genre_centre_style(genre: str, key: int = 0) -> dict[str, object]:
    """The style at the centre of ``genre`` (first lead instrument, given key): a dict for :func:`synthesize_track`."""
    centre = _genre(genre)
    return {
        "genre": genre,
        "key": key,
        "major": centre.major_probability >= 0.5,
        "tempo": centre.tempo_bpm[0],
        "brightness": centre.brightness,
        "percussion": centre.percussion,
        "softness": centre.softness,
        "distortion": centre.distortion,
        "register": centre.register,
        "lead_ratio": centre.lead_ratios[0],
    }


def _genre(name: str) -> GenreStyle:
    if name not in GENRES:
        raise KeyError(f"unknown genre {name!r}; expected one of {sorted(GENRES)}")
    return GENRES[name]


# --------------------------------------------------------------------------- composition


@dataclass(frozen=True)
class Notes:
    """A monophonic line of ``m`` events, each sounding ``k`` pitches at once (a chord when k > 1)."""

    onset_s: np.ndarray  # (m,) strictly increasing
    length_s: np.ndarray  # (m,) held time before the release
    pitch: np.ndarray  # (m, k) MIDI note numbers
    velocity: np.ndarray  # (m,) in (0, 1]


@dataclass(frozen=True)
class Hits:
    """Drum hits of one instrument: onsets (strictly increasing) and velocities, both (m,)."""

    onset_s: np.ndarray
    velocity: np.ndarray


@dataclass(frozen=True)
class Score:
    """One track's composition: three pitched lines and three drums."""

    melody: Notes
    chords: Notes
    bass: Notes
    kick: Hits
    snare: Hits
    hat: Hits


class _Grid:
    """Maps sixteenth-note steps to seconds, with swing on the off-beat eighths."""

    def __init__(self, tempo_bpm: float, swing: float):
        self.step_s = 60.0 / tempo_bpm / 4.0
        self.swing = swing

    def seconds(self, step: np.ndarray) -> np.ndarray:
        step = np.asarray(step, dtype=np.float64)
        offbeat_eighth = (np.floor(step) % 4) == 2
        return (step + offbeat_eighth * self.swing * 0.66) * self.step_s


def _scale_pitch(degree: np.ndarray, tonic_midi: int, major: bool) -> np.ndarray:
    """MIDI pitch of scale ``degree`` (any integer; 7 is the octave) above ``tonic_midi``."""
    scale = np.asarray(MAJOR_SCALE if major else MINOR_SCALE)
    degree = np.asarray(degree)
    return tonic_midi + 12 * (degree // 7) + scale[degree % 7]


def _chord_degrees(root_degree: int, chord_size: int) -> np.ndarray:
    if chord_size == 2:  # power chord: root, fifth, octave
        return np.array([root_degree, root_degree + 4, root_degree + 7])
    return root_degree + 2 * np.arange(chord_size)  # stacked thirds


def _strikes(pattern: tuple[float, ...], n_bars: int, density: float, rng: np.random.Generator) -> np.ndarray:
    """Steps (absolute, sorted) where a pattern fires; ghost steps (p < 0.5) scale with ``density``."""
    probability = np.asarray(pattern)
    probability = np.where(probability >= 0.5, probability, probability * 2.0 * density)
    fires = rng.random((n_bars, STEPS_PER_BAR)) < probability
    bar, step = np.nonzero(fires)
    return bar * STEPS_PER_BAR + step


def _compose_melody(
    genre: GenreStyle, chord_roots: np.ndarray, n_bars: int, tonic_midi: int, major: bool, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A melody in an AA'BA form of two-bar motifs; strong-beat notes land on chord tones.

    Returns start steps, lengths in steps, MIDI pitches and velocities, each (m,).
    """
    motif_steps = 2 * STEPS_PER_BAR

    def new_motif() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        starts, lengths = [], []
        position = 0
        while position < motif_steps:
            length = int(rng.choice(genre.melody_lengths))
            if rng.random() >= genre.melody_rest:
                starts.append(position)
                lengths.append(min(length, motif_steps - position))
            position += length
        if not starts:  # a motif of only rests would leave the track without a tune
            starts, lengths = [0], [min(genre.melody_lengths)]
        contour = np.cumsum(rng.choice([-2, -1, -1, 1, 1, 2], size=len(starts)))
        return np.array(starts), np.array(lengths), contour - contour[0]

    motif_a, motif_b = new_motif(), new_motif()
    varied = motif_a[2].copy()
    changed = rng.random(len(varied)) < 0.3
    varied[changed] += rng.choice([-1, 1], size=int(changed.sum()))
    motif_a_varied = (motif_a[0], motif_a[1], varied)
    form = (motif_a, motif_a_varied, motif_b, motif_a)

    starts, lengths, degrees = [], [], []
    for section in range(int(np.ceil(n_bars / 2))):
        section_starts, section_lengths, contour = form[section % len(form)]
        absolute = section * motif_steps + section_starts
        bar = np.minimum(absolute // STEPS_PER_BAR, n_bars - 1)
        degree = 7 + chord_roots[bar] % 7 + contour  # an octave above the tonic, starting on the chord root
        degree = np.clip(degree, 2, 14)
        on_beat = absolute % 4 == 0
        # Strong beats snap to the nearest tone of the bar's triad so the tune fits the harmony.
        chord_tones = chord_roots[bar][:, None] + np.array([0, 2, 4, 7, 9, 11])[None, :]
        nearest = chord_tones[np.arange(len(degree)), np.argmin(np.abs(chord_tones - degree[:, None]), axis=1)]
        degrees.append(np.where(on_beat, nearest, degree))
        starts.append(absolute)
        lengths.append(section_lengths)
    starts_all = np.concatenate(starts)
    keep = starts_all < n_bars * STEPS_PER_BAR
    pitches = _scale_pitch(np.concatenate(degrees)[keep], tonic_midi, major)
    velocity = np.where(starts_all[keep] % 4 == 0, 1.0, 0.8) * rng.uniform(0.85, 1.0, size=int(keep.sum()))
    return starts_all[keep], np.concatenate(lengths)[keep], pitches, velocity


def _compose_bass(
    genre: GenreStyle, chord_roots: np.ndarray, n_bars: int, tonic_midi: int, major: bool, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Bass steps and MIDI pitches: chord roots, or a walk through chord and passing tones."""
    steps = _strikes(genre.bass_steps, n_bars, 1.0, rng)
    bar = steps // STEPS_PER_BAR
    degree = chord_roots[bar].copy()
    if genre.walking_bass:
        beat = (steps % STEPS_PER_BAR) // 4
        walk = np.array([0, 2, 4, 5])[beat] + rng.choice([0, 0, 1, -1], size=len(steps))
        degree = degree + np.where(beat == 0, 0, walk)
    return steps, _scale_pitch(degree, tonic_midi - 24, major)


def compose(style: Mapping[str, object], seconds: float, rng: np.random.Generator) -> Score:
    """Write the notes and drum hits of one track of ``seconds`` for ``style`` (see :func:`synthesize_track`)."""
    genre = _genre(str(style["genre"]))
    tempo = float(style["tempo"])
    major = bool(style["major"])
    key = int(style["key"])
    register = float(style["register"])
    percussion = float(style["percussion"])
    grid = _Grid(tempo, genre.swing)
    n_bars = int(np.ceil(seconds / (STEPS_PER_BAR * grid.step_s))) + 1

    progression = np.asarray(genre.progressions[int(rng.integers(len(genre.progressions)))])
    chord_roots = progression[np.arange(n_bars) % len(progression)]
    tonic_midi = 48 + key  # C3 .. B3
    lead_tonic = tonic_midi + int(round((register - 0.5) * 24))  # register moves the tune up to an octave either way

    def jitter(count: int) -> np.ndarray:
        return rng.normal(0.0, 0.004, size=count)  # human timing, a few milliseconds

    start, length, pitch, velocity = _compose_melody(genre, chord_roots, n_bars, lead_tonic, major, rng)
    melody = Notes(
        grid.seconds(start) + jitter(len(start)), length * grid.step_s, pitch[:, None].astype(float), velocity
    )

    chord_steps = _strikes(genre.chord_steps, n_bars, 1.0, rng)
    chord_bar = chord_steps // STEPS_PER_BAR
    tones = np.stack([_chord_degrees(int(root), genre.chord_size) for root in chord_roots])[chord_bar]
    if genre.arpeggio:  # one tone per strike, cycling up through the chord
        tones = tones[np.arange(len(chord_steps)), np.arange(len(chord_steps)) % tones.shape[1]][:, None]
    chord_velocity = np.where(chord_steps % 4 == 0, 1.0, 0.8)
    chords = Notes(
        grid.seconds(chord_steps) + jitter(len(chord_steps)),
        np.full(len(chord_steps), genre.chord_length_steps * grid.step_s),
        _scale_pitch(tones, tonic_midi, major).astype(float),
        chord_velocity,
    )

    bass_steps, bass_pitch = _compose_bass(genre, chord_roots, n_bars, tonic_midi, major, rng)
    bass = Notes(
        grid.seconds(bass_steps) + jitter(len(bass_steps)),
        np.full(len(bass_steps), genre.bass_length_steps * grid.step_s),
        bass_pitch[:, None].astype(float),
        np.where(bass_steps % 4 == 0, 1.0, 0.85),
    )

    def drum(pattern: tuple[float, ...]) -> Hits:
        steps = _strikes(pattern, n_bars, percussion, rng)
        accent = np.where(steps % 4 == 0, 1.0, 0.7) * rng.uniform(0.8, 1.0, size=len(steps))
        return Hits(grid.seconds(steps) + jitter(len(steps)), accent)

    return Score(melody, chords, bass, drum(genre.kick), drum(genre.snare), drum(genre.hat))


# --------------------------------------------------------------------------- synthesis


@dataclass(frozen=True)
class Timbre:
    """A two-operator FM instrument and its envelope (times in seconds)."""

    ratio: float  # modulator frequency / carrier frequency
    index: float  # peak modulation index: more index, more (brighter) partials
    index_floor: float  # fraction of the index left once the note has decayed
    index_decay_s: float
    attack_s: float
    decay_s: float
    sustain: float
    release_s: float


def _segments(
    onset_s: np.ndarray, n_samples: int, sample_rate: int
) -> tuple[np.ndarray, int, np.ndarray, np.ndarray, np.ndarray]:
    """Which event sounds at each sample from the first onset on, and since when.

    ``onset_s`` (m,) should be increasing. Events that start on the same
    sample as an earlier one, or after the end, are dropped. Returns the mask of
    kept events (m,), the first onset sample, the kept onset samples (m',),
    how many samples each kept event lasts (m',; ``np.repeat(per_event,
    lengths)`` spreads a per-event value over the samples, much faster than
    fancy indexing) and the seconds since the sounding event's onset for every
    sample from the first onset on (float32, (n_samples - first,)).
    """
    onset = np.clip(np.round(np.asarray(onset_s, dtype=np.float64) * sample_rate), 0, None).astype(np.int64)
    # An event jittered backwards collapses onto its predecessor (and is dropped below).
    onset = np.maximum.accumulate(onset) if len(onset) else onset
    keep = np.concatenate([[True], np.diff(onset) > 0])[: len(onset)] & (onset < n_samples)
    onset = onset[keep]
    if len(onset) == 0:
        return keep, n_samples, onset, onset, np.zeros(0, np.float32)
    lengths = np.diff(np.append(onset, n_samples))
    since = np.arange(onset[0], n_samples, dtype=np.float32)  # sample numbers < 2**24 are exact in float32
    since -= np.repeat(onset.astype(np.float32), lengths)
    since *= np.float32(1.0 / sample_rate)
    return keep, int(onset[0]), onset, lengths, since


def _decay(since: np.ndarray, time_constant_s: float) -> np.ndarray:
    """exp(-since / time_constant_s), float32."""
    out = since * np.float32(-1.0 / time_constant_s)
    return np.exp(out, out=out)


def render_notes(notes: Notes, timbre: Timbre, n_samples: int, sample_rate: int) -> np.ndarray:
    """FM-synthesise a monophonic line (each event may sound several pitches); float32 (n_samples,)."""
    out = np.zeros(n_samples, dtype=np.float32)
    keep, first, onset, lengths, since = _segments(notes.onset_s, n_samples, sample_rate)
    if len(onset) == 0:
        return out
    f32 = np.float32

    def per_sample(per_event: np.ndarray) -> np.ndarray:
        return np.repeat(per_event.astype(np.float32), lengths)

    pitch = np.asarray(notes.pitch, dtype=np.float64)[keep]
    held_s = np.asarray(notes.length_s, dtype=np.float32)[keep]
    velocity = np.asarray(notes.velocity, dtype=np.float32)[keep]
    gap_s = lengths / sample_rate

    envelope = since * f32(1.0 / timbre.attack_s)
    np.minimum(envelope, f32(1.0), out=envelope)
    envelope *= per_sample(velocity)
    decay = _decay(since, timbre.decay_s)
    decay *= f32(1.0 - timbre.sustain)
    decay += f32(timbre.sustain)
    envelope *= decay
    released = since - per_sample(held_s)
    np.maximum(released, f32(0.0), out=released)
    envelope *= _decay(released, timbre.release_s)
    # Fade out just before the next onset so a retriggered note does not click.
    fade = per_sample(gap_s)
    fade -= since
    fade *= f32(1.0 / 0.006)
    np.clip(fade, f32(0.0), f32(1.0), out=fade)
    envelope *= fade
    index = _decay(since, timbre.index_decay_s)
    index *= f32(timbre.index * (1.0 - timbre.index_floor))
    index += f32(timbre.index * timbre.index_floor)

    angular = 2 * np.pi * 440.0 * 2.0 ** ((pitch - 69.0) / 12.0)  # (m, k) rad/s
    two_pi = f32(2 * np.pi)
    voice = out[first:]
    for tone in range(angular.shape[1]):
        # Carry the phase across events so a change of pitch is continuous.
        phase_gained = np.cumsum(angular[:-1, tone] * np.diff(onset) / sample_rate)
        phase_at_onset = np.concatenate([[0.0], phase_gained]) % (2 * np.pi)
        carrier = since * per_sample(angular[:, tone])
        carrier += per_sample(phase_at_onset)
        carrier -= two_pi * np.floor(carrier * f32(1.0 / (2 * np.pi)))  # keep sin's argument small for float32
        modulator = np.sin(carrier * f32(timbre.ratio))
        modulator *= index
        modulator += carrier
        voice += np.sin(modulator, out=modulator)
    voice *= envelope
    voice *= f32(1.0 / angular.shape[1])
    return out


def render_drums(
    score: Score, hat_decay_s: float, hat_level: float, n_samples: int, sample_rate: int, rng: np.random.Generator
) -> np.ndarray:
    """Kick (pitch-swept sine), snare (noise + tone) and hi-hat (high-passed noise); float32 (n_samples,)."""
    out = np.zeros(n_samples, dtype=np.float32)
    noise = rng.standard_normal(n_samples, dtype=np.float32)
    f32 = np.float32

    def struck(hits: Hits) -> tuple[int, np.ndarray, np.ndarray]:
        """First onset sample, per-sample velocity and seconds since the last hit."""
        keep, first, _, lengths, since = _segments(hits.onset_s, n_samples, sample_rate)
        return first, np.repeat(np.asarray(hits.velocity, dtype=np.float32)[keep], lengths), since

    first, velocity, since = struck(score.kick)
    if len(since):
        # The kick's pitch falls from ~160 Hz to 48 Hz; its phase is the integral of that sweep.
        sweep = _decay(since, 0.03)
        sweep *= f32(-110.0 * 0.03)
        sweep += f32(110.0 * 0.03) + f32(48.0) * since
        kick = np.sin(sweep * f32(2 * np.pi))
        kick *= _decay(since, 0.22)
        kick *= velocity
        out[first:] += kick
    first, velocity, since = struck(score.snare)
    if len(since):
        snare = np.sin(f32(2 * np.pi * 185.0) * since)
        snare *= _decay(since, 0.05)
        rattle = noise[first:] * f32(0.5)
        rattle *= _decay(since, 0.09)
        snare += rattle
        snare *= velocity
        out[first:] += f32(0.6) * snare
    first, velocity, since = struck(score.hat)
    if len(since):
        hat = np.diff(noise, prepend=f32(0.0))[first:]  # first difference: a cheap high-pass
        hat *= _decay(since, hat_decay_s)
        hat *= velocity
        out[first:] += f32(hat_level) * hat
    return out


def _unit_rms(signal: np.ndarray) -> np.ndarray:
    rms = float(np.sqrt(np.mean(signal.astype(np.float64) ** 2)))
    return signal / np.float32(rms) if rms > 1e-9 else signal


def _distort(signal: np.ndarray, amount: float) -> np.ndarray:
    """Soft clipping (tanh) for overdriven guitars; ``amount`` 0 leaves the signal clean."""
    if amount <= 0.01:
        return signal
    drive = np.float32(1.0 + 10.0 * amount)
    peak = np.float32(max(float(np.max(np.abs(signal))), 1e-9))
    return np.tanh(drive * signal / peak) / np.tanh(drive)


def synthesize_track(
    style: Mapping[str, object], seconds: float, sample_rate: int, rng: np.random.Generator
) -> np.ndarray:
    """Compose and render one track.

    ``style`` holds ``genre`` (a key of :data:`GENRES`), ``key`` (0-11),
    ``major`` (bool), ``tempo`` (BPM), ``brightness``, ``percussion``,
    ``softness``, ``distortion``, ``register`` (each in [0, 1]) and
    ``lead_ratio`` (FM ratio of the lead); a catalogue row works as is.
    Returns mono float32 of ``round(seconds * sample_rate)`` samples, peak
    :data:`PEAK`, finite.
    """
    genre = _genre(str(style["genre"]))
    n_samples = int(round(seconds * sample_rate))
    brightness = float(style["brightness"])
    softness = float(style["softness"])
    distortion = float(style["distortion"])
    percussion = float(style["percussion"])
    score = compose(style, seconds, rng)

    lead = Timbre(
        ratio=float(style["lead_ratio"]), index=0.4 + 3.6 * brightness, index_floor=0.35, index_decay_s=0.25,
        attack_s=0.004 + 0.25 * softness**2, decay_s=genre.lead_decay_s, sustain=genre.lead_sustain,
        release_s=0.05 + 0.4 * softness,
    )
    chord = Timbre(
        ratio=genre.chord_ratio, index=0.2 + 2.8 * brightness, index_floor=0.3, index_decay_s=0.3,
        attack_s=0.004 + 0.8 * softness**2, decay_s=0.4 + 2.0 * softness, sustain=0.2 + 0.7 * softness,
        release_s=0.05 + 1.0 * softness,
    )
    bass = Timbre(
        ratio=1.0, index=0.3 + 1.5 * brightness, index_floor=0.2, index_decay_s=0.15,
        attack_s=0.004 + 0.2 * softness**2, decay_s=0.35, sustain=0.5, release_s=0.06,
    )
    melody_signal = _distort(render_notes(score.melody, lead, n_samples, sample_rate), 0.5 * distortion)
    chord_signal = _distort(render_notes(score.chords, chord, n_samples, sample_rate), distortion)
    bass_signal = render_notes(score.bass, bass, n_samples, sample_rate)
    mix = _unit_rms(melody_signal) + 0.7 * _unit_rms(chord_signal) + 0.7 * _unit_rms(bass_signal)
    if percussion > 0.02:
        hat_level = 0.1 + 0.4 * brightness  # cymbals are much of what makes a mix sound bright
        drums = render_drums(score, genre.hat_decay_s, hat_level, n_samples, sample_rate, rng)
        mix += np.float32(1.6 * percussion) * _unit_rms(drums)

    fade = min(n_samples, int(0.05 * sample_rate))  # no click at the cut-off end
    mix[n_samples - fade:] *= np.linspace(1.0, 0.0, fade, dtype=np.float32)
    peak = float(np.max(np.abs(mix)))
    if not np.isfinite(peak) or peak <= 0.0:
        raise FloatingPointError(f"synthesised {style['genre']!r} track is silent or not finite (peak {peak})")
    return (mix * np.float32(PEAK / peak)).astype(np.float32)

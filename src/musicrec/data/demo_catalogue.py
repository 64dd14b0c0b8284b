"""Invented artists, albums and tracks for the embedded demo.

:func:`make_catalogue` draws artists (each with a style around its genre's
centre in :data:`musicrec.data.demo_audio.GENRES`), gives them albums and
tracks (each varying around its artist), names, genres, tags and popularity.
Everything is drawn from the generator it is given, so a seed fixes it.
"""

from __future__ import annotations

import string

import numpy as np
import pandas as pd

from musicrec.data.demo_audio import GENRES

ALPHANUMERIC = np.array(list(string.digits + string.ascii_letters))
TRACK_ID_LENGTH = 16
SPOTIFY_ID_LENGTH = 22

# How far artists stray from their genre's centre, and tracks from their artist.
ARTIST_SPREAD = 0.08
TRACK_SPREAD = 0.05
TINY_POPULARITY_SHARE = 0.1  # tracks almost nobody plays
TINY_POPULARITY_FACTOR = 0.02
LONG_FORM_GENRES = ("ambient", "classical")
SONG_LENGTH_MS = {False: (150_000, 300_000), True: (240_000, 480_000)}  # uniform range, by long form or not


def random_ids(count: int, length: int, rng: np.random.Generator, prefix: str = "") -> list[str]:
    """``count`` distinct ids of ``prefix`` + ``length`` random letters and digits."""
    ids: list[str] = []
    seen: set[str] = set()
    while len(ids) < count:
        for letters in ALPHANUMERIC[rng.integers(len(ALPHANUMERIC), size=(count - len(ids), length))]:
            candidate = prefix + "".join(letters)
            if candidate not in seen:
                seen.add(candidate)
                ids.append(candidate)
    return ids


# --------------------------------------------------------------------------- names

_ADJECTIVES = (
    "Silver", "Hollow", "Crimson", "Quiet", "Electric", "Golden", "Broken", "Velvet", "Distant", "Wild",
    "Frozen", "Neon", "Paper", "Midnight", "Lonely", "Burning", "Gentle", "Iron", "Blue", "Restless",
)
_NOUNS = (
    "Owl", "River", "Harbour", "Signal", "Garden", "Lantern", "Mirror", "Comet", "Valley", "Engine",
    "Sparrow", "Tide", "Circuit", "Meadow", "Storm", "Atlas", "Ember", "Canyon", "Echo", "Orchard",
)
_FIRST_NAMES = (
    "Marta", "Jonas", "Aiko", "Tomas", "Lena", "Ravi", "Ines", "Oskar", "Nadia", "Felix",
    "Clara", "Mateo", "Yara", "Emil", "Sofia", "Kwame", "Hana", "Leon", "Vera", "Idris",
)
_SURNAMES = (
    "Kell", "Moreau", "Takeda", "Lindqvist", "Okafor", "Brandt", "Silva", "Novak", "Hale", "Rossi",
    "Varga", "Quinn", "Falk", "Mendes", "Aalto", "Dubois", "Petrov", "Stone", "Weller", "Costa",
)


def _pick(words: tuple[str, ...], rng: np.random.Generator) -> str:
    return words[int(rng.integers(len(words)))]


def _plural(noun: str) -> str:
    return noun + ("es" if noun.endswith(("o", "h", "s")) else "s")


def _artist_name(rng: np.random.Generator) -> str:
    form = int(rng.integers(3))
    if form == 0:
        return f"The {_pick(_ADJECTIVES, rng)} {_plural(_pick(_NOUNS, rng))}"
    if form == 1:
        return f"{_pick(_FIRST_NAMES, rng)} {_pick(_SURNAMES, rng)}"
    return f"{_pick(_NOUNS, rng)} {_pick(_NOUNS, rng)}"


def _title(rng: np.random.Generator) -> str:
    form = int(rng.integers(3))
    if form == 0:
        return f"{_pick(_ADJECTIVES, rng)} {_pick(_NOUNS, rng)}"
    if form == 1:
        return f"The {_pick(_NOUNS, rng)} and the {_pick(_NOUNS, rng)}"
    return f"{_pick(_NOUNS, rng)} of {_pick(_ADJECTIVES, rng)} {_plural(_pick(_NOUNS, rng))}"


def _distinct(make, count: int, rng: np.random.Generator) -> list[str]:
    """``count`` distinct names from ``make(rng)``, numbering repeats once the word lists run out."""
    names: list[str] = []
    seen: set[str] = set()
    for _ in range(count):
        name = make(rng)
        attempt = 2
        base = name
        while name in seen:
            name = f"{base} {attempt}"
            attempt += 1
        seen.add(name)
        names.append(name)
    return names


# --------------------------------------------------------------------------- catalogue


def _tags(genre: str, tempo: float, major: bool, brightness: float, percussion: float,
          softness: float, distortion: float) -> list[str]:
    """Descriptive tags that follow from what the track sounds like."""
    tags = [genre]
    if tempo >= 140:
        tags.append("fast")
    elif tempo <= 90:
        tags.append("slow")
    tags.append("major" if major else "minor")
    if brightness >= 0.6:
        tags.append("bright")
    elif brightness <= 0.3:
        tags.append("dark")
    if GENRES[genre].acoustic and distortion < 0.2:
        tags.append("acoustic")
    if percussion >= 0.6 and 95 <= tempo <= 135:
        tags.append("danceable")
    if percussion >= 0.6 and tempo >= 120:
        tags.append("energetic")
    if distortion >= 0.5:
        tags.append("heavy")
    if softness >= 0.6:
        tags.append("mellow")
    return tags


def make_catalogue(n_tracks: int, n_artists: int, rng: np.random.Generator) -> pd.DataFrame:
    """Invent ``n_tracks`` tracks by ``n_artists`` artists (1 <= n_artists <= n_tracks).

    Returns one row per track, in creation order (like Music4All, not sorted):
    ``track_id`` (16 letters/digits), ``artist``, ``song``, ``album_name``,
    ``genre``, ``genres`` and ``tags`` (lists of str), the style that
    :func:`musicrec.data.demo_audio.synthesize_track` reads (``key``,
    ``major``, ``tempo``, ``brightness``, ``percussion``, ``softness``,
    ``distortion``, ``register``, ``lead_ratio``), ``popularity`` (a positive
    weight; about one track in ten is almost never played), ``release``
    (year), ``duration_ms`` (length of the full song) and ``spotify_id``.
    """
    if not 1 <= n_artists <= n_tracks:
        raise ValueError(f"need 1 <= n_artists <= n_tracks, got n_artists={n_artists}, n_tracks={n_tracks}")
    genre_names = list(GENRES)
    # Genres are dealt out in shuffled rounds: balanced, and every genre present once there are enough artists.
    rounds = -(-n_artists // len(genre_names))
    deal = np.concatenate([rng.permutation(len(genre_names)) for _ in range(rounds)])[:n_artists]
    artist_genre = [genre_names[i] for i in deal]
    artist_names = _distinct(_artist_name, n_artists, rng)
    artist_popularity = rng.lognormal(0.0, 1.0, size=n_artists)

    unit_factors = ("brightness", "percussion", "softness", "distortion", "register")
    artist_style = []
    for genre_name in artist_genre:
        genre = GENRES[genre_name]
        centre_tempo, tempo_spread = genre.tempo_bpm
        style = {
            "tempo": centre_tempo + tempo_spread * rng.standard_normal(),
            "major_probability": float(np.clip(genre.major_probability + 0.15 * rng.standard_normal(), 0.05, 0.95)),
            "lead_ratio": float(rng.choice(genre.lead_ratios)),
            "subgenre": str(rng.choice(genre.subgenres)),
        }
        for factor in unit_factors:
            style[factor] = float(np.clip(getattr(genre, factor) + ARTIST_SPREAD * rng.standard_normal(), 0.0, 1.0))
        artist_style.append(style)

    # Each artist has at least one track; the rest go preferentially to popular artists.
    extra = rng.multinomial(n_tracks - n_artists, np.sqrt(artist_popularity) / np.sqrt(artist_popularity).sum())
    tracks_per_artist = 1 + extra
    career_start = rng.integers(1965, 2016, size=n_artists)

    rows = []
    for artist, n_artist_tracks in enumerate(tracks_per_artist):
        n_albums = int(min(n_artist_tracks, 1 + rng.poisson(0.8)))
        album_titles = _distinct(_title, n_albums, rng)
        album_years = np.minimum(career_start[artist] + np.cumsum(rng.integers(1, 4, size=n_albums)) - 1, 2019)
        # Every album gets a track; the rest are spread at random, in album order.
        extra_albums = rng.integers(n_albums, size=n_artist_tracks - n_albums)
        album_of_track = np.sort(np.concatenate([np.arange(n_albums), extra_albums]))
        genre_name = artist_genre[artist]
        style = artist_style[artist]
        for album in album_of_track:
            track = {
                "artist": artist_names[artist],
                "album_name": album_titles[album],
                "release": int(album_years[album]),
                "genre": genre_name,
                "genres": [genre_name, style["subgenre"]],
                "key": int(rng.integers(12)),
                "major": bool(rng.random() < style["major_probability"]),
                "tempo": float(np.clip(style["tempo"] + 4.0 * rng.standard_normal(), 50.0, 220.0)),
                "lead_ratio": style["lead_ratio"],
                "popularity": float(artist_popularity[artist] * rng.lognormal(0.0, 0.6)),
            }
            for factor in unit_factors:
                track[factor] = float(np.clip(style[factor] + TRACK_SPREAD * rng.standard_normal(), 0.0, 1.0))
            track["duration_ms"] = int(rng.uniform(*SONG_LENGTH_MS[genre_name in LONG_FORM_GENRES]))
            rows.append(track)

    catalogue = pd.DataFrame(rows)
    tiny = rng.random(len(catalogue)) < TINY_POPULARITY_SHARE
    catalogue.loc[tiny, "popularity"] *= TINY_POPULARITY_FACTOR
    catalogue["song"] = _distinct(_title, len(catalogue), rng)
    catalogue["tags"] = [
        _tags(row.genre, row.tempo, row.major, row.brightness, row.percussion, row.softness, row.distortion)
        for row in catalogue.itertuples()
    ]
    catalogue.insert(0, "track_id", random_ids(len(catalogue), TRACK_ID_LENGTH, rng))
    catalogue["spotify_id"] = random_ids(len(catalogue), SPOTIFY_ID_LENGTH, rng)
    return catalogue

"""Small real demo data for the synth tests: the demo generator's catalogue and listeners, split."""

from __future__ import annotations

import pandas as pd

from musicrec.data.catalogue import build_catalogue, track_id_table
from musicrec.data.demo import DemoConfig, generate_demo
from musicrec.data.split import split_interactions


def demo_split(n_tracks: int = 60, n_artists: int = 15, n_users: int = 40, seed: int = 7) -> dict:
    """``{"catalogue", "track_ids", "train", "val", "test", "demo"}`` of a miniature demo (no audio)."""
    config = DemoConfig(n_tracks=n_tracks, n_artists=n_artists, n_users=n_users)
    demo = generate_demo(config, seed)
    tables = {name.split("_")[1].split(".")[0]: frame for name, frame in demo.tables.items()}
    catalogue, _ = build_catalogue(tables["information"], tables["genres"], tables["tags"],
                                   audio_dir="/nonexistent", audio_files=[])
    track_ids = track_id_table(catalogue)
    index = dict(zip(track_ids["track_id"], track_ids["index"]))
    plays = demo.listening_log.copy()
    plays["track_idx"] = plays["track_id"].map(index).astype("int64")
    parts, _ = split_interactions(plays, "2019-02-20", "2020-02-20", "2020-03-20", 0.5, seed)
    return {"catalogue": catalogue, "track_ids": track_ids, **parts, "demo": demo}

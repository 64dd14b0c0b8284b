"""The Music4All-Onion time-based split: one test per rule of the protocol (musicrec.data.split)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from musicrec.data.logio import map_log_file, read_plays
from musicrec.data.split import OUTPUT_COLUMNS, split_interactions

START, TEST, END = "2019-02-20", "2020-02-20", "2020-03-20"
TRACKS = [f"t{i:02d}" for i in range(20)]  # sorted, so track_idx = position


def plays_frame(rows: list[tuple[str, str, str]]) -> pd.DataFrame:
    """(user, track, 'YYYY-MM-DD HH:MM:SS') rows -> a plays frame as the mapping writes it."""
    users, tracks, times = zip(*rows)
    return pd.DataFrame(
        {
            "user_id": list(users),
            "track_id": list(tracks),
            "track_idx": np.array([TRACKS.index(t) for t in tracks], dtype=np.int32),
            "timestamp": pd.to_datetime(list(times)),
        }
    )


def warm_rows(users=("anchor1", "anchor2")) -> list[tuple[str, str, str]]:
    """Enough history and novelty that both val and test get a user: every case adds its rows to these."""
    rows = []
    for user in users:
        rows += [(user, "t19", "2019-06-01 00:00:00"), (user, "t18", "2020-03-01 00:00:00")]
    rows.append(("anchor_train_only", "t18", "2019-06-01 00:00:00"))  # makes t18 a train track
    return rows


def split(rows, end=END, val_fraction=0.5, seed=7, **options):
    return split_interactions(plays_frame(rows), START, TEST, end, val_fraction, seed, **options)


def pairs(frame: pd.DataFrame) -> set[tuple[str, str]]:
    return set(zip(frame["user_id"].astype(str), frame["track_id"].astype(str)))


def test_train_window_includes_start_and_excludes_test_date():
    rows = warm_rows() + [
        ("u", "t01", "2019-02-19 23:59:59"),  # before start: ignored
        ("u", "t02", "2019-02-20 00:00:00"),  # exactly start: train
        ("u", "t03", "2020-02-19 23:59:59"),  # last second before test_date: train
        ("u", "t04", "2020-02-20 00:00:00"),  # exactly test_date: not train
    ]
    parts, report = split(rows)
    train_u = parts["train"][parts["train"]["user_id"] == "u"]
    assert train_u["track_id"].astype(str).tolist() == ["t02", "t03"]
    assert report["plays"]["before_start"] == 1


def test_train_aggregates_first_play_and_count_per_pair():
    rows = warm_rows() + [
        ("u", "t05", "2019-09-01 10:00:00"),
        ("u", "t05", "2019-03-01 08:00:00"),  # earliest, listed out of order on purpose
        ("u", "t05", "2019-12-24 18:00:00"),
        ("u", "t05", "2020-02-25 00:00:00"),  # after test_date: not counted in train
        ("v", "t05", "2019-05-05 05:05:05"),
    ]
    train = split(rows)[0]["train"].astype({"user_id": str, "track_id": str}).set_index(["user_id", "track_id"])
    assert train.loc[("u", "t05"), "timestamp"] == pd.Timestamp("2019-03-01 08:00:00")
    assert train.loc[("u", "t05"), "count"] == 3
    assert train.loc[("v", "t05"), "count"] == 1


def test_novelty_replayed_track_is_not_a_test_item_first_play_is():
    rows = warm_rows() + [
        ("u", "t06", "2019-10-01 00:00:00"),  # train play ...
        ("u", "t06", "2020-03-01 00:00:00"),  # ... replayed in the test month: not a test item
        ("v", "t07", "2019-11-01 00:00:00"),  # t07 is a train track, but not u's
        ("u", "t07", "2020-03-02 00:00:00"),  # u's first-ever play of t07, in the test month: test item
        ("u", "t07", "2020-03-05 00:00:00"),
        ("u", "t07", "2020-03-25 00:00:00"),  # after end_date: neither counted nor first
    ]
    parts, report = split(rows)
    held_out = pd.concat([parts["val"], parts["test"]])
    u = held_out[held_out["user_id"] == "u"]
    assert u["track_id"].astype(str).tolist() == ["t07"]
    assert u["timestamp"].iloc[0] == pd.Timestamp("2020-03-02 00:00:00")
    assert u["count"].iloc[0] == 2
    assert report["test_candidates"]["already_played"] == 1


def test_end_date_is_exclusive_and_null_means_open_ended():
    rows = warm_rows() + [
        ("u", "t19", "2019-06-01 00:00:00"),
        ("u", "t08", "2020-03-19 23:59:59"),  # last second of the window: in
        ("u", "t09", "2020-03-20 00:00:00"),  # exactly end_date: out
        ("v", "t08", "2019-06-01 00:00:00"),
        ("v", "t09", "2019-06-01 00:00:00"),
    ]
    parts, report = split(rows)
    assert pairs(pd.concat([parts["val"], parts["test"]])) >= {("u", "t08")}
    assert ("u", "t09") not in pairs(pd.concat([parts["val"], parts["test"]]))
    assert report["plays"]["after_end"] == 1
    open_ended, _ = split(rows, end=None)
    assert ("u", "t09") in pairs(pd.concat([open_ended["val"], open_ended["test"]]))


def test_cold_users_and_tracks_are_dropped_and_counted():
    rows = warm_rows() + [
        ("newcomer", "t19", "2020-03-01 00:00:00"),  # user never seen in train
        ("u", "t19", "2019-06-01 00:00:00"),
        ("u", "t10", "2020-03-01 00:00:00"),  # track never played in train
    ]
    parts, report = split(rows)
    held_out = pairs(pd.concat([parts["val"], parts["test"]]))
    assert ("newcomer", "t19") not in held_out and ("u", "t10") not in held_out
    assert report["test_candidates"]["cold_users_dropped"] == 1
    assert report["test_candidates"]["cold_tracks_dropped"] == 1
    assert report["test_candidates"]["novel_with_cold_user"] == 1
    assert report["test_candidates"]["novel_with_cold_track"] == 1


def many_test_users(n: int) -> list[tuple[str, str, str]]:
    rows = [("history", "t18", "2019-06-01 00:00:00")]
    for i in range(n):
        rows += [(f"user{i:03d}", "t19", "2019-06-01 00:00:00"), (f"user{i:03d}", "t18", "2020-03-01 00:00:00")]
    return rows


def test_val_and_test_split_users_half_and_half_disjointly_and_reproducibly():
    rows = many_test_users(40)
    parts, report = split(rows, seed=3)
    val_users, test_users = set(parts["val"]["user_id"].astype(str)), set(parts["test"]["user_id"].astype(str))
    assert len(val_users) == 20 and len(test_users) == 20
    assert not val_users & test_users
    assert val_users | test_users == {f"user{i:03d}" for i in range(40)}
    assert report["val"]["users"] == 20 and report["test"]["users"] == 20
    again, _ = split(rows[::-1], seed=3)  # input order must not matter either
    assert set(again["val"]["user_id"].astype(str)) == val_users
    other, _ = split(rows, seed=4)
    assert set(other["val"]["user_id"].astype(str)) != val_users


def test_val_fraction_sets_the_share_of_users():
    parts, _ = split(many_test_users(10), val_fraction=0.3)
    assert parts["val"]["user_id"].nunique() == 3 and parts["test"]["user_id"].nunique() == 7


def test_outputs_have_the_contract_columns_and_time_order():
    rows = warm_rows() + [
        ("b", "t03", "2019-05-01 00:00:00"),
        ("a", "t05", "2019-07-01 00:00:00"),
        ("a", "t02", "2019-07-01 00:00:00"),  # same time as t05: track_idx breaks the tie
        ("a", "t09", "2019-03-01 00:00:00"),
    ]
    train = split(rows)[0]["train"]
    assert list(train.columns) == OUTPUT_COLUMNS
    a = train[train["user_id"] == "a"]
    assert a["track_idx"].tolist() == [9, 2, 5]
    keys = list(zip(train["user_id"].astype(str), train["timestamp"], train["track_idx"]))
    assert keys == sorted(keys)
    assert train["count"].dtype == np.int32 and train["track_idx"].dtype == np.int32


def test_plays_before_start_date_do_not_block_novelty_by_default():
    rows = warm_rows() + [
        ("u", "t19", "2019-06-01 00:00:00"),
        ("u", "t12", "2018-12-01 00:00:00"),  # played before start_date ...
        ("u", "t12", "2020-03-03 00:00:00"),  # ... and again in the test month
        ("v", "t12", "2019-06-01 00:00:00"),
    ]
    parts, _ = split(rows)
    assert ("u", "t12") in pairs(pd.concat([parts["val"], parts["test"]]))
    assert ("u", "t12") not in pairs(parts["train"])
    strict_parts, report = split(rows, pre_start_plays_count_as_played=True)
    assert ("u", "t12") not in pairs(pd.concat([strict_parts["val"], strict_parts["test"]]))
    assert ("u", "t12") not in pairs(strict_parts["train"])
    assert report["test_candidates"]["already_played"] == 1


def test_dates_out_of_order_name_the_config_keys():
    rows = warm_rows()
    with pytest.raises(
        ValueError, match=r"split\.test_date \(2019-01-01\) must be after split\.start_date \(2019-02-20\)"
    ):
        split_interactions(plays_frame(rows), START, "2019-01-01", None, 0.5, 1)
    with pytest.raises(ValueError, match=r"split\.end_date \(2020-02-01\) must be after split\.test_date"):
        split_interactions(plays_frame(rows), START, TEST, "2020-02-01", 0.5, 1)
    with pytest.raises(ValueError, match=r"split\.start_date is 'last spring'"):
        split_interactions(plays_frame(rows), "last spring", TEST, None, 0.5, 1)


def test_empty_windows_are_clear_errors_with_counts():
    rows = warm_rows()
    with pytest.raises(
        ValueError, match=r"train window is empty: 0 plays fall in train \[split\.start_date=2015-01-01"
    ):
        split_interactions(plays_frame(rows), "2015-01-01", "2016-01-01", None, 0.5, 1)
    with pytest.raises(
        ValueError, match=r"test window is empty: 5 plays fall in train .* and 0 in test.*Check the dates"
    ):
        split_interactions(plays_frame(rows), "2010-01-01", "2021-01-01", None, 0.5, 1)


def test_split_from_mapped_file_is_independent_of_chunk_size(tmp_path):
    catalogue = tmp_path / "trackid_sorted.csv"
    catalogue.write_text("index,track_id\n" + "".join(f"{i},{t}\n" for i, t in enumerate(TRACKS)))
    rng = np.random.default_rng(1)
    seconds = rng.integers(
        np.datetime64("2019-02-01").astype(int) * 86400, np.datetime64("2020-03-25").astype(int) * 86400, 600
    )
    lines = [
        f"user{rng.integers(12):02d}\t{TRACKS[rng.integers(20)]}\t{str(np.datetime64(int(s), 's')).replace('T', ' ')}"
        for s in seconds
    ]
    log = tmp_path / "log.tsv"
    log.write_text("user_id\ttrack_id\ttimestamp\n" + "\n".join(lines) + "\n")
    results = []
    for chunk_rows in (3, 1_000_000):
        map_log_file(log, catalogue, tmp_path / f"plays{chunk_rows}.parquet", strict=True, chunk_rows=chunk_rows)
        parts, report = split_interactions(
            read_plays(tmp_path / f"plays{chunk_rows}.parquet"), START, TEST, END, 0.5, 11
        )
        results.append(({name: part.astype({"user_id": str, "track_id": str}) for name, part in parts.items()}, report))
    for name in ("train", "val", "test"):
        pd.testing.assert_frame_equal(results[0][0][name], results[1][0][name])
        assert len(results[0][0][name]) > 0
    assert results[0][1] == results[1][1]
    # The categorical (file) path and the plain-string path agree.
    plain, _ = split_interactions(
        read_plays(tmp_path / "plays3.parquet").astype({"user_id": str, "track_id": str}), START, TEST, END, 0.5, 11
    )
    pd.testing.assert_frame_equal(plain["val"].astype({"user_id": str, "track_id": str}), results[0][0]["val"])


def test_a_cold_user_with_a_cold_track_is_counted_once_and_the_reasons_add_up():
    rows = warm_rows() + [
        ("newcomer", "t10", "2020-03-01 00:00:00"),  # cold user AND cold track: one pair, one reason
        ("newcomer", "t19", "2020-03-02 00:00:00"),  # cold user, warm track
        ("u", "t19", "2019-06-01 00:00:00"),
        ("u", "t19", "2020-03-01 00:00:00"),  # already played
        ("u", "t11", "2020-03-01 00:00:00"),  # warm user, cold track
    ]
    _, report = split(rows)
    candidates = report["test_candidates"]
    assert candidates["pairs"] == 6  # the two anchors' t18 + the 4 test-window pairs above
    assert candidates["already_played"] == 1
    assert candidates["novel_with_cold_user"] == 2 and candidates["novel_with_cold_user_and_track"] == 1
    assert candidates["novel_with_cold_track"] == 1  # t11 only: the newcomer's t10 counts under cold user
    assert candidates["kept"] == 2  # the two anchors' t18
    reasons = ("already_played", "novel_with_cold_user", "novel_with_cold_track", "kept")
    assert sum(candidates[reason] for reason in reasons) == candidates["pairs"]
    assert candidates["cold_tracks_dropped"] == 2  # t10 and t11 are distinct cold tracks

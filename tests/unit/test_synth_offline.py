"""The synth stage's pure parts on small real data: validators, hash refusal, cache keys, segments,
the benchmark's ranks and intervals, and the student's false-negative mask and loss."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from musicrec.synth import weights
from musicrec.synth.cache import CachedAnswer, CallCache, call_key
from musicrec.synth.embedder_benchmark import benchmark, holdout_users, positive_ranks, verdict
from musicrec.synth.negatives import eligible_candidates, summary_pool
from musicrec.synth.schemas import cluster_schema, ranking_schema, validate_cluster, validate_ranking
from musicrec.synth.segments import shard_users, track_texts, user_segments

sys.path.insert(0, str(Path(__file__).parent))


def test_cluster_validation_names_each_problem():
    allowed, bounds = [1, 2, 3, 4], (5, 40)
    assert validate_cluster({"cluster": [1, 3], "summary": "likes calm jazz"}, allowed, 1, 3, bounds) == []
    problems = validate_cluster({"cluster": [3, 3, 9], "summary": "  "}, allowed, 1, 3, bounds)
    text = " ".join(problems)
    assert "[9]" in text and "repeats" in text and "pivot item 1" in text and "empty" in text
    assert validate_cluster({"cluster": [1], "summary": "x" * 41}, allowed, 1, 3, bounds) == [
        "'summary' has 41 characters; it must have 5 to 40"]
    assert validate_cluster([1, 2], allowed, 1, 3, bounds)[0].startswith("the answer must be a JSON object")
    assert "lacks the key(s) ['summary']" in validate_cluster({"cluster": [1]}, allowed, 1, 3, bounds)[0]


def test_ranking_must_be_a_permutation():
    assert validate_ranking({"ranking": [2, 0, 1]}, 3) == []
    (problem,) = validate_ranking({"ranking": [0, 0, 5]}, 3)
    assert "missing [1, 2]" in problem and "repeated [0]" in problem and "out of range [5]" in problem
    assert validate_ranking({"ranking": [True, 0, 1]}, 3) == ["'ranking' must be a list of integers"]


def test_schemas_bound_every_array_and_string():
    def unbounded(node):
        found = []
        if isinstance(node, dict):
            if node.get("type") == "array" and "maxItems" not in node:
                found.append(node)
            if node.get("type") == "string" and "maxLength" not in node:
                found.append(node)
            for value in node.values():
                found += unbounded(value)
        elif isinstance(node, list):
            for value in node:
                found += unbounded(value)
        return found

    assert unbounded(cluster_schema([1, 2, 3], 2, (5, 50))) == []
    assert unbounded(ranking_schema(5)) == []
    assert cluster_schema([1, 2, 3], 8, (5, 50))["properties"]["cluster"]["maxItems"] == 3


def test_a_model_file_with_another_hash_is_refused(tmp_path, monkeypatch):
    expected = "0" * 64
    monkeypatch.setitem(weights.PACKAGED_MODELS, "tampered", weights.PackagedModel(
        name="tampered", parts=(("musicrec", "synth/__init__.py"), ("musicrec", "synth/cache.py")),
        sha256=expected, size=0, file_name="tampered.gguf"))
    with pytest.raises(weights.WeightsError, match=f"expected {expected}"):
        weights.packaged_file("tampered", tmp_path)
    assert not (tmp_path / "tampered.gguf").exists()  # nothing unverified is left for later use
    bad = tmp_path / "model.gguf"
    bad.write_bytes(b"not the model")
    with pytest.raises(weights.WeightsError, match=rf"{bad}: sha256 .* does not match the expected {expected}"):
        weights.verify(bad, expected)


def test_an_assembled_file_is_verified_and_reused(tmp_path, monkeypatch):
    parts = (("musicrec", "synth/__init__.py"), ("musicrec", "synth/cache.py"))
    package = Path(weights.__file__).parent
    content = b"".join((package / p.split("/", 1)[1]).read_bytes() for _, p in parts)
    import hashlib

    digest = hashlib.sha256(content).hexdigest()
    monkeypatch.setitem(weights.PACKAGED_MODELS, "two-parts", weights.PackagedModel(
        name="two-parts", parts=parts, sha256=digest, size=len(content), file_name="two.bin"))
    path = weights.packaged_file("two-parts", tmp_path)
    assert path.read_bytes() == content
    path.write_bytes(content[:-1] + b"!")  # a cache file changed after its check is checked again
    with pytest.raises(weights.WeightsError, match=str(path)):
        weights.packaged_file("two-parts", tmp_path)


def test_cache_key_covers_model_prompt_parameters_and_seed(tmp_path):
    messages = [{"role": "user", "content": "hi"}]
    base = call_key("m@sha256:1", messages, {"temperature": 0}, 0)
    assert base == call_key("m@sha256:1", [dict(messages[0])], {"temperature": 0}, 0)
    others = {call_key("m@sha256:2", messages, {"temperature": 0}, 0),
              call_key("m@sha256:1", [{"role": "user", "content": "hi!"}], {"temperature": 0}, 0),
              call_key("m@sha256:1", messages, {"temperature": 0.5}, 0),
              call_key("m@sha256:1", messages, {"temperature": 0}, 1)}
    assert base not in others and len(others) == 4
    with CallCache(tmp_path / "calls.sqlite") as cache:
        assert cache.get(base) is None
        cache.put(base, "m", CachedAnswer('{"a": 1}', 10, 3, 0.5, "stop"))
    with CallCache(tmp_path / "calls.sqlite") as reopened:  # outlives the job
        assert reopened.get(base) == CachedAnswer('{"a": 1}', 10, 3, 0.5, "stop") and len(reopened) == 1


@pytest.fixture(scope="module")
def demo():
    from synth_data import demo_split

    return demo_split()


def test_segments_are_the_most_recent_train_tracks(demo):
    train = demo["train"]
    segments, too_short = user_segments(train, 5, 4)
    user = segments[0].user_id
    mine = train[train["user_id"] == user].sort_values(["timestamp", "track_idx"])
    assert segments[0].tracks == mine["track_idx"].tolist()[-5:]
    counts = train.groupby("user_id").size()
    assert sorted(too_short) == sorted(map(str, counts[counts < 4].index))
    assert len(segments) + len(too_short) == train["user_id"].nunique()


def test_track_texts_flag_tracks_without_metadata(demo):
    catalogue = demo["catalogue"].copy()
    catalogue.loc[0, ["artist", "title"]] = ""
    texts, known = track_texts(catalogue, demo["track_ids"]["track_id"])
    assert texts[0].startswith("unknown track") and not known[0] and known[1:].all()
    assert catalogue["artist"].iloc[1] in texts[1] and catalogue["genres"].iloc[1][0] in texts[1]
    with pytest.raises(ValueError, match="missing column"):
        track_texts(catalogue.drop(columns=["tags"]), demo["track_ids"]["track_id"])


def test_shards_partition_a_seeded_sample_of_users():
    users = [f"u{i}" for i in range(30)]
    shards = [shard_users(users, 3, s, 10, seed=1) for s in range(3)]
    together = sorted(u for shard in shards for u in shard)
    assert len(together) == len(set(together)) == 10
    assert shards == [shard_users(users, 3, s, 10, seed=1) for s in range(3)]


def test_candidates_never_include_the_users_own_summaries():
    positives = pd.DataFrame({"user_id": ["a", "a", "b", "c"], "pos_summary": ["jazz", "rock", "jazz", "folk"]})
    pool = summary_pool(positives)
    eligible = pool["summary"].to_numpy()[eligible_candidates(pool, "a", "jazz", {"jazz", "rock"})]
    assert eligible.tolist() == ["folk"]


def test_ranks_ties_at_random_and_chance_levels():
    rng = np.random.default_rng(0)
    assert positive_ranks(np.array([[0.9, 0.1, 0.5], [0.1, 0.9, 0.5]]), rng).tolist() == [1, 3]
    constant = positive_ranks(np.zeros((4000, 4)), np.random.default_rng(1))
    assert abs(np.mean(constant == 1) - 0.25) < 0.03  # a constant scorer sits at chance
    assert verdict(0.95, 1.0, 0.1, 0.9) == "too easy"
    assert verdict(0.05, 0.2, 0.1, 0.9) == "at chance"
    assert verdict(0.3, 0.5, 0.1, 0.9) == "hard"


class _Lexical:
    """Scores by shared words: a real (if simple) scorer for the benchmark's plumbing."""

    name = "overlap"

    def score(self, queries, candidates):
        return np.array([[len(set(q.split()) & set(c.split())) for c in row] for q, row in zip(queries, candidates)])


def test_benchmark_scores_a_scorer_against_chance():
    triplets = pd.DataFrame({
        "user_id": [f"u{i}" for i in range(40)], "positive": 0,
        "context": [f"likes genre{i % 5} music" for i in range(40)],
        "pos_summary": [f"genre{i % 5} fan" for i in range(40)],
        "neg_summary": [f"genre{(i + 1) % 5} lover" for i in range(40)],
    })
    pool = summary_pool(pd.DataFrame({"user_id": [f"p{i}" for i in range(20)],
                                      "pos_summary": [f"pool interest {i}" for i in range(20)]}))
    table, ranks = benchmark({"overlap": _Lexical()}, triplets, pool, k=3, seed=0, n_boot=200)
    row = table.iloc[0]
    assert row["candidates"] == 5 and row["chance_r_at_1"] == pytest.approx(0.2)
    assert row["r_at_1"] == 1.0 and row["verdict"] == "too easy"  # the context names the positive's genre
    assert row["r_at_1_lower"] <= row["r_at_1"] <= row["r_at_1_upper"]
    assert len(ranks) == 40


def test_holdout_is_seeded_and_proper():
    users = [f"u{i}" for i in range(10)]
    held = holdout_users(users, 0.3, 5)
    assert held == holdout_users(reversed(users), 0.3, 5) and len(held) == 3


def test_false_negative_mask_hides_repeated_summaries():
    from musicrec.synth.student import false_negative_mask, mnrl_loss
    import torch

    mask = false_negative_mask(["jazz", "rock", "jazz"], ["rock", "jazz", "folk"])
    # Row 0 (positive "jazz"): row 2's positive and row 1's negative are the same text.
    assert mask[0].tolist() == [False, False, True, False, True, False]
    assert mask[1].tolist() == [False, False, False, True, False, False]
    assert not mask[np.arange(3), np.arange(3)].any()
    anchors = torch.eye(3, 6)[:, :4]
    candidates = torch.eye(6, 4)
    masked = mnrl_loss(anchors, candidates[:3], candidates[3:], torch.from_numpy(mask), 20.0)
    unmasked = mnrl_loss(anchors, candidates[:3], candidates[3:], torch.zeros(3, 6, dtype=torch.bool), 20.0)
    assert torch.isfinite(masked) and masked <= unmasked


def test_student_learns_the_triplets_it_is_trained_on():
    from musicrec.synth.embedder_benchmark import benchmark
    from musicrec.synth.embedders import DenseScorer
    from musicrec.synth.student import StudentSettings, train_student
    from musicrec.synth.weights import sentence_model_dir

    # Contexts name a colour, summaries a genre: no word in common, so only training links them.
    colours, genres = ["red", "blue", "green", "yellow"], ["jazz", "metal", "folk", "techno"]
    triplets = pd.DataFrame({
        "user_id": [f"u{i}" for i in range(8)], "positive": 0,
        "context": [f"Listened to: {colours[i % 4]} songs, number {i}" for i in range(8)],
        "pos_summary": [f"enjoys {genres[i % 4]}" for i in range(8)],
        "neg_summary": [f"enjoys {genres[(i + 1) % 4]}" for i in range(8)],
    })
    pool = summary_pool(triplets.rename(columns={}).assign(user_id="pool"))

    def r_at_1(model):
        scorer = DenseScorer.__new__(DenseScorer)
        scorer.name, scorer.model, scorer.batch_size = "student", model, 32
        table, _ = benchmark({"s": scorer}, triplets, pool, k=2, seed=0, n_boot=50)
        return {"r1": float(table["r_at_1"].iloc[0])}

    _, curve, stats = train_student(str(sentence_model_dir("minilm")), triplets,
                                    StudentSettings(epochs=3, batch_size=8, learning_rate=2e-4, max_seq_length=16),
                                    evaluate=r_at_1)
    assert curve["epoch"].tolist() == [0, 1, 2, 3] and stats["triplets_per_s"] > 0
    assert curve["r1"].iloc[-1] > curve["r1"].iloc[0] and curve["r1"].iloc[-1] >= 0.75

from musicrec import paths


def test_fill_formats_given_fields_and_keeps_the_others_as_wildcards():
    assert paths.fill(paths.RECOMMENDATIONS, run="knn") == "recs/knn/{embedding}/seed-{seed}.parquet"
    assert paths.fill(paths.SHARD, backbone="mert", shard=3) == "embeddings/mert/shard-3.npy"
    assert paths.fill(paths.SPLIT) == "data/{part}.parquet"


def test_under_puts_the_path_below_the_results_root():
    assert paths.under("results/run1", paths.SPLIT, part="val") == "results/run1/data/val.parquet"
    assert paths.under("r", paths.DEMO_FILE, name=paths.ONION_LISTENING_LOG) == "r/demo/userid_trackid_timestamp.tsv"


def test_training_state_is_not_below_any_declared_model_output():
    # A killed job's outputs are deleted by Snakemake; the resume state must live elsewhere.
    state = paths.fill(paths.TRAINING_STATE, run="bert4rec", embedding="musicnn", seed=1)
    for output in (paths.MODEL_CHECKPOINT, paths.MODEL_CURVES, paths.MODEL_TENSORBOARD, paths.RECOMMENDATIONS):
        assert not paths.fill(output, run="bert4rec", embedding="musicnn", seed=1).startswith(state)

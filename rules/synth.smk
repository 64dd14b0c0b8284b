# The LLM teacher's user-interest triplets (phase 1 positives, phase 2 negatives, sharded by
# users), their audit, the embedder benchmark, the student (MiniLM fine-tuned on the triplets)
# and the student as an embedding (its item tower) and as a recommender (its user tower).
# Every teacher call goes through one SQLite store outside the declared outputs.

SYNTH = config["synth"]

if SYNTH["enabled"]:
    SYNTH_SHARDS = range(SYNTH["shards"])
    SYNTH_CACHE = out(paths.SYNTH_CALL_CACHE)

    declare_embedding(
        paths.STUDENT_EMBEDDING, kind="derived", source="synth student (track text)"
    )
    declare_run(paths.STUDENT_RUN, "student", [paths.STUDENT_EMBEDDING])
    add_targets(
        [
            out(paths.SYNTH_AUDIT),
            out(paths.SYNTH_BENCHMARK),
            out(paths.SYNTH_STUDENT_CURVES),
            out(paths.SYNTH_USER_SIMILARITY),
        ]
    )

    rule synth_positives:
        input:
            train=out(paths.SPLIT, part="train"),
            catalogue=out(paths.CATALOGUE),
            track_ids=out(paths.TRACK_IDS),
        output:
            positives=out(paths.SYNTH_POSITIVES_SHARD),
            stats=out(paths.SYNTH_POSITIVES_STATS),
        log:
            log_file("synth_positives", "shard-{shard}"),
        benchmark:
            bench_file("synth_positives", "shard-{shard}")
        conda:
            "../envs/synth.yaml"
        params:
            teacher=SYNTH["teacher"],
            positives=SYNTH["positives"],
            shard=lambda wildcards: int(wildcards.shard),
            n_shards=SYNTH["shards"],
            max_users=SYNTH["max_users"],
            seed=config["seed"],
            cache=SYNTH_CACHE,
        script:
            "../workflow/scripts/synth_positives.py"

    rule synth_negatives:
        input:
            positives=out(paths.SYNTH_POSITIVES_SHARD),
            pool=expand(out(paths.SYNTH_POSITIVES_SHARD, shard="{i}"), i=SYNTH_SHARDS),
        output:
            triplets=out(paths.SYNTH_TRIPLETS_SHARD),
            stats=out(paths.SYNTH_TRIPLETS_STATS),
        log:
            log_file("synth_negatives", "shard-{shard}"),
        benchmark:
            bench_file("synth_negatives", "shard-{shard}")
        conda:
            "../envs/synth.yaml"
        params:
            teacher=SYNTH["teacher"],
            negatives=SYNTH["negatives"],
            baseline=SYNTH["baseline"],
            seed=config["seed"],
            cache=SYNTH_CACHE,
        script:
            "../workflow/scripts/synth_negatives.py"

    rule synth_audit:
        input:
            positives=expand(
                out(paths.SYNTH_POSITIVES_SHARD, shard="{i}"), i=SYNTH_SHARDS
            ),
            positives_stats=expand(
                out(paths.SYNTH_POSITIVES_STATS, shard="{i}"), i=SYNTH_SHARDS
            ),
            triplets=expand(
                out(paths.SYNTH_TRIPLETS_SHARD, shard="{i}"), i=SYNTH_SHARDS
            ),
            negatives_stats=expand(
                out(paths.SYNTH_TRIPLETS_STATS, shard="{i}"), i=SYNTH_SHARDS
            ),
        output:
            triplets=out(paths.SYNTH_TRIPLETS),
            pool=out(paths.SYNTH_POOL),
            audit=report(
                out(paths.SYNTH_AUDIT),
                caption="../report/synth_audit.rst",
                category="LLM teacher",
            ),
        log:
            log_file("synth_audit", "all"),
        benchmark:
            bench_file("synth_audit", "all")
        conda:
            "../envs/synth.yaml"
        params:
            baseline=SYNTH["baseline"],
            model_cache=SYNTH["teacher"]["model_cache"],
        script:
            "../workflow/scripts/synth_audit.py"

    rule train_student:
        input:
            triplets=out(paths.SYNTH_TRIPLETS),
            pool=out(paths.SYNTH_POOL),
        output:
            model=directory(out(paths.SYNTH_STUDENT)),
            curves=report(
                out(paths.SYNTH_STUDENT_CURVES),
                caption="../report/synth_student.rst",
                category="LLM teacher",
            ),
            plot=report(
                out(paths.SYNTH_STUDENT_CURVE_PLOT),
                caption="../report/synth_student.rst",
                category="LLM teacher",
            ),
            stats=out(paths.SYNTH_STUDENT_STATS),
        log:
            log_file("train_student", "all"),
        benchmark:
            bench_file("train_student", "all")
        conda:
            "../envs/synth.yaml"
        params:
            student=SYNTH["student"],
            holdout_fraction=SYNTH["holdout_fraction"],
            distractors=SYNTH["benchmark"]["distractors"],
            seed=config["seed"],
            model_cache=SYNTH["teacher"]["model_cache"],
        script:
            "../workflow/scripts/train_student.py"

    rule benchmark_embedders:
        input:
            triplets=out(paths.SYNTH_TRIPLETS),
            pool=out(paths.SYNTH_POOL),
            student=out(paths.SYNTH_STUDENT),
        output:
            table=report(
                out(paths.SYNTH_BENCHMARK),
                caption="../report/synth_benchmark.rst",
                category="LLM teacher",
            ),
            ranks=out(paths.SYNTH_BENCHMARK_RANKS),
        log:
            log_file("benchmark_embedders", "all"),
        benchmark:
            bench_file("benchmark_embedders", "all")
        conda:
            "../envs/synth.yaml"
        params:
            scorers=SYNTH["benchmark"]["scorers"],
            distractors=SYNTH["benchmark"]["distractors"],
            easy_r1=SYNTH["benchmark"]["easy_r1"],
            confidence=EVALUATION["confidence"],
            holdout_fraction=SYNTH["holdout_fraction"],
            seed=config["seed"],
            model_cache=SYNTH["teacher"]["model_cache"],
        script:
            "../workflow/scripts/benchmark_embedders.py"

    rule embed_items_student:
        input:
            student=out(paths.SYNTH_STUDENT),
            catalogue=out(paths.CATALOGUE),
            track_ids=out(paths.TRACK_IDS),
        output:
            embedding=out(paths.EMBEDDING, embedding=paths.STUDENT_EMBEDDING),
            sidecar=out(paths.EMBEDDING_SIDECAR, embedding=paths.STUDENT_EMBEDDING),
        log:
            log_file("embed_items_student", paths.STUDENT_EMBEDDING),
        benchmark:
            bench_file("embed_items_student", paths.STUDENT_EMBEDDING)
        conda:
            "../envs/synth.yaml"
        params:
            name=paths.STUDENT_EMBEDDING,
        script:
            "../workflow/scripts/embed_items_student.py"

    rule recommend_student:
        input:
            student=out(paths.SYNTH_STUDENT),
            embedding=out(paths.EMBEDDING, embedding=paths.STUDENT_EMBEDDING),
            sidecar=out(paths.EMBEDDING_SIDECAR, embedding=paths.STUDENT_EMBEDDING),
            catalogue=out(paths.CATALOGUE),
            track_ids=out(paths.TRACK_IDS),
            train=out(paths.SPLIT, part="train"),
            val=out(paths.SPLIT, part="val"),
            test=out(paths.SPLIT, part="test"),
        output:
            recs=out(
                paths.RECOMMENDATIONS,
                run=paths.STUDENT_RUN,
                embedding=paths.STUDENT_EMBEDDING,
                seed=config["seed"],
            ),
            similarity=report(
                out(paths.SYNTH_USER_SIMILARITY),
                caption="../report/synth_user_similarity.rst",
                category="LLM teacher",
            ),
        log:
            log_file("recommend_student", paths.STUDENT_EMBEDDING),
        benchmark:
            bench_file("recommend_student", paths.STUDENT_EMBEDDING)
        conda:
            "../envs/synth.yaml"
        params:
            top_n=EVALUATION["top_n"],
            candidates=EVALUATION["candidates"],
            segment_size=SYNTH["positives"]["segment_size"],
            demo=(
                config["dataset"]["demo"]
                if config["dataset"]["source"] == "demo"
                else None
            ),
            seed=config["seed"],
            model_cache=SYNTH["teacher"]["model_cache"],
        script:
            "../workflow/scripts/recommend_student.py"

# Synthetic users with known taste over one embedding of the workflow, the contrastive aligner
# (AlignerV2), the feedback estimator (meta-trained, λ chosen on validation users), its
# cold-start curve against the baselines, the regulariser ablation, and the estimator on the
# real listeners as a recommender run of the registry (evaluated like every other run).

USERS = config["users"]

if USERS["enabled"]:
    USERS_EMBEDDING = USERS["embedding"]
    if USERS_EMBEDDING not in EMBEDDINGS:
        raise ValueError(
            f"config users.embedding: {USERS_EMBEDDING!r} is not an embedding of this "
            f"workflow; known: {sorted(EMBEDDINGS)}"
        )

    # The fields every artefact of this stage is keyed on.
    USERS_KEY = {"embedding": USERS_EMBEDDING}

    declare_run(paths.ESTIMATOR_RUN, "estimator", [USERS_EMBEDDING])
    add_targets(
        [
            out(paths.USERS_ALIGNER_TABLE, **USERS_KEY),
            out(paths.USERS_COLDSTART_PLOT, **USERS_KEY),
            out(paths.USERS_ABLATION_TABLE, **USERS_KEY),
            out(paths.USERS_REAL_COLDSTART_PLOT, **USERS_KEY),
        ]
    )

    rule simulate_users:
        input:
            embeddings=embedding_file(USERS_EMBEDDING),
            sidecar=embedding_sidecar(USERS_EMBEDDING),
        output:
            world=out(paths.USERS_WORLD, **USERS_KEY),
            sidecar=out(paths.USERS_WORLD_SIDECAR, **USERS_KEY),
        log:
            log_file("simulate_users", USERS_EMBEDDING),
        benchmark:
            bench_file("simulate_users", USERS_EMBEDDING)
        conda:
            "../envs/users.yaml"
        params:
            simulation=USERS["simulation"],
            seed=config["seed"],
        script:
            "../workflow/scripts/simulate_users.py"

    rule train_aligner:
        input:
            world=out(paths.USERS_WORLD, **USERS_KEY),
            sidecar=out(paths.USERS_WORLD_SIDECAR, **USERS_KEY),
        output:
            checkpoint=out(paths.USERS_ALIGNER, **USERS_KEY),
            curves=out(paths.USERS_ALIGNER_CURVES, **USERS_KEY),
            song_vectors=out(paths.USERS_SONG_VECTORS, **USERS_KEY),
            user_vectors=out(paths.USERS_USER_VECTORS, **USERS_KEY),
            table=report(
                out(paths.USERS_ALIGNER_TABLE, **USERS_KEY),
                caption="../report/users_aligner.rst",
                category="Synthetic users",
                labels={"embedding": USERS_EMBEDDING, "figure": "aligner vs ceiling"},
            ),
        log:
            log_file("train_aligner", USERS_EMBEDDING),
        benchmark:
            bench_file("train_aligner", USERS_EMBEDDING)
        conda:
            "../envs/users.yaml"
        threads: 1
        params:
            aligner=USERS["aligner"],
            seed=config["seed"],
            state_dir=out(paths.USERS_STATE, **USERS_KEY, model="aligner"),
        script:
            "../workflow/scripts/train_aligner.py"

    rule train_estimator:
        input:
            world=out(paths.USERS_WORLD, **USERS_KEY),
            sidecar=out(paths.USERS_WORLD_SIDECAR, **USERS_KEY),
            song_vectors=out(paths.USERS_SONG_VECTORS, **USERS_KEY),
            user_vectors=out(paths.USERS_USER_VECTORS, **USERS_KEY),
        output:
            estimator=out(paths.USERS_ESTIMATOR, **USERS_KEY),
            curves=out(paths.USERS_ESTIMATOR_CURVES, **USERS_KEY),
            validation=out(paths.USERS_VALIDATION, **USERS_KEY),
        log:
            log_file("train_estimator", USERS_EMBEDDING),
        benchmark:
            bench_file("train_estimator", USERS_EMBEDDING)
        conda:
            "../envs/users.yaml"
        threads: 1
        params:
            estimator=USERS["estimator"],
            coldstart=USERS["coldstart"],
            seed=config["seed"],
            state_dir=out(paths.USERS_STATE, **USERS_KEY, model="estimator"),
        script:
            "../workflow/scripts/train_estimator.py"

    rule coldstart_curve:
        input:
            world=out(paths.USERS_WORLD, **USERS_KEY),
            sidecar=out(paths.USERS_WORLD_SIDECAR, **USERS_KEY),
            song_vectors=out(paths.USERS_SONG_VECTORS, **USERS_KEY),
            user_vectors=out(paths.USERS_USER_VECTORS, **USERS_KEY),
            estimator=out(paths.USERS_ESTIMATOR, **USERS_KEY),
        output:
            per_user=out(paths.USERS_CURVE_PER_USER, **USERS_KEY),
            curve=out(paths.USERS_COLDSTART_TABLE, **USERS_KEY),
            convergence=out(paths.USERS_CONVERGENCE_TABLE, **USERS_KEY),
            ablation=report(
                out(paths.USERS_ABLATION_TABLE, **USERS_KEY),
                caption="../report/users_ablation.rst",
                category="Synthetic users",
                labels={
                    "embedding": USERS_EMBEDDING,
                    "figure": "regulariser ablation",
                },
            ),
            tests=out(paths.USERS_ABLATION_TESTS, **USERS_KEY),
        log:
            log_file("coldstart_curve", USERS_EMBEDDING),
        benchmark:
            bench_file("coldstart_curve", USERS_EMBEDDING)
        conda:
            "../envs/users.yaml"
        threads: 1
        params:
            coldstart=USERS["coldstart"],
            seed=config["seed"],
        script:
            "../workflow/scripts/coldstart_curve.py"

    rule estimate_users:
        input:
            train=out(paths.SPLIT, part="train"),
            val=out(paths.SPLIT, part="val"),
            test=out(paths.SPLIT, part="test"),
            embeddings=embedding_file(USERS_EMBEDDING),
            sidecar=embedding_sidecar(USERS_EMBEDDING),
            song_vectors=out(paths.USERS_SONG_VECTORS, **USERS_KEY),
            estimator=out(paths.USERS_ESTIMATOR, **USERS_KEY),
        output:
            recs=out(
                paths.RECOMMENDATIONS,
                **USERS_KEY,
                run=paths.ESTIMATOR_RUN,
                seed=config["seed"],
            ),
            curve=out(paths.USERS_REAL_COLDSTART_TABLE, **USERS_KEY),
        log:
            log_file("estimate_users", USERS_EMBEDDING),
        benchmark:
            bench_file("estimate_users", USERS_EMBEDDING)
        conda:
            "../envs/users.yaml"
        threads: 1
        params:
            real=USERS["real"],
            coldstart=USERS["coldstart"],
            top_n=EVALUATION["top_n"],
            candidates=EVALUATION["candidates"],
            seed=config["seed"],
        script:
            "../workflow/scripts/estimate_users.py"

    rule plot_coldstart:
        input:
            curve=out(paths.USERS_COLDSTART_TABLE, **USERS_KEY),
            convergence=out(paths.USERS_CONVERGENCE_TABLE, **USERS_KEY),
            real=out(paths.USERS_REAL_COLDSTART_TABLE, **USERS_KEY),
        output:
            plot=report(
                out(paths.USERS_COLDSTART_PLOT, **USERS_KEY),
                caption="../report/users_coldstart.rst",
                category="Synthetic users",
                labels={"embedding": USERS_EMBEDDING, "figure": "cold-start curve"},
            ),
            real=report(
                out(paths.USERS_REAL_COLDSTART_PLOT, **USERS_KEY),
                caption="../report/users_real_coldstart.rst",
                category="Synthetic users",
                labels={
                    "embedding": USERS_EMBEDDING,
                    "figure": "real-listener cold start",
                },
            ),
        log:
            log_file("plot_coldstart", USERS_EMBEDDING),
        benchmark:
            bench_file("plot_coldstart", USERS_EMBEDDING)
        conda:
            "../envs/users.yaml"
        params:
            embedding=USERS_EMBEDDING,
        script:
            "../workflow/scripts/plot_coldstart.py"

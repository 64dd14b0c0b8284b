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

    def users_out(template, **fields):
        return out(template, embedding=USERS_EMBEDDING, **fields)

    declare_run(paths.ESTIMATOR_RUN, "estimator", [USERS_EMBEDDING])
    add_targets(
        [
            users_out(paths.USERS_ALIGNER_TABLE),
            users_out(paths.USERS_COLDSTART_PLOT),
            users_out(paths.USERS_ABLATION_TABLE),
            users_out(paths.USERS_REAL_COLDSTART_PLOT),
        ]
    )

    rule simulate_users:
        input:
            embeddings=embedding_file(USERS_EMBEDDING),
            sidecar=embedding_sidecar(USERS_EMBEDDING),
        output:
            world=users_out(paths.USERS_WORLD),
            sidecar=users_out(paths.USERS_WORLD_SIDECAR),
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
            world=users_out(paths.USERS_WORLD),
            sidecar=users_out(paths.USERS_WORLD_SIDECAR),
        output:
            checkpoint=users_out(paths.USERS_ALIGNER),
            curves=users_out(paths.USERS_ALIGNER_CURVES),
            song_vectors=users_out(paths.USERS_SONG_VECTORS),
            user_vectors=users_out(paths.USERS_USER_VECTORS),
            table=report(
                users_out(paths.USERS_ALIGNER_TABLE),
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
            state_dir=users_out(paths.USERS_STATE, model="aligner"),
        script:
            "../workflow/scripts/train_aligner.py"

    rule train_estimator:
        input:
            world=users_out(paths.USERS_WORLD),
            sidecar=users_out(paths.USERS_WORLD_SIDECAR),
            song_vectors=users_out(paths.USERS_SONG_VECTORS),
            user_vectors=users_out(paths.USERS_USER_VECTORS),
        output:
            estimator=users_out(paths.USERS_ESTIMATOR),
            curves=users_out(paths.USERS_ESTIMATOR_CURVES),
            validation=users_out(paths.USERS_VALIDATION),
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
            state_dir=users_out(paths.USERS_STATE, model="estimator"),
        script:
            "../workflow/scripts/train_estimator.py"

    rule coldstart_curve:
        input:
            world=users_out(paths.USERS_WORLD),
            sidecar=users_out(paths.USERS_WORLD_SIDECAR),
            song_vectors=users_out(paths.USERS_SONG_VECTORS),
            user_vectors=users_out(paths.USERS_USER_VECTORS),
            estimator=users_out(paths.USERS_ESTIMATOR),
        output:
            per_user=users_out(paths.USERS_CURVE_PER_USER),
            curve=users_out(paths.USERS_COLDSTART_TABLE),
            convergence=users_out(paths.USERS_CONVERGENCE_TABLE),
            ablation=report(
                users_out(paths.USERS_ABLATION_TABLE),
                caption="../report/users_ablation.rst",
                category="Synthetic users",
                labels={
                    "embedding": USERS_EMBEDDING,
                    "figure": "regulariser ablation",
                },
            ),
            tests=users_out(paths.USERS_ABLATION_TESTS),
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
            song_vectors=users_out(paths.USERS_SONG_VECTORS),
            estimator=users_out(paths.USERS_ESTIMATOR),
        output:
            recs=users_out(
                paths.RECOMMENDATIONS, run=paths.ESTIMATOR_RUN, seed=config["seed"]
            ),
            curve=users_out(paths.USERS_REAL_COLDSTART_TABLE),
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
            curve=users_out(paths.USERS_COLDSTART_TABLE),
            convergence=users_out(paths.USERS_CONVERGENCE_TABLE),
            real=users_out(paths.USERS_REAL_COLDSTART_TABLE),
        output:
            plot=report(
                users_out(paths.USERS_COLDSTART_PLOT),
                caption="../report/users_coldstart.rst",
                category="Synthetic users",
                labels={"embedding": USERS_EMBEDDING, "figure": "cold-start curve"},
            ),
            real=report(
                users_out(paths.USERS_REAL_COLDSTART_PLOT),
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

# Recommenders of the registry on every embedding: untrained ones (KNN, popularity) in one
# rule, trained ones (Shallow Net's variants, BERT4Rec) in one GPU rule, once per seed.


rule recommend:
    input:
        unpack(recommender_inputs),
    output:
        recs=out(paths.RECOMMENDATIONS),
    log:
        log_file("recommend", "{run}.{embedding}.seed-{seed}"),
    benchmark:
        bench_file("recommend", "{run}.{embedding}.seed-{seed}")
    wildcard_constraints:
        run=regex_of(untrained_runs()),
    conda:
        "../envs/recommend.yaml"
    params:
        recommender=lambda wildcards: RUNS[wildcards.run].family,
        options=run_options,
        top_n=EVALUATION["top_n"],
        candidates=EVALUATION["candidates"],
    script:
        "../workflow/scripts/recommend.py"


rule train_recommender:
    input:
        unpack(recommender_inputs),
    output:
        checkpoint=out(paths.MODEL_CHECKPOINT),
        user_vectors=out(paths.MODEL_USER_VECTORS),
        item_vectors=out(paths.MODEL_ITEM_VECTORS),
        recs=out(paths.RECOMMENDATIONS),
        curves=out(paths.MODEL_CURVES),
        tensorboard=directory(out(paths.MODEL_TENSORBOARD)),
    log:
        log_file("train_recommender", "{run}.{embedding}.seed-{seed}"),
    benchmark:
        bench_file("train_recommender", "{run}.{embedding}.seed-{seed}")
    wildcard_constraints:
        run=regex_of(trained_runs()),
    conda:
        "../envs/train.yaml"
    threads: run_resource("threads", 1)
    resources:
        mem_mb=lambda wildcards, attempt: run_resource("mem_mb", 8000)(wildcards)
        * attempt,
        runtime=run_resource("runtime", 240),
    params:
        recommender=lambda wildcards: RUNS[wildcards.run].family,
        variant=lambda wildcards: RUNS[wildcards.run].variant,
        options=run_options,
        trainable_items=is_trainable,
        top_n=EVALUATION["top_n"],
        candidates=EVALUATION["candidates"],
        state_dir=out(paths.TRAINING_STATE),
    script:
        "../workflow/scripts/train_recommender.py"

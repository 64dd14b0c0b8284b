# Recommenders on frozen item embeddings. KNN: user = mean of train items, cosine.


rule recommend_knn:
    input:
        embeddings=out(paths.EMBEDDING),
        sidecar=out(paths.EMBEDDING_SIDECAR),
        train=out(paths.SPLIT, part="train"),
        val=out(paths.SPLIT, part="val"),
        test=out(paths.SPLIT, part="test"),
    output:
        recs=out(paths.RECOMMENDATIONS, model="knn"),
    log:
        log_file("recommend_knn"),
    conda:
        "../envs/recommend.yaml"
    params:
        top_n=config["recommenders"].get("knn", {}).get("top_n", 100),
    script:
        "../workflow/scripts/recommend_knn.py"


rule train_shallow:
    input:
        embeddings=out(paths.EMBEDDING),
        sidecar=out(paths.EMBEDDING_SIDECAR),
        train=out(paths.SPLIT, part="train"),
        val=out(paths.SPLIT, part="val"),
        test=out(paths.SPLIT, part="test"),
    output:
        checkpoint=out(paths.MODEL_CHECKPOINT, model="shallow-{variant}"),
        user_vectors=out(paths.MODEL_USER_VECTORS, model="shallow-{variant}"),
        item_vectors=out(paths.MODEL_ITEM_VECTORS, model="shallow-{variant}"),
        recs=out(paths.RECOMMENDATIONS, model="shallow-{variant}"),
        curves=out(paths.MODEL_CURVES, model="shallow-{variant}"),
        tensorboard=directory(out(paths.MODEL_TENSORBOARD, model="shallow-{variant}")),
    log:
        log_file("train_shallow", "{variant}.{backbone}"),
    conda:
        "../envs/train.yaml"
    threads: 2
    params:
        family="shallow",
        options=recommender_options("shallow"),
        variant="{variant}",
        seed=config["seed"],
        top_n=top_n("shallow"),
        state_dir=out(paths.TRAINING_STATE, model="shallow-{variant}"),
    script:
        "../workflow/scripts/train_recommender.py"


rule train_bert4rec:
    input:
        embeddings=out(paths.EMBEDDING),
        sidecar=out(paths.EMBEDDING_SIDECAR),
        train=out(paths.SPLIT, part="train"),
        val=out(paths.SPLIT, part="val"),
        test=out(paths.SPLIT, part="test"),
    output:
        checkpoint=out(paths.MODEL_CHECKPOINT, model="bert4rec"),
        user_vectors=out(paths.MODEL_USER_VECTORS, model="bert4rec"),
        item_vectors=out(paths.MODEL_ITEM_VECTORS, model="bert4rec"),
        recs=out(paths.RECOMMENDATIONS, model="bert4rec"),
        curves=out(paths.MODEL_CURVES, model="bert4rec"),
        tensorboard=directory(out(paths.MODEL_TENSORBOARD, model="bert4rec")),
    log:
        log_file("train_bert4rec"),
    conda:
        "../envs/train.yaml"
    threads: 2
    params:
        family="bert4rec",
        options=recommender_options("bert4rec"),
        seed=config["seed"],
        top_n=top_n("bert4rec"),
        state_dir=out(paths.TRAINING_STATE, model="bert4rec"),
    script:
        "../workflow/scripts/train_recommender.py"

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

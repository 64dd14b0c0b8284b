# Audio -> frozen track embeddings: one job per backbone x shard, then a merge.


rule extract_embeddings:
    input:
        catalogue=out(paths.CATALOGUE),
    output:
        embeddings=out(paths.SHARD),
        failures=out(paths.SHARD_FAILURES),
        meta=out(paths.SHARD_META),
    log:
        log_file("extract_embeddings", "{backbone}.shard-{shard}"),
    conda:
        backbone_env
    threads: 2
    resources:
        mem_mb=backbone_resource("mem_mb", 8000),
        runtime=backbone_resource("runtime", 240),
    params:
        backbone="{backbone}",
        options=lambda wildcards: BACKBONES[wildcards.backbone],
        shard=lambda wildcards: int(wildcards.shard),
        shards=lambda wildcards: len(shard_indices(wildcards.backbone)),
        on_bad_audio=config["extraction"].get("on_bad_audio", "fail"),
        seed=config["seed"],
    script:
        "../workflow/scripts/extract_embeddings.py"


rule merge_shards:
    input:
        catalogue=out(paths.CATALOGUE),
        shards=shard_files(paths.SHARD),
        failures=shard_files(paths.SHARD_FAILURES),
        metas=shard_files(paths.SHARD_META),
    output:
        embeddings=out(paths.EMBEDDING),
        sidecar=out(paths.EMBEDDING_SIDECAR),
        failures=out(paths.EMBEDDING_FAILURES),
    log:
        log_file("merge_shards"),
    conda:
        "../envs/data.yaml"
    params:
        backbone="{backbone}",
    script:
        "../workflow/scripts/merge_shards.py"

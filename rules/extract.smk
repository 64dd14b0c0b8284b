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
    benchmark:
        bench_file("extract_embeddings", "{backbone}.shard-{shard}")
    conda:
        backbone_env
    threads: backbone_resource("threads", 1)
    resources:
        mem_mb=backbone_resource("mem_mb", 8000),
        runtime=backbone_resource("runtime", 240),
    params:
        backbone="{backbone}",
        options=lambda wildcards: BACKBONES[wildcards.backbone],
        shard=lambda wildcards: int(wildcards.shard),
        shards=lambda wildcards: len(shard_indices(wildcards.backbone)),
        on_bad_audio=config["extraction"]["on_bad_audio"],
        max_bad_fraction=config["extraction"]["max_bad_fraction"],
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
        embeddings=out(paths.EMBEDDING, embedding="{backbone}"),
        sidecar=out(paths.EMBEDDING_SIDECAR, embedding="{backbone}"),
        failures=out(paths.EMBEDDING_FAILURES, embedding="{backbone}"),
    log:
        log_file("merge_shards", "{backbone}"),
    benchmark:
        bench_file("merge_shards", "{backbone}")
    wildcard_constraints:
        backbone=regex_of(EXTRACTED),
    conda:
        "../envs/data.yaml"
    params:
        backbone="{backbone}",
    script:
        "../workflow/scripts/merge_shards.py"


# A multi-layer extraction (layer: all) is extract-only: embeddings are derived from it.
use rule merge_shards as merge_layers with:
    output:
        embeddings=out(paths.LAYERS),
        sidecar=out(paths.LAYERS_SIDECAR),
        failures=out(paths.LAYERS_FAILURES),
    log:
        log_file("merge_layers", "{backbone}"),
    benchmark:
        bench_file("merge_layers", "{backbone}")
    wildcard_constraints:
        backbone=regex_of(LAYERED_BACKBONES),


rule derive_embedding:
    input:
        unpack(derivation_inputs),
    output:
        embeddings=out(paths.EMBEDDING),
        sidecar=out(paths.EMBEDDING_SIDECAR),
    log:
        log_file("derive_embedding"),
    benchmark:
        bench_file("derive_embedding")
    wildcard_constraints:
        embedding=regex_of(DERIVED),
    conda:
        "../envs/data.yaml"
    params:
        block=lambda wildcards: DERIVED[wildcards.embedding],
        seed=config["seed"],
    script:
        "../workflow/scripts/derive_embedding.py"

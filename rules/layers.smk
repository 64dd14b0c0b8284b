# Which layer knows what (issue 10): acoustic probing targets per track, nested-CV probes of
# every layer with controls, the embeddings derived from a layer stack (a chosen layer, the
# mean, the learned fusion) for every recommender, FAISS search and its held-out recall.

LAYERS = config["layers"]

if LAYERS["enabled"]:
    LAYER_STUDY = dict(LAYERS["backbones"])
    for _backbone, _block in LAYER_STUDY.items():
        for _name, _key in ((_backbone, "backbones"), (_block["control"], "control")):
            if _name is not None and _name not in LAYERED_BACKBONES:
                raise ValueError(
                    f"config layers.backbones.{_backbone}"
                    + (".control" if _key == "control" else "")
                    + f": {_name!r} is not an enabled multi-layer backbone (extraction.backbones "
                    f"with layer: all); multi-layer backbones: {LAYERED_BACKBONES}"
                )
    LAYER_PICKS = [p for p in LAYERS["recommend"] if p not in ("mean", "fused")]
    for _backbone in LAYER_STUDY:
        for _pick in LAYERS["recommend"]:
            _name = (
                f"{_backbone}-{_pick}"
                if _pick in ("mean", "fused")
                else f"{_backbone}@{_pick}"
            )
            declare_embedding(
                _name, kind="derived", source=out(paths.LAYERS, backbone=_backbone)
            )
        add_targets(
            [
                out(paths.PROBE_TABLE, backbone=_backbone),
                out(paths.PROBE_HEATMAP, backbone=_backbone),
                out(paths.FUSION_PLOT, backbone=_backbone),
                out(paths.SEARCH_RECALL, backbone=_backbone),
            ]
        )

    rule compute_targets:
        input:
            catalogue=out(paths.CATALOGUE),
        output:
            targets=out(paths.LAYER_TARGETS),
            skipped=out(paths.LAYER_TARGET_SKIPS),
        log:
            log_file("compute_targets", "targets"),
        benchmark:
            bench_file("compute_targets", "targets")
        conda:
            "../envs/layers.yaml"
        params:
            targets=LAYERS["targets"],
            on_bad_target=LAYERS["on_bad_target"],
        script:
            "../workflow/scripts/compute_targets.py"

    rule probe_layers:
        input:
            unpack(probe_inputs),
        output:
            table=report(
                out(paths.PROBE_TABLE, backbone="{layered}"),
                caption="../report/layers_probe.rst",
                category="Layers",
                labels={"backbone": "{layered}", "figure": "probe table"},
            ),
            folds=out(paths.PROBE_FOLDS, backbone="{layered}"),
        log:
            log_file("probe_layers", "{layered}"),
        benchmark:
            bench_file("probe_layers", "{layered}")
        wildcard_constraints:
            layered=regex_of(LAYER_STUDY),
        conda:
            "../envs/layers.yaml"
        params:
            probe=LAYERS["probe"],
            confidence=config["evaluation"]["confidence"],
            seed=config["seed"],
        script:
            "../workflow/scripts/probe_layers.py"

    rule select_layer:
        input:
            unpack(select_inputs),
        output:
            embeddings=out(paths.EMBEDDING, embedding="{layered}@{pick}"),
            sidecar=out(paths.EMBEDDING_SIDECAR, embedding="{layered}@{pick}"),
        log:
            log_file("select_layer", "{layered}@{pick}"),
        benchmark:
            bench_file("select_layer", "{layered}@{pick}")
        wildcard_constraints:
            layered=regex_of(LAYER_STUDY),
            pick=regex_of([str(p) for p in LAYER_PICKS]),
        conda:
            "../envs/data.yaml"
        params:
            select_by=LAYERS["select"]["by"],
        script:
            "../workflow/scripts/select_layer.py"

    rule mean_layers:
        input:
            unpack(layer_stack),
        output:
            embeddings=out(paths.EMBEDDING, embedding="{layered}-mean"),
            sidecar=out(paths.EMBEDDING_SIDECAR, embedding="{layered}-mean"),
        log:
            log_file("mean_layers", "{layered}"),
        benchmark:
            bench_file("mean_layers", "{layered}")
        wildcard_constraints:
            layered=regex_of(LAYER_STUDY),
        conda:
            "../envs/data.yaml"
        params:
            standardise=LAYERS["mean"]["standardise"],
        script:
            "../workflow/scripts/mean_layers.py"

    rule train_fusion:
        input:
            unpack(fusion_inputs),
        output:
            embeddings=out(paths.EMBEDDING, embedding="{layered}-fused"),
            sidecar=out(paths.EMBEDDING_SIDECAR, embedding="{layered}-fused"),
            weights=out(paths.FUSION_WEIGHTS, backbone="{layered}"),
            roles=out(paths.FUSION_ROLES, backbone="{layered}"),
            checkpoint=out(paths.FUSION_CHECKPOINT, backbone="{layered}"),
            curves=out(paths.FUSION_CURVES, backbone="{layered}"),
        log:
            log_file("train_fusion", "{layered}"),
        benchmark:
            bench_file("train_fusion", "{layered}")
        wildcard_constraints:
            layered=regex_of(LAYER_STUDY),
        conda:
            "../envs/layers.yaml"
        params:
            fusion=LAYERS["fusion"],
            state_dir=out(paths.FUSION_STATE, backbone="{layered}"),
            seed=config["seed"],
        script:
            "../workflow/scripts/train_fusion.py"

    rule search_tracks:
        input:
            unpack(searched_embeddings),
            unpack(layer_stack),
            targets=out(paths.LAYER_TARGETS),
            roles=out(paths.FUSION_ROLES, backbone="{layered}"),
        output:
            recall=report(
                out(paths.SEARCH_RECALL, backbone="{layered}"),
                caption="../report/layers_search.rst",
                category="Layers",
                labels={"backbone": "{layered}", "figure": "search recall"},
            ),
            neighbours=out(paths.TRACK_NEIGHBOURS, embedding="{layered}-fused"),
        log:
            log_file("search_tracks", "{layered}"),
        benchmark:
            bench_file("search_tracks", "{layered}")
        wildcard_constraints:
            layered=regex_of(LAYER_STUDY),
        conda:
            "../envs/recommend.yaml"
        params:
            search=LAYERS["search"],
            confidence=config["evaluation"]["confidence"],
        script:
            "../workflow/scripts/search_tracks.py"

    rule plot_layers:
        input:
            table=out(paths.PROBE_TABLE, backbone="{layered}"),
            weights=out(paths.FUSION_WEIGHTS, backbone="{layered}"),
        output:
            heatmap=report(
                out(paths.PROBE_HEATMAP, backbone="{layered}"),
                caption="../report/layers_heatmap.rst",
                category="Layers",
                labels={"backbone": "{layered}", "figure": "probe heat map"},
            ),
            weights=report(
                out(paths.FUSION_PLOT, backbone="{layered}"),
                caption="../report/layers_weights.rst",
                category="Layers",
                labels={"backbone": "{layered}", "figure": "fusion weights"},
            ),
        log:
            log_file("plot_layers", "{layered}"),
        benchmark:
            bench_file("plot_layers", "{layered}")
        wildcard_constraints:
            layered=regex_of(LAYER_STUDY),
        conda:
            "../envs/data.yaml"
        script:
            "../workflow/scripts/plot_layers.py"

# Per-user metrics on the common item set (mean over seeds) with intervals, one table per
# recommender family, paired tests between embeddings per run, the verdict and the costs.


rule evaluate:
    input:
        recs=seed_recs,
        curves=seed_curves,
        val=out(paths.SPLIT, part="val"),
        test=out(paths.SPLIT, part="test"),
        sidecars=item_set_sidecars,
    output:
        val_per_user=out(paths.METRICS_PER_USER, part="val"),
        val_summary=out(paths.METRICS_SUMMARY, part="val"),
        val_report=out(paths.EVALUATION_REPORT, part="val"),
        test_per_user=out(paths.METRICS_PER_USER, part="test"),
        test_summary=out(paths.METRICS_SUMMARY, part="test"),
        test_report=out(paths.EVALUATION_REPORT, part="test"),
    log:
        log_file("evaluate", "{run}.{embedding}"),
    benchmark:
        bench_file("evaluate", "{run}.{embedding}")
    conda:
        "../envs/data.yaml"
    params:
        parts=paths.EVALUATED_PARTS,
        k=EVALUATION["k"],
        confidence=EVALUATION["confidence"],
        interval=EVALUATION["interval"],
        # Popularity gives everyone the same list by design: no collapse to diagnose.
        personalised=lambda wildcards: wildcards.embedding != NO_EMBEDDING,
    script:
        "../workflow/scripts/evaluate.py"


rule make_table:
    input:
        summaries=family_summaries,
        reports=family_reports,
        sidecars=lambda wildcards: [
            embedding_sidecar(e)
            for _, e in family_cells(wildcards.family)
            if e != NO_EMBEDDING
        ],
        track_ids=out(paths.TRACK_IDS),
    output:
        table=out(paths.TABLE),
        display=report(
            out(paths.TABLE_DISPLAY),
            caption="../report/table.rst",
            category="2. Tables",
            labels={"recommender": "{family}"},
        ),
    log:
        log_file("make_table", "{family}"),
    benchmark:
        bench_file("make_table", "{family}")
    conda:
        "../envs/data.yaml"
    params:
        cells=lambda wildcards: family_cells(wildcards.family),
        trained=lambda wildcards: any(
            RUNS[r].trained for r in family_runs(wildcards.family) if r in RUNS
        ),
        k=EVALUATION["k"],
    script:
        "../workflow/scripts/make_table.py"


rule compare_embeddings:
    input:
        per_user=compared_metrics,
        reports=compared_reports,
    output:
        tests=report(
            out(paths.SIGNIFICANCE),
            caption="../report/significance.rst",
            category="Significance",
            labels={"run": "{run}", "kind": "table"},
        ),
        means=out(paths.SIGNIFICANCE_MEANS),
    log:
        log_file("compare_embeddings", "{run}"),
    benchmark:
        bench_file("compare_embeddings", "{run}")
    conda:
        "../envs/data.yaml"
    params:
        cells=lambda wildcards: compared_cells(wildcards.run),
        confidence=EVALUATION["confidence"],
        seed=config["seed"],
    script:
        "../workflow/scripts/compare_embeddings.py"


rule plot_significance:
    input:
        tests=out(paths.SIGNIFICANCE),
    output:
        plot=report(
            out(paths.SIGNIFICANCE_PLOT),
            caption="../report/significance.rst",
            category="Significance",
            labels={"run": "{run}", "kind": "heat map"},
        ),
    log:
        log_file("plot_significance", "{run}"),
    benchmark:
        bench_file("plot_significance", "{run}")
    conda:
        "../envs/data.yaml"
    params:
        metric=f"ndcg@{EVALUATION['k']}",
        confidence=EVALUATION["confidence"],
    script:
        "../workflow/scripts/plot_significance.py"


rule verdict:
    input:
        tests=[out(paths.SIGNIFICANCE, run=run) for run in significance_runs()],
        means=[out(paths.SIGNIFICANCE_MEANS, run=run) for run in significance_runs()],
        tables=[out(paths.TABLE, family=family) for family in families()],
    output:
        verdict=report(
            out(paths.VERDICT),
            caption="../report/verdict.rst",
            category="1. Verdict",
            labels={"table": "verdict"},
        ),
    log:
        log_file("verdict", "all"),
    benchmark:
        bench_file("verdict", "all")
    conda:
        "../envs/data.yaml"
    params:
        metric=f"ndcg@{EVALUATION['k']}",
        runs=significance_runs(),
    script:
        "../workflow/scripts/verdict.py"


rule cost_table:
    input:
        tables=[out(paths.TABLE, family=family) for family in families()],
        sidecars=all_sidecars(),
    output:
        costs=report(
            out(paths.COSTS),
            caption="../report/costs.rst",
            category="Costs",
            labels={"table": "costs"},
        ),
    log:
        log_file("cost_table", "all"),
    conda:
        "../envs/data.yaml"
    params:
        benchmarks=out("benchmarks"),
        embeddings=list(EMBEDDINGS),
        backbones={name: block["plugin"] for name, block in BACKBONES.items()},
    script:
        "../workflow/scripts/cost_table.py"


rule plot_comparison:
    input:
        table=out(paths.TABLE),
    output:
        plot=report(
            out(paths.PLOT),
            caption="../report/plot.rst",
            category="Plots",
            labels={"recommender": "{family}"},
        ),
    log:
        log_file("plot_comparison", "{family}"),
    benchmark:
        bench_file("plot_comparison", "{family}")
    conda:
        "../envs/data.yaml"
    params:
        family="{family}",
        k=EVALUATION["k"],
        confidence=EVALUATION["confidence"],
    script:
        "../workflow/scripts/plot_comparison.py"


rule plot_model_comparison:
    input:
        tables=[out(paths.TABLE, family=family) for family in families()],
    output:
        plot=report(
            out(paths.COMPARISON_PLOT),
            caption="../report/comparison.rst",
            category="Plots",
            labels={"recommender": "all"},
        ),
    log:
        log_file("plot_model_comparison", "all"),
    benchmark:
        bench_file("plot_model_comparison", "all")
    conda:
        "../envs/data.yaml"
    params:
        k=EVALUATION["k"],
        confidence=EVALUATION["confidence"],
    script:
        "../workflow/scripts/plot_model_comparison.py"


rule plot_training_curves:
    input:
        curves=training_curves,
    output:
        plot=report(
            out(paths.CURVES_PLOT),
            caption="../report/curves.rst",
            category="Training curves",
            labels={"run": "{run}"},
        ),
    log:
        log_file("plot_training_curves", "{run}"),
    benchmark:
        bench_file("plot_training_curves", "{run}")
    conda:
        "../envs/data.yaml"
    params:
        curve_keys=lambda wildcards: [
            [e, s]
            for e in run_embeddings(wildcards.run)
            for s in run_seeds(wildcards.run)
        ],
        run="{run}",
    script:
        "../workflow/scripts/plot_training_curves.py"

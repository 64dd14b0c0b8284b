# Per-user metrics with t-intervals, one table and one plot per model.


rule evaluate:
    input:
        recs=out(paths.RECOMMENDATIONS),
        truth=out(paths.SPLIT),
    output:
        per_user=out(paths.METRICS_PER_USER),
        summary=out(paths.METRICS_SUMMARY),
    log:
        log_file("evaluate", "{model}.{backbone}.{part}"),
    conda:
        "../envs/data.yaml"
    params:
        k=config["evaluation"].get("k", 50),
        confidence=config["evaluation"].get("confidence", 0.95),
    script:
        "../workflow/scripts/evaluate.py"


rule make_table:
    input:
        summaries=test_summaries,
        sidecars=table_sidecars,
    output:
        table=report(
            out(paths.TABLE),
            caption="../report/table.rst",
            category="Tables",
            labels={"recommender": "{family}"},
        ),
    log:
        log_file("make_table", "{family}"),
    conda:
        "../envs/data.yaml"
    params:
        runs=lambda wildcards: family_table_runs(wildcards),
        k=config["evaluation"].get("k", 50),
    script:
        "../workflow/scripts/make_table.py"


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
    conda:
        "../envs/data.yaml"
    params:
        model="{family}",
        k=config["evaluation"].get("k", 50),
    script:
        "../workflow/scripts/plot_comparison.py"


rule plot_model_comparison:
    input:
        tables=[out(paths.TABLE, family=family) for family in RUNS],
    output:
        plot=report(
            out(paths.COMPARISON_PLOT),
            caption="../report/comparison.rst",
            category="Plots",
            labels={"recommender": "all"},
        ),
    log:
        log_file("plot_model_comparison", "all"),
    conda:
        "../envs/data.yaml"
    params:
        k=config["evaluation"].get("k", 50),
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
            labels={"model": "{model}"},
        ),
    log:
        log_file("plot_training_curves", "{model}"),
    conda:
        "../envs/data.yaml"
    params:
        backbones=list(BACKBONES),
        model="{model}",
    script:
        "../workflow/scripts/plot_training_curves.py"

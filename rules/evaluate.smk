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
        sidecars=sidecars,
    output:
        table=report(
            out(paths.TABLE),
            caption="../report/table.rst",
            category="Tables",
            labels={"model": "{model}"},
        ),
    log:
        log_file("make_table", "{model}"),
    conda:
        "../envs/data.yaml"
    params:
        backbones=list(BACKBONES),
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
            labels={"model": "{model}"},
        ),
    log:
        log_file("plot_comparison", "{model}"),
    conda:
        "../envs/data.yaml"
    params:
        model="{model}",
        k=config["evaluation"].get("k", 50),
    script:
        "../workflow/scripts/plot_comparison.py"

# The data set: (demo generation), catalogue and track-id mapping, the Onion split,
# and the data-quality table that says what each step left out.


rule generate_demo:
    output:
        information=out(paths.DEMO_FILE, name=paths.MUSIC4ALL_INFORMATION),
        genres=out(paths.DEMO_FILE, name=paths.MUSIC4ALL_GENRES),
        tags=out(paths.DEMO_FILE, name=paths.MUSIC4ALL_TAGS),
        metadata=out(paths.DEMO_FILE, name=paths.MUSIC4ALL_METADATA),
        listening_log=out(paths.DEMO_FILE, name=paths.ONION_LISTENING_LOG),
        audio=directory(out(paths.DEMO_FILE, name=paths.MUSIC4ALL_AUDIO_DIR)),
    log:
        log_file("generate_demo", "demo"),
    benchmark:
        bench_file("generate_demo", "demo")
    conda:
        "../envs/demo.yaml"
    threads: 2
    params:
        demo=config["dataset"].get("demo"),
        seed=config["seed"],
    script:
        "../workflow/scripts/generate_demo.py"


rule build_catalogue:
    input:
        unpack(catalogue_inputs),
    output:
        catalogue=out(paths.CATALOGUE),
        track_ids=out(paths.TRACK_IDS),
        report=out(paths.CATALOGUE_REPORT),
    log:
        log_file("build_catalogue", "catalogue"),
    benchmark:
        bench_file("build_catalogue", "catalogue")
    conda:
        "../envs/data.yaml"
    params:
        audio_dir=audio_dir(),
        audio_ext=audio_ext(),
    script:
        "../workflow/scripts/build_catalogue.py"


rule map_plays:
    input:
        log=dataset_file(paths.ONION_LISTENING_LOG),
        track_ids=out(paths.TRACK_IDS),
    output:
        plays=out(paths.PLAYS),
        report=out(paths.MAPPING_REPORT),
    log:
        log_file("map_plays", "plays"),
    benchmark:
        bench_file("map_plays", "plays")
    conda:
        "../envs/data.yaml"
    params:
        strict=config["mapping"]["strict"],
        chunk_rows=config["mapping"]["chunk_rows"],
    script:
        "../workflow/scripts/map_plays.py"


rule split_interactions:
    input:
        plays=out(paths.PLAYS),
    output:
        train=out(paths.SPLIT, part="train"),
        val=out(paths.SPLIT, part="val"),
        test=out(paths.SPLIT, part="test"),
        report=out(paths.SPLIT_REPORT),
    log:
        log_file("split_interactions", "split"),
    benchmark:
        bench_file("split_interactions", "split")
    conda:
        "../envs/data.yaml"
    params:
        start_date=config["split"]["start_date"],
        test_date=config["split"]["test_date"],
        end_date=config["split"]["end_date"],
        val_fraction=config["split"]["val_fraction"],
        seed=config["seed"],
    script:
        "../workflow/scripts/split_interactions.py"


rule data_quality:
    input:
        catalogue_report=out(paths.CATALOGUE_REPORT),
        mapping_report=out(paths.MAPPING_REPORT),
        split_report=out(paths.SPLIT_REPORT),
    output:
        table=report(
            out(paths.DATA_QUALITY),
            caption="../report/data_quality.rst",
            category="Data quality",
        ),
    log:
        log_file("data_quality", "data"),
    benchmark:
        bench_file("data_quality", "data")
    conda:
        "../envs/data.yaml"
    script:
        "../workflow/scripts/data_quality.py"

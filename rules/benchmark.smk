# Cost stage: latency / RTF / peak RSS / parameters / size / int8 and bf16 effect of each trained cell.
# Latency is wall-clock: for figures worth reporting, serialise these jobs with
# `--resources benchmark_slot=1` (each job holds one slot) so they do not share cores.

rule benchmark_cell:
    input:
        model=f"{RUN}/model.safetensors",
        config=f"{RUN}/config.yaml",
        dev=f"{RUN}/dev_scores.parquet",
        scores=f"{RUN}/scores/{BENCH_DATASET}.parquet",
        manifest=f"results/manifest/{BENCH_DATASET}.parquet",
    output:
        BENCH_OUT,
    params:
        cell=lambda wildcards: cell_of(wildcards).as_dict(),
        run_dir=lambda wildcards, input: str(Path(input.model).parent),
        clip_s=BENCH.get("clip_s", 4.0),
        warmup=BENCH.get("warmup", 5),
        repeats=BENCH.get("repeats", 50),
        quant_clips=BENCH.get("quant_clips", 200),
        int8=BENCH.get("int8", True),
        bf16=BENCH.get("bf16", True),
        seed=config["seed"],
    threads: 1
    resources:
        mem_mb=BENCH.get("mem_mb", 4000),
        benchmark_slot=1,
    log:
        f"logs/benchmark/{RUN_PATH}.log",
    conda:
        "../environment.yml"
    script:
        "../workflow/scripts/benchmark_cell.py"


rule benchmark_all:
    input:
        all_benchmarks(),
    output:
        "results/benchmark/summary.csv",
    log:
        "logs/benchmark/summary.log",
    conda:
        "../environment.yml"
    script:
        "../workflow/scripts/benchmark_all.py"

# Cost stage: latency / RTF / peak RSS / parameters / size / int8 and bf16 effect of each trained cell.
# Latency is wall-clock: for figures worth reporting, serialise these jobs with
# `--resources benchmark_slot=1` (each job holds one slot) so they do not share cores.

rule benchmark_cell:
    input:
        model="results/runs/{train_dataset}/{encoder}/{view}/{loss}/{head}/{freeze}/seed{seed}/model.safetensors",
        config="results/runs/{train_dataset}/{encoder}/{view}/{loss}/{head}/{freeze}/seed{seed}/config.yaml",
        dev="results/runs/{train_dataset}/{encoder}/{view}/{loss}/{head}/{freeze}/seed{seed}/dev_scores.parquet",
        scores=f"results/runs/{{train_dataset}}/{{encoder}}/{{view}}/{{loss}}/{{head}}/{{freeze}}/seed{{seed}}/scores/{BENCH_DATASET}.parquet",
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
        "logs/benchmark/{train_dataset}/{encoder}/{view}/{loss}/{head}/{freeze}/seed{seed}.log",
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
        "../workflow/scripts/benchmark_cell.py"

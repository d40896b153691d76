# Cost stage: latency / RTF / peak RSS / parameters / size / int8 effect of each trained cell.
# Latency is wall-clock: for figures worth reporting, serialise these jobs with
# `--resources benchmark_slot=1` (each job holds one slot) so they do not share cores.

BENCH = config.get("benchmark") or {}
BENCH_DATASET = BENCH.get("eval_dataset", config["eval_datasets"][0])
BENCH_OUT = "results/benchmark/{train_dataset}/{encoder}/{view}/{loss}/{head}/{freeze}/seed{seed}.json"


def all_benchmarks():
    return [BENCH_OUT.format(**c.as_dict()) for c in CELLS]


rule benchmark_cell:
    input:
        model=RUN + "/model.safetensors",
        config=RUN + "/config.yaml",
        dev=RUN + "/dev_scores.parquet",
        scores=RUN + f"/scores/{BENCH_DATASET}.parquet",
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

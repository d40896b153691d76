"""Cost figures of one trained cell: latency, RTF, peak RSS, parameters, int8 / bf16 effect."""
from scaa.workflow.job import setup

log = setup(snakemake, "benchmark")  # noqa: F821
from scaa.workflow import benchmark  # noqa: E402

p, i = snakemake.params, snakemake.input  # noqa: F821
res = benchmark.benchmark_cell(p.run_dir, snakemake.output[0], i.scores, i.manifest, clip_s=p.clip_s,  # noqa: F821
                               threads=snakemake.threads, warmup=p.warmup, repeats=p.repeats,  # noqa: F821
                               seed=p.seed, quant_clips=p.quant_clips, int8=p.int8, bf16=p.bf16,
                               cell=p.cell, allow_plugins=snakemake.config.get("plugins") or [])  # noqa: F821
log.info("p50 %.2f ms, p95 %.2f ms, peak RSS %.0f MB, int8 %s, bf16 %s", res["latency_ms"]["p50"],
         res["latency_ms"]["p95"], res["peak_rss_mb"], res["int8"].get("applies"), res["bf16"].get("applies"))

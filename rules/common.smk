# Config validation, the ablation grid and path helpers shared by every stage.
from snakemake.utils import validate

from scaa import config as scaa_config
from scaa import grid
from scaa.registry import load_plugins


validate(config, "../config/schema.yaml")
load_plugins(config.get("plugins"))
scaa_config.check(config)

CELLS, SKIPPED = grid.expand(config)
N_SHARDS = int(config["features"]["shards"])
RUN = "results/runs/{train_dataset}/{encoder}/{view}/{loss}/{head}/{freeze}/seed{seed}"
FEATURES = "results/features/{dataset}/{encoder}/{view}/{freeze}"


scattergather:
    features=N_SHARDS,


wildcard_constraints:
    dataset=r"[^/]+",
    train_dataset=r"[^/]+",
    eval_dataset=r"[^/]+",
    encoder=r"[^/]+",
    view=r"[^/]+",
    loss=r"[^/]+",
    head=r"[^/]+",
    freeze=r"frozen|top\d+",
    seed=r"\d+",


def cell_of(wildcards):
    return grid.cell_from_wildcards(wildcards)


def cell_spec(wildcards):
    """Only this cell's spec: adding another variant leaves this job's params unchanged."""
    return grid.cell_spec(config, cell_of(wildcards))


def feature_shards(dataset, encoder, view, freeze):
    return gather.features(
        FEATURES + "/shard{scatteritem}.npz",
        dataset=dataset,
        encoder=encoder,
        view=view,
        freeze=freeze,
    )


def feature_skips(dataset, encoder, view, freeze):
    return [p.replace(".npz", ".skips.csv") for p in feature_shards(dataset, encoder, view, freeze)]


def train_shards(wildcards):
    """view name -> shard paths of the training dataset (always including 'none', for dev)."""
    views = grid.view_names(config, wildcards.view)
    views = views + ([] if "none" in views else ["none"])
    return {
        v: feature_shards(wildcards.train_dataset, wildcards.encoder, v, wildcards.freeze)
        for v in views
    }


def all_run_files(name):
    return [f"{c.run_dir}/{name}" for c in CELLS]


def all_metrics():
    return [
        f"{c.run_dir}/metrics/{ds}.json" for c in CELLS for ds in config["eval_datasets"]
    ]


def all_scores():
    return [
        f"{c.run_dir}/scores/{ds}.parquet" for c in CELLS for ds in config["eval_datasets"]
    ]


def all_feature_skips():
    used = set()
    for c in CELLS:
        views = grid.view_names(config, c.view)
        for v in set(views) | {"none"}:
            used.add((c.train_dataset, c.encoder, v, c.freeze))
        for ds in config["eval_datasets"]:
            used.add((ds, c.encoder, "none", c.freeze))
    return sorted(p for key in sorted(used) for p in feature_skips(*key))

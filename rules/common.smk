# Config validation, the ablation grid and path helpers shared by every stage.
import os

from snakemake.utils import validate

from scaa.plan import config as scaa_config
from scaa.workflow import extract
from scaa.plan import grid
from scaa.workflow import resynth
from scaa.plan import training_sets
from scaa.registry import load_plugins


if workflow.is_main_process and workflow.overwrite_configfiles:
    # say what each --configfile replaced of the default config (they are merged, key by key)
    import yaml

    _default = "config/config.yaml"
    _tree = yaml.safe_load(open(os.path.join(workflow.basedir, _default))) or {}
    for _line in scaa_config.merge_report(
        _tree,
        [(str(p), yaml.safe_load(open(p)) or {}) for p in workflow.overwrite_configfiles],
        _default,
    ):
        logger.info(_line)

scaa_config.check_schema(config, os.path.join(workflow.basedir, "config/schema.yaml"))
validate(config, "../config/schema.yaml")  # fills in the schema's defaults
load_plugins(config.get("plugins"))
scaa_config.check(config)

CELLS, SKIPPED = grid.expand(config)
RUN_PATH = grid.RUN_PATH  # {train_dataset}/{encoder}/.../seed{seed}: one cell's path in every tree
RUN = grid.RUN_DIR  # a trained cell's directory: results/runs/<RUN_PATH>
REFERENCE = grid.reference_cell(config)  # evaluation.reference, or None
N_SHARDS = int(config["features"]["shards"])
SHARD_SIZE = config["features"].get("shard_size")


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
    generator=r"[^/]+",


def cell_of(wildcards):
    return grid.cell_from_wildcards(wildcards)


def cell_spec(wildcards):
    """Only this cell's spec: adding another variant leaves this job's params unchanged."""
    return grid.cell_spec(config, cell_of(wildcards))


def feature_shards(dataset, encoder, view, freeze):
    """Shard files of one (dataset, encoder, view, freeze): ``features.shards`` of them, or
    with ``features.shard_size`` one per that many clips of the manifest (call this from
    input functions only: it waits for the manifest checkpoint)."""
    if not SHARD_SIZE:
        return gather.features(
            "results/features/{dataset}/{encoder}/{view}/{freeze}/shard{scatteritem}.npz",
            dataset=dataset,
            encoder=encoder,
            view=view,
            freeze=freeze,
        )
    manifest = checkpoints.manifest.get(dataset=dataset).output.manifest
    n = extract.shard_count(manifest, SHARD_SIZE, splits=feature_splits(view))
    return [
        f"results/features/{dataset}/{encoder}/{view}/{freeze}/shard{i}-of-{n}.npz"
        for i in range(1, n + 1)
    ]


def feature_skips(dataset, encoder, view, freeze):
    return [p.replace(".npz", ".skips.csv") for p in feature_shards(dataset, encoder, view, freeze)]


def train_shards(wildcards):
    """view name -> shard paths of the training dataset (always including 'none', for dev);
    with vocoded spoofs also 'resynth:<generator>' -> that generator's shards. For a
    training set (scaa.plan.training_sets): corpus -> that mapping, a dev-only corpus with
    'none' alone."""
    dataset, resynth_set = grid.split_train_key(wildcards.train_dataset)
    views = grid.view_names(config, wildcards.view)
    views = views + ([] if "none" in views else ["none"])
    union = training_sets.get(config, dataset)
    if union is not None:
        return {
            corpus: {
                v: feature_shards(corpus, wildcards.encoder, v, wildcards.freeze)
                for v in (views if corpus in union["corpora"] else ["none"])
            }
            for corpus in training_sets.all_corpora(config, [dataset])
        }
    shards = {
        v: feature_shards(dataset, wildcards.encoder, v, wildcards.freeze) for v in views
    }
    for name in resynth.set_names(config, resynth_set):
        shards[f"resynth:{name}"] = resynth_shards(
            dataset, wildcards.encoder, name, wildcards.freeze
        )
    return shards


def generalisation_sets():
    """train key -> {corpora, dev, balance, left_out} of every training set the grid uses."""
    from scaa.report.generalisation import set_info

    names = sorted({c.train_dataset for c in CELLS})
    return set_info(names, training_sets.declared(config))


def split_rules():
    """dataset -> how its splits arose, for every corpus a cell trains or selects on."""
    used = training_sets.all_corpora(config, sorted({c.train_dataset for c in CELLS}))
    return {ds: training_sets.split_rule(config["datasets"][ds]) for ds in used}


def train_shard_files(wildcards):
    """Every shard path of :func:`train_shards`, flat (the rule's input)."""
    out = []
    for value in train_shards(wildcards).values():
        for paths in value.values() if isinstance(value, dict) else [value]:
            out += paths
    return out


def train_manifest(wildcards):
    """The training dataset's manifest; for a training set, each member corpus' manifest."""
    dataset = grid.split_train_key(wildcards.train_dataset)[0]
    if training_sets.get(config, dataset) is not None:
        return [f"results/manifest/{c}.parquet" for c in training_sets.all_corpora(config, [dataset])]
    return f"results/manifest/{dataset}.parquet"


# -- vocoded training spoofs (scaa.workflow.resynth) ---------------------------------------
# config: resynthesizers: {NAME: {type, ...}}, resynth_sets: {SET: [NAME, ...]},
# ablation.resynth: [none, SET, ...], attack_families: {DATASET: {ATTACK: FAMILY}}.
RESYNTH_SHARD = "results/resynth/{dataset}/{encoder}/{generator}/{freeze}/shard{scatteritem}.npz"
RESYNTH_AUDIO = "results/resynth_audio/{dataset}/{generator}/shard{scatteritem}"


def _resynth_items(dataset):
    """Scatter items of a dataset's generated rows: features.shards of them, or one per
    features.shard_size train clips (from the manifest checkpoint)."""
    if not SHARD_SIZE:
        return [f"{i}-of-{N_SHARDS}" for i in range(1, N_SHARDS + 1)]
    manifest = checkpoints.manifest.get(dataset=dataset).output.manifest
    n = extract.shard_count(manifest, SHARD_SIZE, splits=["train"])
    return [f"{i}-of-{n}" for i in range(1, n + 1)]


def resynth_shards(dataset, encoder, generator, freeze):
    """Feature shards of the spoof rows ``generator`` adds to ``dataset``'s train split."""
    return [
        RESYNTH_SHARD.replace("{scatteritem}", item).format(
            dataset=dataset, encoder=encoder, generator=generator, freeze=freeze
        )
        for item in _resynth_items(dataset)
    ]


def resynth_audio_rows(wildcards):
    """The generated-row tables (one per generation shard) of a dataset and generator."""
    return [
        RESYNTH_AUDIO.replace("{scatteritem}", item).format(
            dataset=wildcards.dataset, generator=wildcards.generator
        )
        + ".parquet"
        for item in _resynth_items(wildcards.dataset)
    ]


def resynth_overlap_config():
    return {k: config.get(k) for k in ("resynthesizers", "resynth_sets", "attack_families", "datasets")}


RESYNTH_SETS_USED = sorted({c.resynth for c in CELLS if c.resynth != grid.NO_RESYNTH})


def reference_scores(wildcards):
    """The reference cell's scores of this eval set: the evaluate rules write each cell's
    paired bootstrap against it (nothing without evaluation.reference)."""
    if REFERENCE is None:
        return {}
    return {"reference": f"{REFERENCE.run_dir}/scores/{wildcards.eval_dataset}.parquet"}


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


def feature_keys():
    """(dataset, encoder, view, freeze) of every feature set the cells use: training views,
    clean dev/eval, and each channel condition of the eval sets."""
    used = set()
    for c in CELLS:
        views = grid.view_names(config, c.view)
        trains_on, selects_on = training_sets.corpora_of(config, c.train_dataset)
        for ds in trains_on:
            for v in set(views) | {"none"}:
                used.add((ds, c.encoder, v, c.freeze))
        for ds in selects_on:
            used.add((ds, c.encoder, "none", c.freeze))
        for ds in config["eval_datasets"]:
            used.add((ds, c.encoder, "none", c.freeze))
            for cond in CONDITION_NAMES:
                used.add((ds, c.encoder, scaa_conditions.view_name(cond), c.freeze))
    return sorted(used)


def all_feature_skips():
    skips = sorted(p for key in feature_keys() for p in feature_skips(*key))
    generated = {
        (c.train_dataset, c.encoder, name, c.freeze)
        for c in CELLS
        for name in resynth.set_names(config, c.resynth)
    }
    gen_skips = [
        p.replace(".npz", ".skips.csv") for key in sorted(generated) for p in resynth_shards(*key)
    ]
    audio_skips = [
        RESYNTH_AUDIO.replace("{scatteritem}", item).format(dataset=d, generator=g) + ".skips.csv"
        for d, g in sorted({(d, g) for d, _, g, _ in generated})
        for item in _resynth_items(d)
    ]
    return skips + gen_skips + audio_skips


# -- data ----------------------------------------------------------------------


def dataset_ready_flag(wildcards):
    """A demo dataset depends on the corpus the demo_corpus rule builds."""
    spec = config["datasets"][wildcards.dataset]
    if spec["type"] == "demo":
        return [os.path.join(spec["root"], ".complete")]
    return []


# -- benchmark -----------------------------------------------------------------

BENCH = config.get("benchmark") or {}
BENCH_DATASET = BENCH.get("eval_dataset", config["eval_datasets"][0])
BENCH_OUT = f"results/benchmark/{RUN_PATH}.json"


def all_benchmarks():
    return [BENCH_OUT.format(**{**c.as_dict(), "train_dataset": c.train_key}) for c in CELLS]


# -- tuning --------------------------------------------------------------------
# config: tune: {storage: URL or null, studies: {NAME: {dataset, encoder, view, loss,
#   n_trials, workers, seed, space, fixed, timeout_s}}}.

TUNE = config.get("tune") or {}
TUNE_STUDIES = TUNE.get("studies") or {}


wildcard_constraints:
    study=r"[^/]+",
    worker=r"\d+",


def tune_storage(study):
    url = TUNE.get("storage")
    return url.format(study=study) if url else f"sqlite:///results/tune/{study}.db"


def tune_loss(study):
    name = TUNE_STUDIES[study].get("loss", "ce")
    return (config.get("losses") or {}).get(name, {"type": name})


def tune_views(study):
    return grid.view_names(config, TUNE_STUDIES[study].get("view", "none"))


def tune_shards(wildcards):
    s = TUNE_STUDIES[wildcards.study]
    views = tune_views(wildcards.study)
    views = views + ([] if "none" in views else ["none"])
    return {v: feature_shards(s["dataset"], s["encoder"], v, "frozen") for v in views}


def tuned_head_input(wildcards):
    """For the train_cell rule: a `tuned` head depends on its study's best_head.yaml."""
    spec = config["heads"][wildcards.head]
    if spec.get("type") != "tuned":
        return []
    return [f"{spec.get('root', 'results/tune')}/{spec['study']}/best_head.yaml"]


# -- score fusion (scaa.workflow.fusion_grid) -----------------------------------------------------
# config: fusions: {NAME: {members: [partial cells], seeds, prior, l2}}.
from scaa.workflow import fusion_grid as scaa_fusion

FUSIONS, SKIPPED_FUSIONS = scaa_fusion.expand(config, CELLS)
FUSION_DIR = scaa_fusion.FUSION_DIR
FUSION_BY_KEY = {(f.name, f.seed): f for f in FUSIONS}


wildcard_constraints:
    fusion=r"[^/]+",


def fusion_of(wildcards):
    return FUSION_BY_KEY[(wildcards.fusion, int(wildcards.seed))]


def fusion_member_files(wildcards, name):
    return [f"{m.run_dir}/{name}" for m in fusion_of(wildcards).members]


def all_fusion_files(name):
    return [f"{f.run_dir}/{name}" for f in FUSIONS]


def all_fusion_metrics():
    return [f"{f.run_dir}/metrics/{ds}.json" for f in FUSIONS for ds in config["eval_datasets"]]


# -- robustness: channel conditions of eval audio, error analysis, energy ---------
# A condition's features live in the view slot as `cond-<name>` (eval split only), so
# adding a condition adds only its extraction jobs, then re-runs each cell's robustness
# job (seconds: the head scores cached features) and the tables.
from scaa.dsp import conditions as scaa_conditions

CONDITIONS_CFG = scaa_conditions.check_names(config["evaluation"].get("conditions"))
CONDITION_NAMES = sorted(CONDITIONS_CFG)
ENERGY = {"enabled": True, "country_iso_code": "USA", **(config.get("energy") or {})}


wildcard_constraints:
    condition=r"[^/]+",
    utt_id=r"[^/]+",


def feature_view_spec(view):
    if scaa_conditions.is_condition_view(view):
        return {"type": "condition", "condition": CONDITIONS_CFG[scaa_conditions.condition_of_view(view)]}
    return grid.view_spec(config, view)


def feature_splits(view):
    """'none' is extracted for every split, a condition for eval only, a training view for train only."""
    if view == "none":
        return None
    return ["eval"] if scaa_conditions.is_condition_view(view) else ["train"]


def evaluation_params():
    """evaluation settings a metrics job uses (not the condition list: adding a condition
    must not re-run the clean evaluations)."""
    return {k: v for k, v in config["evaluation"].items() if k not in ("conditions", "errors")}


def condition_metrics(run_dir, eval_dataset):
    return {c: f"{run_dir}/robustness/{c}/metrics/{eval_dataset}.json" for c in CONDITION_NAMES}


def condition_scores(run_dir, eval_dataset):
    return {c: f"{run_dir}/robustness/{c}/scores/{eval_dataset}.parquet" for c in CONDITION_NAMES}


def condition_shards(wildcards):
    """condition -> its feature shards of this cell's encoder on the eval dataset (it may wait
    for the manifest checkpoint, so a rule using it lists that manifest among its inputs)."""
    c = cell_of(wildcards)
    return {
        cond: feature_shards(
            wildcards.eval_dataset, c.encoder, scaa_conditions.view_name(cond), c.freeze
        )
        for cond in CONDITION_NAMES
    }


def all_condition_metrics():
    return [p for c in CELLS for ds in config["eval_datasets"] for p in condition_metrics(c.run_dir, ds).values()]


def all_errors():
    return [f"{c.run_dir}/errors/{ds}/errors.csv" for c in CELLS for ds in config["eval_datasets"]]


def all_energy():
    """Energy records the summary reads: training, scoring and every feature shard used."""
    out = [f"{c.run_dir}/energy_train.json" for c in CELLS]
    out += [f"{c.run_dir}/scores/{ds}.energy.json" for c in CELLS for ds in config["eval_datasets"]]
    return out + [
        p.replace(".skips.csv", ".energy.json") for key in feature_keys() for p in feature_skips(*key)
    ]

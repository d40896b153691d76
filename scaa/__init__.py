"""SCAA: Spectral Contrastive Audio Authenticity.

The package is layered; each layer imports only the layers below it (checked by
tests/test_package_structure.py):

- interfaces: ``scaa.cli``, ``commands/`` (``detect``, ``weights``), ``serve/`` (HTTP);
- ``report/``: the summary table and page, model card tables, ``scaa compare``;
- ``workflow/``: the stages the Snakemake rules call (extract, train, scoring, evaluate,
  fusion, robustness, resynth, tune, benchmark, energy);
- ``inference/``: detectors (cell, fused, ONNX, pretrained), the one scoring path and
  output line (``pipeline``), parallel scoring, model choice, ONNX export, overlay;
- ``plan/``: config checks, training sets, the grid of cells;
- components: ``encoders/``, ``heads/``, ``datasets/``, ``demo_corpus/``;
- ``dsp/``: audio I/O and resampling, codec round trips, synthesis, views, conditions, vocoders;
- foundation (top-level modules): registry, metrics, calibration, bootstrap, fuser,
  manifest, featstore, modeldir, weights, seeding, threads, extras.

A clip through ``scaa detect``: ``cli`` -> ``commands.detect`` -> ``inference`` (model
choice, loading, ``pipeline``) -> ``heads``/``encoders`` -> ``dsp.audio`` -> foundation
(calibration, registry). A cell through ``snakemake``: ``rules/`` -> ``workflow/scripts``
-> ``workflow`` (extract, train, evaluate) -> ``plan.grid`` -> components -> ``dsp`` ->
foundation; ``report`` reads what the stages wrote.
"""
__version__ = "0.1.0"

"""ONNX export of aasist cells: the torch graph module (tiling inside the graph + the reference
forward) equals the encoder's fast path (logits of tiled and cut clips, frames at two stages),
and the tiling equals the encoder's; onnxruntime's scores equal torch's
for an embedding + logreg cell, the `score` head (logits) and a top-k fine-tuned cell,
`scaa detect --runtime onnx` works, and bfloat16 is refused; with the authors' weights (when
they are on the machine), onnxruntime's score equals the authors' reference scores.

The cells use `weights: random` (seeded), so the tests run everywhere. A freshly initialised
AASIST hardly depends on its input (PyTorch's default init shrinks the signal through twelve
convolutions, its random BatchNorm statistics do not normalise it back, and the learned node
positions dominate the graph), which would make a parity check nearly vacuous and a head that
standardises the embedding divide float32 rounding by spreads of 1e-6. So here the random
network's BatchNorm statistics are first set from two seeded synthetic clips (one train-mode
pass), once per variant and seed: its outputs then vary with the clip about as much as the
pretrained network's do."""
import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

pytest.importorskip("onnxruntime")
torch = pytest.importorskip("torch")

from scaa import cli  # noqa: E402
from scaa.inference.detector import Detector  # noqa: E402
from scaa.encoders.aasist import AASISTEncoder  # noqa: E402
from scaa.encoders.aasist_net import SAMPLES, tile_clip  # noqa: E402
from scaa.inference.export import NotExportable, export_onnx, front_end_module, onnx_session, scorer_module  # noqa: E402
from scaa.heads.score import ScoreHead  # noqa: E402
from scaa.inference.onnx_aasist import AASISTFrontEnd  # noqa: E402
from scaa.inference.onnx_detector import OnnxDetector  # noqa: E402
from scaa.workflow.synthetic import synthetic_clip, synthetic_run  # noqa: E402

RANDOM_L = {"type": "aasist", "variant": "aasist_l", "weights": "random"}
_CALIBRATED = {}
SMALL = (6, 4, 2)  # clips per split of the synthetic corpus
N_CHECK = 2  # export parity clips: 0.5 s (tiled) and 6 s (cut)
SHARED = Path(__file__).resolve().parents[1].parent / "shared"
WEIGHTS = SHARED / "weights" / "aasist"
CORPUS = SHARED / "corpora" / "scaa-dev"


@pytest.fixture(autouse=True)
def input_sensitive_random_net(monkeypatch):
    """``weights: random`` networks with their BatchNorm statistics set from data (see above)."""
    from scaa.encoders import aasist
    from scaa.workflow.synthetic import synthetic_wave

    build = aasist.build_net

    def calibrated(variant, weights=None, seed=0):
        net = build(variant, weights, seed)
        if weights != aasist.RANDOM:
            return net
        key = (variant, int(seed))
        if key not in _CALIBRATED:
            rng = np.random.default_rng(0)
            clips = torch.from_numpy(np.stack([tile_clip(synthetic_wave(label, rng, 1.5)) for label in (0, 1)]))
            bns = [m for m in net.modules() if isinstance(m, (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d))]
            for m in bns:
                m.reset_running_stats()
                m.momentum = None  # a plain average over the pass
            with torch.no_grad(), torch.random.fork_rng(devices=[]):
                torch.manual_seed(0)
                net.train()(clips)
            for m in bns:
                m.momentum = 0.1
            _CALIBRATED[key] = {k: v.clone() for k, v in net.state_dict().items()}
        net.load_state_dict(_CALIBRATED[key])
        return net.eval()

    monkeypatch.setattr(aasist, "build_net", calibrated)


def test_tiling_in_the_graph_equals_tile_clip():
    rng = np.random.default_rng(0)
    for n in (1, 7, 16000, SAMPLES - 1, SAMPLES, SAMPLES + 1, 100_000):
        wave = rng.standard_normal(n).astype(np.float32)
        got = AASISTFrontEnd.tile(torch.from_numpy(wave)[None])[0].numpy()
        np.testing.assert_array_equal(got, tile_clip(wave))


def test_torch_front_end_equals_encoder():
    enc = AASISTEncoder(variant="aasist_l", weights="random", output="logits")
    short, long = synthetic_clip(0.5, 1), synthetic_clip(6.0, 2)  # tiled, cut
    logits = enc.encode([short, long])
    assert abs(logits[0][1] - logits[1][1]) > 1e-2  # the clip matters (see the module doc)
    views = [(enc, short, logits[0]), (enc, long, logits[1]), (enc.for_top_k(1), long, None),
             (enc.for_top_k(3), short, None)]
    for view, wave, ref in views:
        ref = view.encode([wave])[0] if ref is None else ref
        with torch.no_grad():
            got = AASISTFrontEnd(view).eval()(torch.from_numpy(wave)[None])[0].numpy()
        assert got.shape == ref.shape
        np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-5, err_msg=f"{view.kind} stage {view.stage}")


def _files(manifest, tmp_path):
    """A corpus clip (1 to 2 s: tiled) and a 6.5 s file: two of detect's 4 s windows, the last
    aligned to the end."""
    long = tmp_path / "long.wav"
    sf.write(long, synthetic_clip(6.5, 5), 16000)
    return [pd.read_parquet(manifest).path[0], str(long)]


def _export(run_dir):
    """Export (which checks onnxruntime against the torch detector on a tiled and a cut clip)."""
    meta = export_onnx(run_dir, n_check=N_CHECK)
    assert meta["parity"]["max_abs_diff"] < 1e-4
    assert json.loads((Path(run_dir) / "model.onnx.json").read_text())["encoder_weights"].startswith("aasist_l")


def _parity(run_dir, manifest, tmp_path, tol=1e-4):
    """Export, then `score_file` of the torch and the ONNX detector (windows, calibration) side by side."""
    _export(run_dir)
    torch_det, onnx_det = Detector.from_run(run_dir), OnnxDetector.from_run(run_dir)
    results = []
    for path in _files(manifest, tmp_path):
        a, b = torch_det.score_file(path), onnx_det.score_file(path)
        assert b["score"] == pytest.approx(a["score"], abs=tol, rel=tol)
        assert [w["score"] for w in b["windows"]] == pytest.approx([w["score"] for w in a["windows"]], abs=tol)
        results.append(a)
    return torch_det, results


def test_embedding_logreg_parity(tmp_path):
    enc = {**RANDOM_L, "output": "embedding"}
    run_dir, _ = synthetic_run(tmp_path / "logreg", enc, {"type": "logreg", "C": [1.0], "folds": 2},
                               n_per_split=SMALL)
    _export(run_dir)


class _Fixed(torch.nn.Module):
    def __init__(self, x):
        super().__init__()
        self.x = x

    def forward(self, wave):
        return self.x


def test_score_head_parity_and_detect_runtime_onnx(tmp_path, capsys):
    run_dir, manifest = synthetic_run(tmp_path / "score", {**RANDOM_L, "output": "logits"}, {"type": "score"},
                                      n_per_split=SMALL)
    det, results = _parity(run_dir, manifest, tmp_path)
    clip = pd.read_parquet(manifest).path[0]
    assert cli.main(["detect", clip, "--model", str(run_dir), "--runtime", "onnx"]) == 0
    line = json.loads(capsys.readouterr().out.splitlines()[0])
    assert line["runtime"] == "onnx" and line["score"] == pytest.approx(results[0]["score"], abs=1e-4)
    assert line["decision"] == results[0]["decision"]

    # one column (the bona fide logit), either direction: the graph's head equals the score head
    logits = np.array([[-0.7, 0.4], [0.2, -1.1]], dtype=np.float32)
    for direction, want in (("bonafide", -logits[:, 1]), ("spoof", logits[:, 1])):
        det.head = ScoreHead(higher_means=direction).fit(logits[:, 1:], np.array([0, 1]))
        det.spec = {**det.spec, "head": {"type": "score", "higher_means": direction}}
        scorer = scorer_module(det)
        scorer.front = _Fixed(torch.from_numpy(logits[:, 1:]))
        np.testing.assert_allclose(scorer(None).numpy(), want)
        np.testing.assert_allclose(det.head.decision_function(logits[:, 1:]), want, rtol=1e-6)


def test_top_k_cell_parity(tmp_path):
    head = {"type": "mlp", "hidden": [8], "epochs": 2, "patience": 1, "batch_size": 8}
    run_dir, _ = synthetic_run(tmp_path / "top2", RANDOM_L, head, n_per_split=SMALL, freeze="top2")
    _export(run_dir)


def test_bfloat16_and_other_heads_are_refused():
    enc = AASISTEncoder(variant="aasist_l", weights="random", output="score", dtype="bfloat16")
    det = Detector(enc, None, {"encoder": {**RANDOM_L, "dtype": "bfloat16"}, "head": {"type": "score"}}, None)
    with pytest.raises(NotExportable, match="aasist encoder with dtype bfloat16"):
        front_end_module(det)
    det.encoder = AASISTEncoder(variant="aasist_l", weights="random", output="embedding")
    det.spec = {"encoder": RANDOM_L, "head": {"type": "gmm"}}
    with pytest.raises(NotExportable, match="head 'gmm'.*svm and score"):
        scorer_module(det)


def _pretrained(variant):
    from scaa import weights

    try:
        return str(weights.resolve(variant, WEIGHTS if WEIGHTS.is_dir() else None, download=False))
    except weights.WeightsError:
        pytest.skip(f"the authors' {variant} weights are not on this machine")


def test_pretrained_graph_matches_the_authors_reference_scores(tmp_path):
    """onnxruntime's bona fide logit on scaa-dev eval clips (raw FLAC samples in; the graph
    tiles them) against the scores the authors' own code gave (README of the weights)."""
    path = _pretrained("aasist_l")
    ref_file = WEIGHTS / "reference_scores_AASIST-L_scaa-dev_eval.txt"
    flac = CORPUS / "LA" / "ASVspoof2019_LA_eval" / "flac"
    if not ref_file.is_file() or not flac.is_dir():
        pytest.skip("scaa-dev or the reference scores are not on this machine")
    ref = {p[0]: float(p[3]) for p in (line.split() for line in ref_file.read_text().splitlines())}
    front = AASISTFrontEnd(AASISTEncoder(variant="aasist_l", weights=path, output="score")).eval()
    onnx_path = tmp_path / "front.onnx"
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript-based exporter announces its deprecation
        torch.onnx.export(front, (torch.from_numpy(synthetic_clip(1.0, 0))[None],), str(onnx_path), dynamo=False,
                          input_names=["wave"], output_names=["score"], dynamic_axes={"wave": {1: "samples"}},
                          opset_version=17)
    session = onnx_session(str(onnx_path))
    for utt in sorted(ref)[:3]:
        wave, _ = sf.read(flac / f"{utt}.flac", dtype="float64")
        got = float(session.run(["score"], {"wave": wave.astype(np.float32)[None]})[0][0, 0])
        assert got == pytest.approx(ref[utt], abs=1e-4), utt

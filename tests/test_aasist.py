"""AASIST / AASIST-L: our implementation against the authors' scores, the fast path against
the reference forward, the encoder's outputs and its fine-tuning stages."""
import os
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from scaa.encoders.aasist_net import SAMPLES, AASISTNet, AASISTTop, sinc_filters, tile_clip
from scaa.registry import ENCODERS, HEADS

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
WEIGHTS = SHARED / "weights" / "aasist"
EVAL_FLAC = SHARED / "corpora" / "scaa-dev" / "LA" / "ASVspoof2019_LA_eval" / "flac"
FILES = {"aasist": "AASIST", "aasist_l": "AASIST-L"}


def _shared_or_skip(*paths):
    missing = [p for p in paths if not p.exists()]
    if missing:
        if os.environ.get("CI"):
            pytest.fail(f"{missing[0]} is missing; CI runs beside a copy of shared/")
        pytest.skip(f"{missing[0]} not present")


def _random_net(variant, seed=0):
    return ENCODERS.build({"type": "aasist", "variant": variant, "weights": "random", "seed": seed}).net


def _waves(seed=0, lengths=(SAMPLES, 20_000, 90_000)):
    rng = np.random.default_rng(seed)
    return [(0.1 * rng.standard_normal(n)).astype(np.float32) for n in lengths]


# -- parity with the authors' implementation (their weights, their scores) ----------------
@pytest.mark.parametrize("variant", ["aasist", "aasist_l"])
def test_official_weights_reproduce_the_authors_scores(variant):
    ref_file = WEIGHTS / f"reference_scores_{FILES[variant]}_scaa-dev_eval.txt"
    _shared_or_skip(ref_file, WEIGHTS / f"{FILES[variant]}.pth", EVAL_FLAC)
    rows = [line.split() for line in ref_file.read_text().splitlines()]
    sample = rows[::46]  # a fixed sample of 16 clips over bona fide and the eval attacks
    assert len({r[1] for r in sample}) >= 4
    enc = ENCODERS.build({"type": "aasist", "variant": variant, "weights": str(WEIGHTS), "output": "score"})
    waves = [sf.read(str(EVAL_FLAC / f"{r[0]}.flac"), dtype="float32")[0] for r in sample]
    ours = np.concatenate(enc.encode(waves))
    theirs = np.array([float(r[3]) for r in sample])
    assert np.max(np.abs(ours - theirs)) <= 1e-4
    # the reference forward (training path) agrees too
    with torch.inference_mode():
        ref = enc.net(torch.from_numpy(np.stack([tile_clip(w) for w in waves[:2]])))[1][:, 1].numpy()
    assert np.max(np.abs(ref - theirs[:2])) <= 1e-4


def test_a_wrong_weights_file_is_refused_by_hash(tmp_path):
    from scaa.weights import WeightsError

    bad = tmp_path / "AASIST-L.pth"
    torch.save(AASISTNet.from_variant("aasist_l").state_dict(), bad)  # a valid state_dict, other numbers
    with pytest.raises(WeightsError, match="AASIST-L.pth"):
        ENCODERS.build({"type": "aasist", "variant": "aasist_l", "weights": str(bad)})


# -- the fast path computes the same function -----------------------------------------------
@pytest.mark.parametrize("variant", ["aasist", "aasist_l"])
def test_fast_forward_equals_the_reference_forward(variant):
    net = _random_net(variant)
    x = torch.from_numpy(np.stack([tile_clip(w) for w in _waves()]))
    with torch.inference_mode():
        emb, logits = net(x)
        fast_emb, fast_logits = net.fast_forward(x)
    assert torch.allclose(emb, fast_emb, atol=2e-5, rtol=1e-5)
    assert torch.allclose(logits, fast_logits, atol=2e-5, rtol=1e-5)


def test_tiles_reproduce_one_untiled_call():
    """Tile edges (halo columns, zero padding at the clip's ends) leave no trace."""
    net = _random_net("aasist_l", seed=3)
    x = torch.from_numpy(tile_clip(_waves(seed=5)[0]))[None]
    with torch.inference_mode():
        whole = net.encode_maps(net.front(x))
        fast = net.maps_at(x, 1)
        net._fast.TILE = 3 * 37  # many small tiles, including a ragged last one
        small = net.maps_at(x, 1)
    assert torch.allclose(whole, fast, atol=2e-5) and torch.allclose(whole, small, atol=2e-5)


@pytest.mark.parametrize("phases,n", [(16, 64_600), (16, 1_000), (5, 777), (1, 300)])
def test_the_filter_bank_as_one_matrix_product_equals_the_convolution(phases, n):
    import torch.nn.functional as F

    from scaa.encoders.aasist_fast import polyphase_weights, sinc_filter_bank

    filters = torch.from_numpy(sinc_filters(69, 129))
    wave = torch.from_numpy(np.stack(_waves(seed=7, lengths=(n, n))))
    conv = F.conv1d(wave.unsqueeze(1), filters.unsqueeze(1))  # [2, 69, n - 128]
    need = conv.shape[-1] - 1  # any length, also one that leaves a ragged last row
    ours = sinc_filter_bank(wave, polyphase_weights(filters, phases), phases, need)
    assert ours.shape == (2, need, 69)
    assert torch.allclose(ours.transpose(1, 2), conv[..., :need], atol=1e-6)


def test_shifted_selu_is_selu_over_its_scale_plus_alpha():
    import torch.nn.functional as F

    from scaa.encoders.aasist_fast import SELU_ALPHA, SELU_LAMBDA, shifted_selu_

    h = torch.tensor([-100.0, -3.0, -1e-3, 0.0, 1e-3, 2.0, 100.0])
    expected = F.selu(h) / SELU_LAMBDA + SELU_ALPHA
    assert torch.allclose(shifted_selu_(h.clone()), expected, atol=1e-6)


def test_a_clips_score_does_not_depend_on_its_batch():
    """Clip by clip, so `scaa detect --jobs N` (other batches) gives the same lines."""
    net = _random_net("aasist_l", seed=2)
    x = torch.from_numpy(np.stack([tile_clip(w) for w in _waves(seed=4, lengths=(SAMPLES,) * 4)]))
    with torch.inference_mode():
        together = net.fast_forward(x)
        alone = [net.fast_forward(x[i:i + 1].clone()) for i in range(len(x))]
        maps_together = net.maps_at(x, 3)
        maps_alone = torch.cat([net.maps_at(x[i:i + 1].clone(), 3) for i in range(len(x))])
    assert torch.equal(together[0], torch.cat([a[0] for a in alone]))
    assert torch.equal(together[1], torch.cat([a[1] for a in alone]))
    assert torch.equal(maps_together, maps_alone)
    enc = ENCODERS.build({"type": "aasist", "variant": "aasist_l", "weights": "random", "seed": 2, "output": "embedding"})
    waves = _waves(seed=4, lengths=(SAMPLES, 30_000, 70_000))
    assert all(np.array_equal(a, b[0]) for a, b in zip(enc.encode(waves), [enc.encode([w]) for w in waves]))


def test_train_mode_refuses_the_fast_path_and_eval_rebuilds_it():
    net = _random_net("aasist_l")
    x = torch.from_numpy(tile_clip(_waves()[1]))[None]
    with torch.inference_mode():
        before = net.fast_forward(x)[1]
    net.train()
    with pytest.raises(RuntimeError, match="eval"):
        net.fast_forward(x)
    with torch.no_grad():
        net.out_layer.bias += 1.0
    net.eval()
    with torch.inference_mode():
        after = net.fast_forward(x)[1]
    assert torch.allclose(after, before + 1.0, atol=1e-5)


def test_short_clips_are_tiled_and_long_ones_cut_as_the_authors_do():
    w = np.arange(10, dtype=np.float32)
    t = tile_clip(w, 25)
    assert t.tolist() == list(range(10)) * 2 + list(range(5))
    assert tile_clip(np.arange(30, dtype=np.float32), 25).tolist() == list(range(25))
    assert sinc_filters().shape == (70, 129)


# -- the encoder's outputs --------------------------------------------------------------------
def test_outputs_are_views_of_one_forward():
    spec = {"type": "aasist", "variant": "aasist_l", "weights": "random", "seed": 1}
    waves = _waves(seed=2)
    score = np.stack(ENCODERS.build({**spec, "output": "score"}).encode(waves))
    logits = np.stack(ENCODERS.build({**spec, "output": "logits"}).encode(waves))
    emb = np.stack(ENCODERS.build({**spec, "output": "embedding"}).encode(waves))
    frames = ENCODERS.build({**spec, "output": "frames"}).encode(waves)
    assert score.shape == (3, 1) and logits.shape == (3, 2) and emb.shape == (3, 160)
    np.testing.assert_allclose(score[:, 0], logits[:, 1], atol=1e-6)
    assert frames[0].shape == (29, 24 * 23) and all(f.dtype == np.float32 for f in frames)
    enc = ENCODERS.build({**spec, "output": "embedding"})
    with torch.inference_mode():
        direct = enc.net.out_layer(torch.from_numpy(emb)).numpy()
    np.testing.assert_allclose(direct, logits, atol=1e-5)


def test_the_same_clip_gives_the_same_score_in_any_batch():
    enc = ENCODERS.build({"type": "aasist", "variant": "aasist_l", "weights": "random", "output": "score"})
    waves = _waves(seed=4, lengths=(SAMPLES, 30_000, 70_000, 16_000, 64_000))
    together = np.concatenate(enc.encode(waves))
    alone = np.concatenate([enc.encode([w])[0] for w in waves])
    np.testing.assert_allclose(together, alone, atol=1e-5)


def test_bad_specs_are_clear_errors():
    with pytest.raises(ValueError, match="variant"):
        ENCODERS.build({"type": "aasist", "variant": "aasist_xl", "weights": "random"})
    with pytest.raises(ValueError, match="output"):
        ENCODERS.build({"type": "aasist", "weights": "random", "output": "pooled"})
    enc = ENCODERS.build({"type": "aasist", "weights": "random"})
    with pytest.raises(ValueError, match="non-empty"):
        enc.encode([np.zeros(0, np.float32)])
    with pytest.raises(ValueError, match="k must be"):
        enc.for_top_k(8)


def test_bfloat16_stays_close_to_float32():
    spec = {"type": "aasist", "variant": "aasist_l", "weights": "random", "output": "logits"}
    waves = _waves(seed=6)
    f32 = np.stack(ENCODERS.build(spec).encode(waves))
    bf16 = np.stack(ENCODERS.build({**spec, "dtype": "bfloat16"}).encode(waves))
    assert np.isfinite(bf16).all() and np.max(np.abs(bf16 - f32)) < 0.5 * (np.abs(f32).max() + 1)


# -- fine-tuning stages -----------------------------------------------------------------------
@pytest.mark.parametrize("k", [1, 2, 7])
def test_top_layers_on_cached_maps_give_the_embedding(k):
    spec = {"type": "aasist", "variant": "aasist_l", "weights": "random", "seed": 2}
    waves = _waves(seed=7)
    emb = np.stack(ENCODERS.build({**spec, "output": "embedding"}).encode(waves))
    enc = ENCODERS.build(spec)
    states = enc.for_top_k(k).encode(waves)
    top = enc.top_layers(k).eval()
    x = torch.from_numpy(np.stack(states))
    with torch.inference_mode():
        out = top(x, torch.ones(x.shape[:2], dtype=torch.bool)).numpy()
    np.testing.assert_allclose(out, emb, atol=1e-4)
    trainable = {n for n, p in top.named_parameters() if p.requires_grad}
    assert any(n.startswith("net.GAT_layer_S") for n in trainable)
    assert not any(n.startswith("net.out_layer") or n.startswith("net.first_bn") for n in trainable)
    frozen_blocks = {int(n.split(".")[2]) for n in top.state_dict() if n.startswith("net.encoder.")} - \
        {int(n.split(".")[2]) for n in trainable if n.startswith("net.encoder.")}
    assert frozen_blocks == set(range(7 - k))


def test_topk_head_trains_on_the_graph_stage():
    from scaa.heads.topk import TopKHead

    enc = ENCODERS.build({"type": "aasist", "variant": "aasist_l", "weights": "random", "seed": 0})
    rng = np.random.default_rng(0)
    waves = [(0.05 * rng.standard_normal(8000) + (0.2 * np.sin(np.arange(8000) * 0.3) if i % 2 else 0))
             .astype(np.float32) for i in range(12)]
    y = np.array([i % 2 for i in range(12)])
    states = enc.for_top_k(1).encode(waves)
    head = TopKHead(top=enc.top_layers(1), hidden=[], epochs=2, batch_size=4, patience=2, random_state=0)
    head.fit(states, y, dev=(states, y))
    scores = head.decision_function(states)
    assert scores.shape == (12,) and np.isfinite(scores).all()
    again = TopKHead(top=enc.top_layers(1), hidden=[], epochs=2, batch_size=4, patience=2, random_state=0)
    np.testing.assert_allclose(again.fit(states, y, dev=(states, y)).decision_function(states), scores, atol=1e-5)


# -- the score head ---------------------------------------------------------------------------
def test_score_head_follows_the_scaa_convention():
    head = HEADS.build({"type": "score"})
    X1 = np.array([[2.0], [-1.0], [0.5]])
    head.fit(X1, [0, 1, 0])
    np.testing.assert_array_equal(head.decision_function(X1), [-2.0, 1.0, -0.5])
    X2 = np.array([[1.0, 3.0], [2.0, -1.0]])
    np.testing.assert_array_equal(HEADS.build({"type": "score"}).fit(X2, [0, 1]).decision_function(X2), [-2.0, 3.0])
    spoofy = HEADS.build({"type": "score", "higher_means": "spoof"}).fit(X1, [0, 1, 0])
    np.testing.assert_array_equal(spoofy.decision_function(X1), X1[:, 0])
    with pytest.raises(ValueError, match="one score or two logits"):
        HEADS.build({"type": "score"}).fit(np.zeros((4, 160)), [0, 1, 0, 1])
    with pytest.raises(ValueError, match="higher_means"):
        HEADS.build({"type": "score", "higher_means": "up"}).fit(X1, [0, 1, 0])


def test_score_head_round_trips(tmp_path):
    from scaa.heads.score import ScoreHead

    head = ScoreHead().fit(np.array([[1.0], [2.0]]), [0, 1])
    head.save(tmp_path)
    back = ScoreHead.load(tmp_path)
    np.testing.assert_array_equal(back.decision_function([[4.0]]), [-4.0])


def test_top_module_channels_match_the_cached_maps():
    net = AASISTNet.from_variant("aasist")
    assert AASISTTop(net, 1).channels == 64 and AASISTTop(net, 7).channels == 1
    assert AASISTTop(net, 4).channels == net.encoder[3][0].conv1.in_channels


@pytest.mark.parametrize("variant", ["aasist", "aasist_l"])
def test_variants_are_the_authors_model_config(variant):
    import json

    from scaa.encoders.aasist_net import VARIANTS

    conf = WEIGHTS / f"{FILES[variant]}.conf"
    _shared_or_skip(conf)
    model_config = json.loads(conf.read_text())["model_config"]
    assert {k: model_config[k] for k in VARIANTS[variant]} == VARIANTS[variant]
    assert model_config["nb_samp"] == SAMPLES
    n = sum(p.numel() for p in AASISTNet.from_variant(variant).parameters())
    assert n == {"aasist": 297_866, "aasist_l": 85_306}[variant]  # the authors' published counts

"""The AASIST / AASIST-L network (Jung et al., ICASSP 2022) as torch modules.

Architecture, in the order a clip goes through it:

1. **Sinc front end**: 70 fixed band-pass filters (mel-spaced edges, Hamming-windowed
   ideal band-pass, 129 taps) over the raw 16 kHz waveform, then |.|, a 3 x 3 max-pool
   over (filter, time), a one-channel BatchNorm and SELU: a [1, 23, T] "spectrogram".
2. **Residual encoder**: six blocks of two (2 x 3) convolutions with BatchNorm/SELU and a
   (1 x 3) max-pool over time, giving [C, 23, T/729] feature maps.
3. **Graph attention**: the spectral graph (23 nodes: max over time, plus a learned
   position per node) and the temporal graph (max over frequency) each pass one graph
   attention layer and a top-k graph pool.
4. **Heterogeneous stacking**: two branches of two heterogeneous graph attention layers
   (spectral + temporal nodes together, with a master node), pooled in between; the
   branches are joined by an element-wise max.
5. **Readout**: max |.| and mean of the temporal and spectral nodes, and the master node:
   the 5 x D utterance embedding, then a linear layer to two logits (spoof, bona fide).

Parameter names follow the authors' ``state_dict`` so their published weights load
strictly. Two facts of their forward are kept because the weights were trained with
them: a residual block's first convolution reads the block *input* (the block's ``bn1``
exists in the weights but its output is unused), and the first HS-GAL layer of each
branch starts from the un-expanded learned master node.

``fast_forward`` (eval, float32) computes the same function with less work through
:class:`scaa.encoders.aasist_fast.FastEncoder`; it matches :meth:`AASISTNet.forward` to
float32 rounding (tests/test_aasist.py).
"""
from __future__ import annotations

import copy
import functools
import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from scaa.dsp.audio import SAMPLE_RATE
from scaa.encoders.aasist_fast import FastEncoder

SAMPLES = 64_600
"""Samples per clip in the authors' training and evaluation (about 4.04 s)."""

VARIANTS = {
    # the authors' model_config of AASIST.conf and AASIST-L.conf
    "aasist": {"first_conv": 128, "filts": [70, [1, 32], [32, 32], [32, 64], [64, 64]],
               "gat_dims": [64, 32], "pool_ratios": [0.5, 0.7, 0.5, 0.5], "temperatures": [2.0, 2.0, 100.0, 100.0]},
    "aasist_l": {"first_conv": 128, "filts": [70, [1, 32], [32, 32], [32, 24], [24, 24]],
                 "gat_dims": [24, 32], "pool_ratios": [0.4, 0.5, 0.7, 0.5], "temperatures": [2.0, 2.0, 100.0, 100.0]},
}


def sinc_filters(n_filters: int = 70, kernel_size: int = 129, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """[n_filters, kernel_size] float32: band-pass filters whose edges are equally spaced on
    the mel scale from 0 Hz to Nyquist (sampled on a 512-point FFT grid, as the authors do),
    each the difference of two ideal low-pass sincs times a Hamming window."""
    if kernel_size % 2 == 0:
        kernel_size += 1  # odd, so the filters are symmetric
    grid = sample_rate // 2 * np.linspace(0, 1, 512 // 2 + 1)
    mel = 2595 * np.log10(1 + grid / 700)
    edges_mel = np.linspace(mel.min(), mel.max(), n_filters + 1)
    edges = 700 * (10 ** (edges_mel / 2595) - 1)
    taps = np.arange(-(kernel_size - 1) / 2, (kernel_size - 1) / 2 + 1, dtype=np.float32).astype(np.float64)
    window = np.hamming(kernel_size).astype(np.float32)
    out = np.empty((n_filters, kernel_size), dtype=np.float32)
    for i in range(n_filters):
        lo, hi = edges[i], edges[i + 1]
        ideal = (2 * hi / sample_rate) * np.sinc(2 * hi * taps / sample_rate) \
            - (2 * lo / sample_rate) * np.sinc(2 * lo * taps / sample_rate)
        out[i] = window * ideal.astype(np.float32)
    return out


class ResidualBlock(nn.Module):
    """Two (2 x 3) convolutions with BatchNorm + SELU between, a residual (a (1 x 3)
    convolution when the channel count changes), then a (1 x 3) max-pool over time."""

    def __init__(self, c_in: int, c_out: int, first: bool = False):
        super().__init__()
        self.first = first
        if not first:
            self.bn1 = nn.BatchNorm2d(c_in)  # in the published weights; unused by the forward (see module doc)
        self.conv1 = nn.Conv2d(c_in, c_out, kernel_size=(2, 3), padding=(1, 1))
        self.bn2 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, kernel_size=(2, 3), padding=(0, 1))
        self.conv_downsample = nn.Conv2d(c_in, c_out, kernel_size=(1, 3), padding=(0, 1)) if c_in != c_out else None

    def forward(self, x):
        out = self.conv2(F.selu(self.bn2(self.conv1(x))))
        out = out + (self.conv_downsample(x) if self.conv_downsample is not None else x)
        return F.max_pool2d(out, (1, 3))


class GraphAttention(nn.Module):
    """Graph attention over fully connected nodes [B, N, D]: attention from the pairwise
    products of nodes, an attended and a direct projection, BatchNorm and SELU."""

    def __init__(self, d_in: int, d_out: int, temperature: float):
        super().__init__()
        self.att_proj = nn.Linear(d_in, d_out)
        self.att_weight = nn.Parameter(torch.empty(d_out, 1))
        nn.init.xavier_normal_(self.att_weight)
        self.proj_with_att = nn.Linear(d_in, d_out)
        self.proj_without_att = nn.Linear(d_in, d_out)
        self.bn = nn.BatchNorm1d(d_out)
        self.input_drop = nn.Dropout(0.2)
        self.temperature = float(temperature)

    def forward(self, x):
        x = self.input_drop(x)
        logits = pair_map(lambda pairs: (torch.tanh(self.att_proj(pairs)) @ self.att_weight).squeeze(-1), x)
        att = torch.softmax(logits / self.temperature, dim=-1)  # each node's weights over its neighbours
        h = self.proj_with_att(att @ x) + self.proj_without_att(x)
        return F.selu(_batch_norm_nodes(self.bn, h))


class HeteroGraphAttention(nn.Module):
    """Heterogeneous stacking graph attention (HS-GAL): temporal and spectral nodes in one
    graph, with separate attention weights within each type and across them, and a master
    node that attends to all nodes."""

    def __init__(self, d_in: int, d_out: int, temperature: float):
        super().__init__()
        self.proj_type1 = nn.Linear(d_in, d_in)
        self.proj_type2 = nn.Linear(d_in, d_in)
        self.att_proj = nn.Linear(d_in, d_out)
        self.att_projM = nn.Linear(d_in, d_out)
        for name in ("att_weight11", "att_weight22", "att_weight12", "att_weightM"):
            p = nn.Parameter(torch.empty(d_out, 1))
            nn.init.xavier_normal_(p)
            setattr(self, name, p)
        self.proj_with_att = nn.Linear(d_in, d_out)
        self.proj_without_att = nn.Linear(d_in, d_out)
        self.proj_with_attM = nn.Linear(d_in, d_out)
        self.proj_without_attM = nn.Linear(d_in, d_out)
        self.bn = nn.BatchNorm1d(d_out)
        self.input_drop = nn.Dropout(0.2)
        self.temperature = float(temperature)

    def forward(self, x1, x2, master):
        n1 = x1.shape[1]
        x = self.input_drop(torch.cat([self.proj_type1(x1), self.proj_type2(x2)], dim=1))
        n = x.shape[1]
        # attention logits: one weight vector per pair of node types (the two cross blocks share one)
        weights = torch.cat([self.att_weight11, self.att_weight22, self.att_weight12], dim=1)  # [d_out, 3]
        per_type = pair_map(lambda pairs: torch.tanh(self.att_proj(pairs)) @ weights, x)  # [B, N, N, 3]
        kind = torch.full((n, n), 2, dtype=torch.long, device=x.device)
        kind[:n1, :n1], kind[n1:, n1:] = 0, 1
        logits = per_type.gather(-1, kind.expand(x.shape[0], n, n).unsqueeze(-1)).squeeze(-1)
        att = torch.softmax(logits / self.temperature, dim=-1)
        # the master node attends to every node
        m_logits = torch.tanh(self.att_projM(x * master)) @ self.att_weightM  # [B, N, 1]
        m_att = torch.softmax(m_logits / self.temperature, dim=1)
        master = self.proj_with_attM(m_att.transpose(1, 2) @ x) + self.proj_without_attM(master)
        h = F.selu(_batch_norm_nodes(self.bn, self.proj_with_att(att @ x) + self.proj_without_att(x)))
        return h[:, :n1], h[:, n1:], master


class GraphPool(nn.Module):
    """Keep the top ``ratio`` of the nodes by a learned sigmoid score, scaled by that score."""

    def __init__(self, ratio: float, d_in: int, dropout: float = 0.3):
        super().__init__()
        self.ratio = float(ratio)
        self.proj = nn.Linear(d_in, 1)
        self.drop = nn.Dropout(dropout) if dropout > 0 else nn.Identity()

    def forward(self, h):
        scores = torch.sigmoid(self.proj(self.drop(h)))  # [B, N, 1]
        keep = max(int(h.shape[1] * self.ratio), 1)
        idx = torch.topk(scores, keep, dim=1).indices.expand(-1, -1, h.shape[2])
        return torch.gather(h * scores, 1, idx)


def pair_map(fn, x):
    """``fn`` of the products ``x_i * x_j`` of every node pair, as [B, N, N, ...]. The
    product is symmetric, so ``fn`` sees each unordered pair once ([B, N (N + 1) / 2, D]
    rows, about half the work of the attention projections) and the map is filled from it."""
    n = x.shape[1]
    rows, cols, where = _pair_index(n, x.device)
    values = fn(x[:, rows] * x[:, cols])
    return values.index_select(1, where).view(x.shape[0], n, n, *values.shape[2:])


@functools.lru_cache(maxsize=None)
def _pair_index(n: int, device: torch.device) -> tuple:
    """(rows, cols) of the upper triangle of an n x n map, and for every cell of the map
    the position of its unordered pair among them (plain tensors, made outside inference
    mode: the cache also serves autograd when the graph part is fine-tuned)."""
    rows, cols = np.triu_indices(n)  # numpy: constants to a tracer (ONNX export), not graph ops
    position = np.empty((n, n), dtype=np.int64)
    position[rows, cols] = position[cols, rows] = np.arange(rows.size)
    with torch.inference_mode(False):
        return tuple(torch.from_numpy(np.ascontiguousarray(a, dtype=np.int64)).to(device)
                     for a in (rows, cols, position.reshape(-1)))


def _batch_norm_nodes(bn: nn.BatchNorm1d, h):
    return bn(h.reshape(-1, h.shape[-1])).reshape(h.shape)


class AASISTNet(nn.Module):
    """AASIST: waveform [B, 64600] -> (embedding [B, 5 * gat_dims[1]], logits [B, 2])."""

    def __init__(self, first_conv: int, filts: list, gat_dims: list, pool_ratios: list, temperatures: list):
        super().__init__()
        self.config = {"first_conv": first_conv, "filts": filts, "gat_dims": gat_dims,
                       "pool_ratios": pool_ratios, "temperatures": temperatures}
        self.register_buffer("sinc", torch.from_numpy(sinc_filters(filts[0], first_conv)), persistent=False)
        self.first_bn = nn.BatchNorm2d(1)
        blocks = [filts[1], filts[2], filts[3], filts[4], filts[4], filts[4]]
        # nested as the authors' weights name them: encoder.<i>.0.<layer>
        self.encoder = nn.Sequential(*(nn.Sequential(ResidualBlock(a, b, first=i == 0))
                                       for i, (a, b) in enumerate(blocks)))
        c, (g0, g1) = filts[-1][-1], gat_dims
        self.pos_S = nn.Parameter(torch.randn(1, 23, c))
        self.master1 = nn.Parameter(torch.randn(1, 1, g0))
        self.master2 = nn.Parameter(torch.randn(1, 1, g0))
        self.GAT_layer_S = GraphAttention(c, g0, temperatures[0])
        self.GAT_layer_T = GraphAttention(c, g0, temperatures[1])
        self.HtrgGAT_layer_ST11 = HeteroGraphAttention(g0, g1, temperatures[2])
        self.HtrgGAT_layer_ST12 = HeteroGraphAttention(g1, g1, temperatures[2])
        self.HtrgGAT_layer_ST21 = HeteroGraphAttention(g0, g1, temperatures[2])
        self.HtrgGAT_layer_ST22 = HeteroGraphAttention(g1, g1, temperatures[2])
        self.pool_S = GraphPool(pool_ratios[0], g0)
        self.pool_T = GraphPool(pool_ratios[1], g0)
        self.pool_hS1 = GraphPool(pool_ratios[2], g1)
        self.pool_hT1 = GraphPool(pool_ratios[2], g1)
        self.pool_hS2 = GraphPool(pool_ratios[2], g1)
        self.pool_hT2 = GraphPool(pool_ratios[2], g1)
        self.drop_way = nn.Dropout(0.2)
        self.drop = nn.Dropout(0.5)
        self.out_layer = nn.Linear(5 * g1, 2)
        self.embedding_dim = 5 * g1
        self.n_stages = 1 + len(blocks)  # graph + readout, then the residual blocks from the top
        self._fast = None

    @classmethod
    def from_variant(cls, variant: str) -> "AASISTNet":
        if variant not in VARIANTS:
            raise ValueError(f"unknown AASIST variant {variant!r}; known: {', '.join(VARIANTS)}")
        return cls(**VARIANTS[variant])

    # -- the reference forward (training, fine-tuning, parity) ----------------------
    def front(self, wave):
        """[B, S] -> [B, 1, 23, T]: sinc filters, |.|, 3 x 3 max-pool, BatchNorm, SELU."""
        x = F.conv1d(wave.unsqueeze(1), self.sinc.unsqueeze(1))
        x = F.max_pool2d(x.abs().unsqueeze(1), (3, 3))
        return F.selu(self.first_bn(x))

    def encode_maps(self, x, blocks: slice = slice(None)):
        for block in list(self.encoder)[blocks]:
            x = block(x)
        return x

    def graph(self, e):
        """Encoder maps [B, C, 23, T'] -> utterance embedding [B, 5 * gat_dims[1]]."""
        e = e.abs()
        spectral = e.amax(dim=3).transpose(1, 2) + self.pos_S  # [B, 23, C]
        temporal = e.amax(dim=2).transpose(1, 2)  # [B, T', C]
        out_s = self.pool_S(self.GAT_layer_S(spectral))
        out_t = self.pool_T(self.GAT_layer_T(temporal))
        branches = []
        for first, second, pool_s, pool_t, master in (
                (self.HtrgGAT_layer_ST11, self.HtrgGAT_layer_ST12, self.pool_hS1, self.pool_hT1, self.master1),
                (self.HtrgGAT_layer_ST21, self.HtrgGAT_layer_ST22, self.pool_hS2, self.pool_hT2, self.master2)):
            t, s, m = first(out_t, out_s, master)
            s, t = pool_s(s), pool_t(t)
            t_aug, s_aug, m_aug = second(t, s, m)
            branches.append((self.drop_way(t + t_aug), self.drop_way(s + s_aug), self.drop_way(m + m_aug)))
        (t1, s1, m1), (t2, s2, m2) = branches
        t, s, m = torch.maximum(t1, t2), torch.maximum(s1, s2), torch.maximum(m1, m2)
        return torch.cat([t.abs().amax(dim=1), t.mean(dim=1), s.abs().amax(dim=1), s.mean(dim=1), m.squeeze(1)], dim=1)

    def forward(self, wave):
        emb = self.graph(self.encode_maps(self.front(wave)))
        return emb, self.out_layer(self.drop(emb))

    # -- fast inference ----------------------------------------------------------
    # Inference goes clip by clip: a matrix product's rounding can depend on how many rows
    # it gets, and a clip's score must not depend on which clips share its batch (so
    # `scaa detect --jobs N` prints the same lines for every N).
    def fast_forward(self, wave):
        """The same as ``forward`` in eval mode (float32, no autograd), with less work."""
        if self.training:
            raise RuntimeError("fast_forward is for eval mode; call .eval() first")
        return self.readout(self.maps_at(wave, 1))

    def readout(self, maps):
        """Encoder maps [B, C, 23, T'] -> (embedding, logits), clip by clip."""
        embs = [self.graph(m) for m in maps.split(1)]
        return torch.cat(embs), torch.cat([self.out_layer(e) for e in embs])

    def maps_at(self, wave, stage: int):
        """The input of stage ``stage`` counted from the top (1: the graph part, i.e. the
        encoder's output; 2: the input of the last residual block; ...) in eval mode,
        clip by clip."""
        if not 1 <= stage <= self.n_stages:
            raise ValueError(f"stage must be in 1..{self.n_stages}, not {stage}")
        if self._fast is None:
            self._fast = FastEncoder(self)
        return torch.cat([self._fast(w, n_blocks=self.n_stages - stage) for w in wave.split(1)])

    def train(self, mode: bool = True):
        self._fast = None  # folded weights are rebuilt from the (possibly changed) parameters
        return super().train(mode)


class AASISTTop(nn.Module):
    """A trainable copy of stages 1..k of a network (1: graph attention + readout; each
    further stage adds a residual block from the top): the maps entering stage k, as
    frames [B, T, C x 23], -> the utterance embedding [B, 5 * gat_dims[1]]. The stages
    below k and the output layer are frozen (a head classifies the embedding)."""

    def __init__(self, net: AASISTNet, k: int):
        super().__init__()
        if not 1 <= k <= net.n_stages:
            raise ValueError(f"k must be in 1..{net.n_stages}, not {k}")
        self.net = copy.deepcopy(net)
        self.k, self.first_block = k, net.n_stages - k
        self.out_dim = net.embedding_dim
        self.channels = (net.config["filts"][-1][-1] if k == 1
                         else net.encoder[self.first_block][0].conv1.in_channels)
        self.net.requires_grad_(False)
        for seq in list(self.net.encoder)[self.first_block:]:
            seq.requires_grad_(True)
        for name, module in self.net.named_children():
            if name not in ("encoder", "first_bn", "out_layer"):
                module.requires_grad_(True)
        for p in (self.net.pos_S, self.net.master1, self.net.master2):
            p.requires_grad_(True)

    def forward(self, states, mask=None):
        b, t, d = states.shape
        x = states.reshape(b, t, self.channels, d // self.channels).permute(0, 2, 3, 1).float()
        return self.net.graph(self.net.encode_maps(x, slice(self.first_block, None)))


def flush_subnormals_(net: nn.Module) -> int:
    """Set every parameter value below float32's smallest normal magnitude (1.18e-38) to
    zero; returns how many there were. The authors' weights hold thousands of them in the
    heterogeneous graph-attention layers (weight decay drove those weights to ~0), and
    arithmetic on subnormal numbers takes a slow microcode path on x86: the graph part runs
    several times slower with them. What they add to any output is below 1e-37."""
    tiny = torch.finfo(torch.float32).tiny
    count = 0
    with torch.no_grad():
        for p in net.parameters():
            mask = (p.abs() < tiny) & (p != 0)
            count += int(mask.sum())
            p.masked_fill_(mask, 0.0)
    return count


def n_parameters(net: nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())


def tile_clip(wave: np.ndarray, n: int = SAMPLES) -> np.ndarray:
    """The authors' evaluation input: the first ``n`` samples, a shorter clip repeated
    until it is long enough."""
    wave = np.asarray(wave, dtype=np.float32)
    if wave.size >= n:
        return wave[:n]
    return np.tile(wave, math.ceil(n / max(wave.size, 1)))[:n]

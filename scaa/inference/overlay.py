"""Draw where in time a file looks spoofed, and which frequency bands drive the score.

``scaa overlay FILE [--model RUN_DIR] [--out PREFIX]`` writes PREFIX.png (matplotlib),
PREFIX.html (plotly, self-contained, works offline) and PREFIX.json (the numbers):

- top: the log-mel spectrogram with the per-window calibrated P(spoof) drawn over it;
- bottom: an occlusion map. The file's STFT is cut into ``n_bands`` bands (mel- or
  linearly spaced, 0..8 kHz); each band in turn is zeroed, the audio resynthesised
  (inverse STFT) and every window re-scored. The map shows score(original) −
  score(band removed) per band and window: positive = the band pushed the score
  towards spoof. It is a first interpretability view (occlusion, not attribution with
  guarantees): it costs n_bands × n_windows extra scorings.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from scaa.dsp import audio

SR = audio.SAMPLE_RATE
N_FFT, HOP = 512, 128
MASK_BLOCK = 2**19  # samples masked at a time (~33 s): bounds the STFT's memory (mask_band)


def band_edges(n_bands: int = 16, scale: str = "mel", sr: int = SR) -> np.ndarray:
    """``n_bands + 1`` band edges in Hz from 0 to Nyquist, equally spaced on the mel or Hz scale."""
    if n_bands < 1:
        raise ValueError("n_bands must be >= 1")
    if scale == "linear":
        return np.linspace(0.0, sr / 2, n_bands + 1)
    if scale != "mel":
        raise ValueError(f"scale must be 'mel' or 'linear', not {scale!r}")
    import librosa

    return librosa.mel_frequencies(n_mels=n_bands + 1, fmin=0.0, fmax=sr / 2, htk=True)


def mask_band(wave: np.ndarray, lo_hz: float, hi_hz: float, n_fft: int = N_FFT, hop: int = HOP,
              block: int = MASK_BLOCK) -> np.ndarray:
    """Zero STFT bins with lo <= f < hi (the top band also keeps Nyquist out), then invert.

    Done ``block`` samples at a time, each with ``n_fft`` samples of context either side (on
    the same frame grid), so every sample kept is the one the whole-file STFT gives (to float
    rounding) and memory goes with the block, not the file: the whole-file STFT of a 300 s clip
    held ~340 MB more (took `scaa serve` past 1 GB), about twice that at max_seconds (600 s)."""
    if block % hop or n_fft % hop:
        raise ValueError("block and n_fft must be multiples of hop")
    if wave.size <= block + 2 * n_fft:
        return _mask_band(wave, lo_hz, hi_hz, n_fft, hop)
    out = np.empty(wave.size, np.float32)
    for start in range(0, wave.size, block):
        end = min(start + block, wave.size)
        a, b = max(0, start - n_fft), min(wave.size, end + n_fft)
        out[start:end] = _mask_band(wave[a:b], lo_hz, hi_hz, n_fft, hop)[start - a:end - a]
    return out


def _mask_band(wave: np.ndarray, lo_hz: float, hi_hz: float, n_fft: int, hop: int) -> np.ndarray:
    from scipy.signal import istft, stft

    f, _, Z = stft(wave, fs=SR, window="hann", nperseg=n_fft, noverlap=n_fft - hop, boundary="even", padded=True)
    top = hi_hz >= SR / 2
    Z[(f >= lo_hz) & ((f <= hi_hz) if top else (f < hi_hz))] = 0
    _, x = istft(Z, fs=SR, window="hann", nperseg=n_fft, noverlap=n_fft - hop, boundary=True)
    x = x[:len(wave)]
    if x.size < wave.size:
        x = np.pad(x, (0, wave.size - x.size))
    return x.astype(np.float32)


def occlusion(detector, wave: np.ndarray, window_s: float = 4.0, hop_s: float = 2.0, n_bands: int = 16,
              scale: str = "mel") -> dict:
    """{"edges_hz" [B+1], "ranges" [(a, b)] * W, "base" [W], "masked" [B, W], "delta" [B, W]}."""
    ranges, base = detector.score_windows(wave, window_s, hop_s)
    edges = band_edges(n_bands, scale)
    masked = np.empty((n_bands, len(ranges)))
    for b in range(n_bands):
        x = mask_band(wave, edges[b], edges[b + 1])
        masked[b] = detector.raw_scores([x[a:e] for a, e in ranges])
    return {"edges_hz": edges, "ranges": ranges, "base": base, "masked": masked, "delta": base[None, :] - masked}


def log_mel(wave: np.ndarray, n_mels: int = 80) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(dB [n_mels, T], frame times s, mel centre frequencies Hz)."""
    import librosa

    S = librosa.feature.melspectrogram(y=wave, sr=SR, n_fft=N_FFT, hop_length=HOP, n_mels=n_mels, fmax=SR / 2)
    db = librosa.power_to_db(S, ref=np.max(S) if S.max() > 0 else 1.0, top_db=80.0)
    times = librosa.frames_to_time(np.arange(db.shape[1]), sr=SR, hop_length=HOP)
    return db, times, librosa.mel_frequencies(n_mels=n_mels, fmin=0.0, fmax=SR / 2)


def _plot_png(path, db, times, mel_f, occ, probs, p_file, p_thr, title):
    from matplotlib.figure import Figure  # no pyplot: safe to draw from a server's worker threads

    starts = np.array([a for a, _ in occ["ranges"]]) / SR
    ends = np.array([b for _, b in occ["ranges"]]) / SR
    dur = times[-1] if times.size else ends[-1]
    fig = Figure(figsize=(11, 7), layout="constrained")
    ax1, ax2 = fig.subplots(2, 1, sharex=True, height_ratios=[3, 2])
    ax1.imshow(db, origin="lower", aspect="auto", cmap="magma", extent=[0, max(dur, ends[-1]), 0, len(mel_f)])
    ticks = np.linspace(0, len(mel_f) - 1, 6).astype(int)
    ax1.set_yticks(ticks, [f"{mel_f[i]:.0f}" for i in ticks])
    ax1.set_ylabel("mel band centre (Hz)")
    ax1.set_title(title, fontsize=10)
    axp = ax1.twinx()
    for s, e, p in zip(starts, ends, probs):
        axp.hlines(p, s, e, color="cyan", lw=2)
    axp.plot((starts + ends) / 2, probs, "o", color="cyan", ms=4, label="P(spoof) per window")
    axp.axhline(p_file, color="white", ls="--", lw=1, label=f"file P(spoof) {p_file:.2f}")
    axp.axhline(p_thr, color="yellow", ls=":", lw=1, label=f"threshold (P {p_thr:.2f})")
    axp.set_ylim(0, 1)
    axp.set_ylabel("P(spoof)")
    axp.legend(loc="upper right", fontsize=8, framealpha=0.5)
    delta = occ["delta"]
    lim = float(np.abs(delta).max()) or 1.0
    x_edges = np.concatenate([[starts[0]], (starts[1:] + ends[:-1]) / 2, [ends[-1]]]) if len(starts) > 1 \
        else np.array([starts[0], ends[0]])
    mesh = ax2.pcolormesh(x_edges, occ["edges_hz"], delta, cmap="RdBu_r", vmin=-lim, vmax=lim, shading="flat")
    fig.colorbar(mesh, ax=ax2, label="score − score(band removed)")
    ax2.set_ylabel("occluded band (Hz)")
    ax2.set_xlabel("time (s)")
    fig.savefig(path, dpi=110)


def _plot_html(path, db, times, mel_f, occ, probs, p_file, p_thr, title):
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    centres = np.array([(a + b) / 2 for a, b in occ["ranges"]]) / SR
    band_c = (occ["edges_hz"][:-1] + occ["edges_hz"][1:]) / 2
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, row_heights=[0.6, 0.4], vertical_spacing=0.06,
                        specs=[[{"secondary_y": True}], [{}]],
                        subplot_titles=("log-mel spectrogram and P(spoof) per window",
                                        "occlusion: score − score(band removed)"))
    fig.add_trace(go.Heatmap(z=db, x=times, y=mel_f, colorscale="Magma", showscale=False, name="log-mel (dB)"),
                  row=1, col=1)
    fig.add_trace(go.Scatter(x=centres, y=probs, mode="lines+markers", name="P(spoof) per window",
                             line={"color": "cyan", "shape": "hv"}), row=1, col=1, secondary_y=True)
    for y, name, dash in ((p_file, "file P(spoof)", "dash"), (p_thr, "threshold", "dot")):
        fig.add_trace(go.Scatter(x=[0, times[-1] if times.size else centres[-1]], y=[y, y], mode="lines",
                                 name=f"{name} {y:.2f}", line={"dash": dash}), row=1, col=1, secondary_y=True)
    lim = float(np.abs(occ["delta"]).max()) or 1.0
    fig.add_trace(go.Heatmap(z=occ["delta"], x=centres, y=band_c, colorscale="RdBu", reversescale=True,
                             zmin=-lim, zmax=lim, colorbar={"title": "Δ score", "y": 0.2, "len": 0.4},
                             name="occlusion"), row=2, col=1)
    fig.update_yaxes(title_text="Hz", row=1, col=1, secondary_y=False)
    fig.update_yaxes(title_text="P(spoof)", range=[0, 1], row=1, col=1, secondary_y=True)
    fig.update_yaxes(title_text="band centre (Hz)", row=2, col=1)
    fig.update_xaxes(title_text="time (s)", row=2, col=1)
    fig.update_layout(title=title, height=750)
    fig.write_html(path, include_plotlyjs=True, full_html=True)


def overlay(detector, path: str | Path, out_prefix: str | Path, window_s: float = 4.0, hop_s: float = 2.0,
            n_bands: int = 16, scale: str = "mel", formats=("png", "html", "json"), name: str | None = None,
            max_seconds: float | None = None) -> dict:
    """Score a file, compute the occlusion map, write PREFIX.{png,html,json} (those in ``formats``);
    returns paths + arrays + the JSON record. ``name``: what the figures and record call the file
    (default: its path). ``max_seconds``: the loader's input gate (:func:`scaa.dsp.audio.load`), as
    ``scaa detect`` applies it."""
    name = str(path) if name is None else name
    wave = audio.load(path, max_seconds=max_seconds)
    occ = occlusion(detector, wave, window_s, hop_s, n_bands, scale)
    probs = detector.p_spoof(occ["base"])
    file_score = float(np.mean(occ["base"]))
    verdict = detector.verdict(file_score)
    p_thr = float(detector.p_spoof([detector.threshold])[0])
    db, times, mel_f = log_mel(wave)
    title = (f"{Path(name).name}: {verdict['decision']} (P(spoof) {verdict['p_spoof']:.2f}, "
             f"score {file_score:.3f} = mean of {len(occ['ranges'])} window scores)")
    out_prefix = Path(out_prefix)
    out_prefix.parent.mkdir(parents=True, exist_ok=True)
    png, html, js = (out_prefix.with_name(out_prefix.name + ext) for ext in (".png", ".html", ".json"))
    if "png" in formats:
        _plot_png(png, db, times, mel_f, occ, probs, verdict["p_spoof"], p_thr, title)
    if "html" in formats:
        _plot_html(html, db, times, mel_f, occ, probs, verdict["p_spoof"], p_thr, title)
    record = {"file": name, "model": detector.run_dir, **verdict, "scale": scale,
              "band_edges_hz": occ["edges_hz"].round(1).tolist(),
              "windows": [{"start_s": a / SR, "end_s": b / SR, "score": float(s), "p_spoof": float(p)}
                          for (a, b), s, p in zip(occ["ranges"], occ["base"], probs)],
              "occlusion_delta": occ["delta"].tolist(),
              "note": "occlusion_delta[band][window] = score - score with that band zeroed in the STFT"}
    if "json" in formats:
        js.write_text(json.dumps(record))
    return {"png": png, "html": html, "json": js, "occlusion": occ["delta"], "verdict": verdict, "record": record}


def add_arguments(parser) -> None:
    from scaa.inference.model_choice import DEFAULT_CONFIG, DEFAULT_SUMMARY, positive_int, positive_seconds

    parser.add_argument("file")
    parser.add_argument("--model", help="trained cell directory (default as in `scaa detect`)")
    parser.add_argument("--out", help="output prefix (default: <file stem>_overlay in the current folder)")
    parser.add_argument("--window", type=positive_seconds, default=4.0)
    parser.add_argument("--hop", type=positive_seconds, default=None, help="default window/2")
    parser.add_argument("--bands", type=positive_int, default=16, help="number of occluded frequency bands")
    parser.add_argument("--scale", choices=["mel", "linear"], default="mel")
    parser.add_argument("--config", default=DEFAULT_CONFIG)
    parser.add_argument("--summary", default=DEFAULT_SUMMARY)
    parser.add_argument("--threads", type=positive_int, default=1)
    parser.add_argument("--max-seconds", type=positive_seconds, default=600.0,
                        help="longer files get an error line instead of being decoded (default 600, as scaa detect)")
    from scaa.inference.model_choice import add_plugin_argument

    add_plugin_argument(parser)


def main(args) -> int:
    from scaa.inference.detector import Detector
    from scaa.inference.model_choice import allowed_plugins, announce_default, choose_model
    from scaa.inference.pipeline import check_windowing, file_fields, printable, problem_text

    hop = args.hop if args.hop is not None else args.window / 2
    try:
        check_windowing(args.window, hop)
        run_dir, how = choose_model(args.model, args.config, args.summary)
        announce_default("scaa overlay", run_dir, how)  # nothing trained or given: the pretrained default
        detector = Detector.from_run(run_dir, threads=args.threads,
                                     allow_plugins=allowed_plugins(args.allow_plugin, args.config))
    except Exception as err:
        print(f"scaa overlay: error: {err}", file=sys.stderr)
        return 2
    out = args.out or f"{Path(args.file).stem}_overlay"
    try:
        res = overlay(detector, args.file, out, args.window, hop, args.bands, args.scale,
                      max_seconds=args.max_seconds)
    except audio.AudioError as err:
        print(json.dumps({**file_fields(args.file), "error": printable(problem_text(err))}))
        return 1
    print(json.dumps({**file_fields(args.file), "png": printable(str(res["png"])), "html": printable(str(res["html"])),
                      "json": printable(str(res["json"])), **res["verdict"]}))
    return 0

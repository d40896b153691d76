"""The public-corpus adapters (scaa.datasets.public) on tiny trees in each corpus' own layout."""
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

import scaa.datasets  # noqa: F401  (registers the adapters)
from scaa.datasets import ProtocolError
from scaa.registry import DATASETS, RegistryError

SR = 16000


def clip(path, seed=0, seconds=0.5, fmt=None):
    """~0.5 s of seeded noise, 16 kHz (wav, or flac by suffix)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    wave = (0.1 * np.random.default_rng(seed).standard_normal(int(seconds * SR))).astype(np.float32)
    sf.write(str(path), wave, SR, format=fmt)
    return path


def build(spec):
    return DATASETS.build(spec).build()


def by_id(df):
    return df.set_index("utt_id")


# ------------------------------------------------------------------------------------------- WaveFake
LJ = ["LJ001-0001", "LJ001-0002", "LJ002-0001", "LJ003-0010"]
JSUT = ["BASIC5000_0001", "BASIC5000_0002"]


@pytest.fixture
def wavefake(tmp_path):
    root = tmp_path / "wavefake"
    gen = root / "generated_audio"
    for k, voc in enumerate(("ljspeech_melgan", "ljspeech_hifiGAN")):
        for i, u in enumerate(LJ):
            clip(gen / voc / f"{u}_gen.wav", seed=10 * k + i)
    for i, u in enumerate(JSUT):
        clip(gen / "jsut_parallel_wavegan" / f"{u}_gen.wav", seed=50 + i)
    lj = root / "LJSpeech-1.1"
    for i, u in enumerate(LJ):
        clip(lj / "wavs" / f"{u}.wav", seed=100 + i)
    (lj / "metadata.csv").write_text("".join(f"{u}|Text {u}.|Text {u}.\n" for u in LJ))
    basic = root / "jsut_ver1.1" / "basic5000"
    for i, u in enumerate(JSUT):
        clip(basic / "wav" / f"{u}.wav", seed=200 + i)
    (basic / "transcript_utf8.txt").write_text("".join(f"{u}:テキスト\n" for u in JSUT), encoding="utf-8")
    return root


def test_wavefake_pairs_vocoded_clips_with_their_originals(wavefake):
    df, rejects = build({"type": "wavefake", "root": str(wavefake)})
    assert len(rejects) == 0 and len(df) == 8 + 2 + 4 + 2
    d = by_id(df)
    row = d.loc["ljspeech_melgan/LJ001-0001_gen"]
    assert (row["label"], row["attack"], row["speaker"], row["split"]) == (1, "ljspeech_melgan", "ljspeech", "eval")
    row = d.loc["jsut_parallel_wavegan/BASIC5000_0002_gen"]
    assert (row["label"], row["attack"], row["speaker"]) == (1, "jsut_parallel_wavegan", "jsut")
    row = d.loc["ljspeech/LJ002-0001"]
    assert (row["label"], row["attack"], row["speaker"]) == (0, "-", "ljspeech")
    assert d.loc["jsut/BASIC5000_0001", "label"] == 0 and d.loc["jsut/BASIC5000_0001", "speaker"] == "jsut"
    assert set(df["split"]) == {"eval"}
    assert sorted(df[df.label == 1]["attack"].unique()) == ["jsut_parallel_wavegan", "ljspeech_hifiGAN",
                                                            "ljspeech_melgan"]


def test_wavefake_vocoder_filter_and_separate_roots(wavefake, tmp_path):
    # generated_audio/ as the root, LJSpeech given apart; JSUT clips are left out with the JSUT vocoders
    moved = tmp_path / "elsewhere" / "LJSpeech-1.1"
    moved.parent.mkdir()
    (wavefake / "LJSpeech-1.1").rename(moved)
    df, rejects = build({"type": "wavefake", "root": str(wavefake / "generated_audio"),
                         "ljspeech_root": str(moved), "vocoders": ["ljspeech_hifiGAN"]})
    assert len(rejects) == 0
    assert sorted(df["utt_id"]) == sorted([f"ljspeech_hifiGAN/{u}_gen" for u in LJ] + [f"ljspeech/{u}" for u in LJ])
    assert df.set_index("utt_id").loc["ljspeech/LJ001-0001", "path"] == str(moved / "wavs" / "LJ001-0001.wav")
    with pytest.raises(FileNotFoundError, match=r"vocoder folders \['ljspeech_nope'\] not found"):
        build({"type": "wavefake", "root": str(wavefake), "vocoders": ["ljspeech_nope"]})


def test_wavefake_split_by_utterance_keeps_copies_together(wavefake):
    spec = {"type": "wavefake", "root": str(wavefake), "split_fractions": {"train": 0.5, "eval": 0.5}, "seed": 3}
    df, _ = build(spec)
    df["utt"] = df["utt_id"].str.split("/").str[1].str.replace("_gen", "")
    assert df.groupby("utt")["split"].nunique().max() == 1  # a clip and its vocoded copies: one split
    assert set(df["split"]) == {"train", "eval"}
    again, _ = build(spec)
    assert again["split"].tolist() == df.drop(columns="utt")["split"].tolist()  # seeded: the same every time


def test_wavefake_metadata_problems(wavefake):
    meta = wavefake / "LJSpeech-1.1" / "metadata.csv"
    meta.write_bytes(meta.read_bytes() + b"no separator on this line\nLJ009-\xff001|x|x\nLJ001-0002|again|again\n"
                     b"LJ404-0404|gone|gone\n")
    with pytest.raises(ProtocolError, match=r"metadata\.csv:5: expected 'ID\|text'"):
        build({"type": "wavefake", "root": str(wavefake)})
    df, rejects = build({"type": "wavefake", "root": str(wavefake), "on_error": "skip"})
    assert len(df) == 16
    reasons = rejects.groupby("reason")["detail"].apply(list).to_dict()
    assert sorted(reasons) == ["duplicate_id", "malformed_line", "missing", "not_utf8"]
    assert "metadata.csv:5" in reasons["malformed_line"][0] and "metadata.csv:6" in reasons["not_utf8"][0]
    assert "metadata.csv:7" in reasons["duplicate_id"][0] and "metadata.csv:8" in reasons["missing"][0]
    assert rejects.set_index("reason").loc["missing", "utt_id"] == "ljspeech/LJ404-0404"
    meta.write_text("LJ001-0001|a|a\nLJ404-0404|gone|gone\n")
    with pytest.raises(ProtocolError, match=r"metadata\.csv:2: audio file for 'ljspeech/LJ404-0404' not found"):
        build({"type": "wavefake", "root": str(wavefake)})


def test_wavefake_unreadable_vocoded_clip_is_rejected(wavefake):
    (wavefake / "generated_audio" / "ljspeech_melgan" / "LJ001-0001_gen.wav").write_bytes(b"RIFF nonsense")
    df, rejects = build({"type": "wavefake", "root": str(wavefake)})
    assert len(df) == 15 and rejects["utt_id"].tolist() == ["ljspeech_melgan/LJ001-0001_gen"]
    assert rejects["reason"][0].startswith("unreadable")


# ------------------------------------------------------------------------------------------- MLAAD
MLAAD_HEADER = "path|original_file|language|is_original_language|duration|training_data|model_name|architecture|" \
               "transcript\n"


def _orig(lang, gender, reader, k):
    return f"{lang}/by_book/{gender}/{reader}/book_{reader}/wavs/book_{reader}_f{k:06d}.wav"


@pytest.fixture
def mlaad(tmp_path):
    root, mailabs = tmp_path / "MLAAD", tmp_path / "mailabs"
    spec = {("en", "tts_models_en_ljspeech_vits"): ("en_US", "female", "judy", True),
            ("en", "tts_models_en_vctk_vits"): ("en_UK", "male", "elliot", True),
            ("de", "tts_models_de_thorsten_vits"): ("de_DE", "female", "eva", True),
            ("sw", "facebook_mms-tts-swh"): ("en_US", "female", "judy", False)}
    seed = 0
    for (lang, model), (code, gender, reader, native) in spec.items():
        lines = [MLAAD_HEADER]
        for k in range(2):
            name = f"{model}_{k}.wav"
            orig = _orig(code, gender, reader, k)
            clip(root / "fake" / lang / model / name, seed=seed)
            clip(mailabs / orig, seed=seed + 500)
            seed += 1
            lines.append(f"./fake/{lang}/{model}/{name}|{orig}|{lang}|{native}|0.5|data|{model}|VITS|"
                         f"\"Hallo | quoted\" text\n")
        (root / "fake" / lang / model / "meta.csv").write_text("".join(lines), encoding="utf-8")
    return root, mailabs


def test_mlaad_reads_meta_and_pairs_mailabs(mlaad):
    root, mailabs = mlaad
    df, rejects = build({"type": "mlaad", "root": str(root), "mailabs_root": str(mailabs)})
    assert len(rejects) == 0
    d = by_id(df)
    row = d.loc["en/tts_models_en_ljspeech_vits/tts_models_en_ljspeech_vits_1"]
    assert (row["label"], row["attack"], row["speaker"], row["split"]) == \
        (1, "tts_models_en_ljspeech_vits", "tts_models_en_ljspeech_vits", "eval")
    assert row["path"] == str(root / "fake/en/tts_models_en_ljspeech_vits/tts_models_en_ljspeech_vits_1.wav")
    # bona fide: the M-AILABS originals of rows in their own language, each once (sw rows are translations)
    bona = df[df.label == 0]
    assert sorted(bona["speaker"]) == ["elliot", "elliot", "eva", "eva", "judy", "judy"]
    assert set(bona["attack"]) == {"-"}
    assert d.loc["mailabs/" + _orig("de_DE", "female", "eva", 1)[:-4], "path"] == \
        str(mailabs / _orig("de_DE", "female", "eva", 1))
    assert (df.label == 1).sum() == 8
    # without mailabs_root: spoofs only
    df2, _ = build({"type": "mlaad", "root": str(root / "fake")})
    assert len(df2) == 8 and set(df2["label"]) == {1}


def test_mlaad_language_and_model_filters_and_speaker_splits(mlaad):
    root, mailabs = mlaad
    df, _ = build({"type": "mlaad", "root": str(root), "mailabs_root": str(mailabs), "languages": ["de"]})
    assert sorted(df["speaker"].unique()) == ["eva", "tts_models_de_thorsten_vits"] and len(df) == 4
    df, _ = build({"type": "mlaad", "root": str(root), "models": ["tts_models_en_vctk_vits"]})
    assert set(df["attack"]) == {"tts_models_en_vctk_vits"} and len(df) == 2
    with pytest.raises(FileNotFoundError, match=r"languages \['xx'\] not found"):
        build({"type": "mlaad", "root": str(root), "languages": ["xx"]})
    df, _ = build({"type": "mlaad", "root": str(root), "mailabs_root": str(mailabs),
                   "split_fractions": {"train": 0.5, "dev": 0.25, "eval": 0.25}})
    assert df.groupby("speaker")["split"].nunique().max() == 1  # readers and whole models: one split each
    assert set(df["split"]) == {"train", "dev", "eval"}


def test_mlaad_meta_problems(mlaad):
    root, mailabs = mlaad
    meta = root / "fake" / "de" / "tts_models_de_thorsten_vits" / "meta.csv"
    meta.write_bytes(meta.read_bytes() + b"./fake/de/x/short_row.wav|only two\n"
                     b"./fake/de/x/bad\xfe.wav|de_DE/a.wav|de|True|1|d|m|a|t\n"
                     b"./fake/de/x/missing.wav|de_DE/by_book/female/eva/b/wavs/nope.wav|de|True|1|d|m|a|t\n"
                     b"./fake/de/x/evil.wav|../../etc/passwd.wav|de|True|1|d|m|a|t\n")
    with pytest.raises(ProtocolError, match=r"meta\.csv:4: expected 9 '\|'-separated fields, got 2"):
        build({"type": "mlaad", "root": str(root), "mailabs_root": str(mailabs)})
    df, rejects = build({"type": "mlaad", "root": str(root), "mailabs_root": str(mailabs), "on_error": "skip"})
    reasons = rejects.set_index("reason")["detail"]
    assert sorted(reasons.index) == ["bad_utt_id", "malformed_line", "missing", "missing", "missing", "not_utf8"]
    assert "meta.csv:4" in reasons["malformed_line"] and "meta.csv:5" in reasons["not_utf8"]
    assert "meta.csv:7" in reasons["bad_utt_id"] and "passwd" in reasons["bad_utt_id"]
    missing = rejects[rejects.reason == "missing"].set_index("utt_id")["detail"]
    assert "meta.csv:6" in missing["de/tts_models_de_thorsten_vits/missing"]
    assert "meta.csv:6" in missing["mailabs/de_DE/by_book/female/eva/b/wavs/nope"]
    assert "meta.csv:7" in missing["de/tts_models_de_thorsten_vits/evil"]  # its spoof clip is listed, not there
    assert len(df) == 14  # 8 spoofs + 6 originals, as before
    # a header without the needed columns stops the file (or is one reject)
    meta.write_text("file,label\na.wav,spoof\n")
    with pytest.raises(ProtocolError, match=r"meta\.csv:1: header must name"):
        build({"type": "mlaad", "root": str(root)})
    df, rejects = build({"type": "mlaad", "root": str(root), "on_error": "skip"})
    assert rejects["reason"].tolist() == ["bad_header"] and len(df) == 6


def test_mlaad_duplicate_row_is_a_duplicate_id(mlaad):
    root, _ = mlaad
    meta = root / "fake" / "en" / "tts_models_en_vctk_vits" / "meta.csv"
    lines = meta.read_text().splitlines(keepends=True)
    meta.write_text("".join(lines + [lines[1]]))
    with pytest.raises(ProtocolError, match=r"meta\.csv:4: duplicate utt_id .*first at .*meta\.csv:2"):
        build({"type": "mlaad", "root": str(root)})
    df, rejects = build({"type": "mlaad", "root": str(root), "on_error": "skip"})
    assert len(df) == 8 and rejects["reason"].tolist() == ["duplicate_id"]


# ------------------------------------------------------------------------------------------- FakeOrReal
FOR_SPLITS = {"training": "train", "validation": "dev", "testing": "eval"}


def _for_tree(base):
    seed = 0
    for folder in FOR_SPLITS:
        for cls in ("real", "fake"):
            for i in range(2):
                clip(base / folder / cls / f"file{i}.wav_16k.wav_norm.wav_mono.wav_silence.wav", seed=seed)
                seed += 1


@pytest.mark.parametrize("version,folder,doubled", [("for-norm", "for-norm", True), ("for-2sec", "for-2seconds", False),
                                                    ("for-rerec", "for-rerecorded", True),
                                                    ("for-original", "for-original", False)])
def test_fakeorreal_versions_and_splits(tmp_path, version, folder, doubled):
    base = tmp_path / "FoR" / folder / (folder if doubled else "")
    _for_tree(base)
    df, rejects = build({"type": "fakeorreal", "root": str(tmp_path / "FoR"), "version": version})
    assert len(df) == 12 and len(rejects) == 0
    assert df.groupby(["split", "label"]).size().to_dict() == {(s, lab): 2 for s in ("dev", "eval", "train")
                                                                for lab in (0, 1)}
    row = by_id(df).loc["dev/fake/file1.wav_16k.wav_norm.wav_mono.wav_silence"]
    assert (row["label"], row["split"], row["attack"], row["speaker"]) == (1, "dev", "fakeorreal", "unknown")
    assert by_id(df).loc["train/real/file0.wav_16k.wav_norm.wav_mono.wav_silence", "attack"] == "-"
    # the version folder itself as root, and one split only
    df, _ = build({"type": "fakeorreal", "root": str(base), "version": version, "splits": ["eval"]})
    assert set(df["split"]) == {"eval"} and len(df) == 4


def test_fakeorreal_wrong_version_bad_audio_and_duplicates(tmp_path):
    _for_tree(tmp_path / "for-norm" / "for-norm")
    with pytest.raises(FileNotFoundError, match="no for-2sec folder"):
        build({"type": "fakeorreal", "root": str(tmp_path), "version": "for-2sec"})
    with pytest.raises(ValueError, match="version must be one of"):
        build({"type": "fakeorreal", "root": str(tmp_path), "version": "for-4sec"})
    real = tmp_path / "for-norm" / "for-norm" / "testing" / "real"
    (real / "file0.wav_16k.wav_norm.wav_mono.wav_silence.wav").write_bytes(b"")
    clip(real / "file1.wav_16k.wav_norm.wav_mono.wav_silence.flac", seed=99, fmt="FLAC")  # same stem: same id
    with pytest.raises(ProtocolError, match=r"duplicate utt_id 'eval/real/file1"):
        build({"type": "fakeorreal", "root": str(tmp_path)})
    df, rejects = build({"type": "fakeorreal", "root": str(tmp_path), "on_error": "skip"})
    assert len(df) == 11
    reasons = rejects.set_index("utt_id")["reason"]
    assert reasons["eval/real/file0.wav_16k.wav_norm.wav_mono.wav_silence"].startswith(("empty", "unreadable"))
    assert reasons["eval/real/file1.wav_16k.wav_norm.wav_mono.wav_silence"] == "duplicate_id"


# ------------------------------------------------------------------------------------------- ASVspoof 5
ASV5_FILES = {"train": ("ASVspoof5.train.tsv", "flac_T", "T"), "dev": ("ASVspoof5.dev.track_1.tsv", "flac_D", "D"),
              "eval": ("ASVspoof5.eval.track_1.tsv", "flac_E_eval", "E")}


@pytest.fixture
def asv5(tmp_path):
    root = tmp_path / "asvspoof5"
    for split, (proto, folder, letter) in ASV5_FILES.items():
        lines = []
        for i in range(4):
            name = f"{letter}_{i:010d}"
            clip(root / folder / f"{name}.flac", seed=i + 10 * len(lines), fmt="FLAC")
            spoof = i % 2 == 1
            attack = f"A{i + 10 * (split == 'eval'):02d}" if spoof else "-"
            lines.append(f"{letter}_{4850 + i // 2} {name} {'F' if i < 2 else 'M'} - - - "
                         f"{'AC3' if spoof else 'bonafide'} {attack} {'spoof' if spoof else 'bonafide'} -")
        (root / "ASVspoof5_protocols").mkdir(parents=True, exist_ok=True)
        (root / "ASVspoof5_protocols" / proto).write_text("\n".join(lines) + "\n")
    return root


def test_asvspoof5_reads_track1_protocols(asv5):
    df, rejects = build({"type": "asvspoof5", "root": str(asv5)})
    assert len(df) == 12 and len(rejects) == 0
    d = by_id(df)
    row = d.loc["T_0000000001"]
    assert (row["label"], row["split"], row["speaker"], row["attack"]) == (1, "train", "T_4850", "A01")
    row = d.loc["E_0000000003"]
    assert (row["label"], row["split"], row["speaker"], row["attack"]) == (1, "eval", "E_4851", "A13")
    row = d.loc["D_0000000002"]
    assert (row["label"], row["split"], row["attack"]) == (0, "dev", "-")
    assert row["path"] == str(asv5 / "flac_D" / "D_0000000002.flac")
    df, _ = build({"type": "asvspoof5", "root": str(asv5), "splits": ["dev"]})
    assert set(df["split"]) == {"dev"} and len(df) == 4


def test_asvspoof5_problems_name_file_and_line(asv5):
    proto = asv5 / "ASVspoof5_protocols" / "ASVspoof5.dev.track_1.tsv"
    proto.write_bytes(proto.read_bytes() + b"D_4999 D_0000000009 F - - - AC3 A05\n"          # line 5: 8 fields
                      b"D_4999 D_0000000010 F - - - AC3 A05 maybe -\n"                     # 6: unknown key
                      b"D_4999 D_0000000001 F - - - AC3 A05 spoof -\n"                     # 7: duplicate
                      b"D_4999 D_0000000011 F - - - AC3 A05 spoof -\n"                     # 8: no audio
                      b"D_49\xe9 D_0000000012 F - - - AC3 A05 spoof -\n")                  # 9: not UTF-8
    with pytest.raises(ProtocolError, match=r"dev\.track_1\.tsv:5: expected 10 fields"):
        build({"type": "asvspoof5", "root": str(asv5)})
    df, rejects = build({"type": "asvspoof5", "root": str(asv5), "on_error": "skip"})
    assert len(df) == 12
    got = {r.reason: r.detail for r in rejects.itertuples()}
    assert sorted(got) == ["duplicate_id", "malformed_line", "missing", "not_utf8", "unknown_label"]
    for reason, line in (("malformed_line", 5), ("unknown_label", 6), ("duplicate_id", 7), ("missing", 8),
                         ("not_utf8", 9)):
        assert f"dev.track_1.tsv:{line}" in got[reason], reason
    (asv5 / "ASVspoof5_protocols" / "ASVspoof5.train.tsv").unlink()
    with pytest.raises(FileNotFoundError, match=r"ASVspoof5\.train\.tsv not found"):
        build({"type": "asvspoof5", "root": str(asv5)})


def test_asvspoof5_protocols_beside_audio_and_renamed_folders(asv5):
    for f in (asv5 / "ASVspoof5_protocols").iterdir():
        f.rename(asv5 / f.name)
    (asv5 / "flac_E_eval").rename(asv5 / "eval_audio")
    with pytest.raises(ProtocolError, match=r"eval\.track_1\.tsv:1: audio file for 'E_0000000000' not found"):
        build({"type": "asvspoof5", "root": str(asv5)})
    df, rejects = build({"type": "asvspoof5", "root": str(asv5), "audio_dirs": {"eval": "eval_audio"}})
    assert len(df) == 12 and len(rejects) == 0


# ------------------------------------------------------------------------------------------- LibriSeVoc
LIBRI = ["27_123349_000006_000000", "27_123349_000007_000001", "1034_121119_000001_000000",
         "1034_121119_000002_000000", "5678_1234_000010_000003"]
VOCODERS = ["diffwave", "melgan", "parallel_wave_gan", "wavegrad", "wavenet", "wavernn"]


@pytest.fixture
def librisevoc(tmp_path):
    root = tmp_path / "LibriSeVoc"
    seed = 0
    for u in LIBRI:
        clip(root / "gt" / f"{u}.wav", seed=seed)
        seed += 1
        for voc in VOCODERS:
            clip(root / voc / f"{u}_gen.wav", seed=seed)
            seed += 1
    return root


def test_librisevoc_speakers_attacks_and_splits(librisevoc):
    df, rejects = build({"type": "librisevoc", "root": str(librisevoc)})
    assert len(df) == 5 * 7 and len(rejects) == 0 and set(df["split"]) == {"eval"}
    d = by_id(df)
    row = d.loc["wavegrad/1034_121119_000002_000000_gen"]
    assert (row["label"], row["attack"], row["speaker"]) == (1, "wavegrad", "1034")
    row = d.loc["gt/27_123349_000006_000000"]
    assert (row["label"], row["attack"], row["speaker"]) == (0, "-", "27")
    assert sorted(df[df.label == 1]["attack"].unique()) == VOCODERS
    df, _ = build({"type": "librisevoc", "root": str(librisevoc.parent), "vocoders": ["melgan", "wavenet"],
                   "split_fractions": {"train": 0.4, "dev": 0.3, "eval": 0.3}, "seed": 1})
    assert len(df) == 5 * 3 and sorted(df[df.label == 1]["attack"].unique()) == ["melgan", "wavenet"]
    assert df.groupby("speaker")["split"].nunique().max() == 1  # speaker-disjoint
    assert df["split"].nunique() == 3


def test_librisevoc_bad_names_missing_folder_and_bad_audio(librisevoc, tmp_path):
    clip(librisevoc / "melgan" / "readme_sample.wav", seed=77)
    (librisevoc / "wavenet" / "27_123349_000006_000000_gen.wav").write_bytes(b"\x00" * 100)
    with pytest.raises(ProtocolError, match=r"readme_sample\.wav: file name 'readme_sample\.wav' is not a LibriTTS"):
        build({"type": "librisevoc", "root": str(librisevoc)})
    df, rejects = build({"type": "librisevoc", "root": str(librisevoc), "on_error": "skip"})
    assert len(df) == 34
    reasons = rejects.set_index("utt_id")["reason"]
    assert reasons["melgan/readme_sample"] == "bad_name"
    assert reasons["wavenet/27_123349_000006_000000_gen"].startswith("unreadable")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match=r"no gt/ folder"):
        build({"type": "librisevoc", "root": str(tmp_path / "empty")})


# ------------------------------------------------------------------------------------------- all five
def test_unknown_parameter_is_refused():
    with pytest.raises(RegistryError, match="vocoder"):
        DATASETS.check({"type": "wavefake", "root": ".", "vocoder": ["x"]})


@pytest.fixture
def corpora(wavefake, mlaad, asv5, librisevoc, tmp_path):
    _for_tree(tmp_path / "FoR" / "for-norm" / "for-norm")
    # one broken clip in each, so the rejects file has something to list
    (wavefake / "generated_audio" / "ljspeech_melgan" / "LJ001-0001_gen.wav").write_bytes(b"junk")
    (mlaad[0] / "fake" / "de" / "tts_models_de_thorsten_vits" / "tts_models_de_thorsten_vits_0.wav").write_bytes(b"")
    (tmp_path / "FoR" / "for-norm" / "for-norm" / "validation" / "fake" /
     "file0.wav_16k.wav_norm.wav_mono.wav_silence.wav").write_bytes(b"junk")
    (asv5 / "flac_T" / "T_0000000000.flac").write_bytes(b"fLaC junk")
    (librisevoc / "melgan" / "27_123349_000006_000000_gen.wav").write_bytes(b"junk")
    return {"wavefake": (wavefake, None, 15), "mlaad": (mlaad[0], f"{{mailabs_root: '{mlaad[1]}'}}", 13),
            "fakeorreal": (tmp_path / "FoR", "{version: for-norm}", 11), "asvspoof5": (asv5, None, 11),
            "librisevoc": (librisevoc, None, 34)}


@pytest.mark.parametrize("name", ["wavefake", "mlaad", "fakeorreal", "asvspoof5", "librisevoc"])
def test_scaa_manifest_command(corpora, tmp_path, name):
    root, params, kept = corpora[name]
    out = tmp_path / f"{name}.parquet"
    cmd = [sys.executable, "-m", "scaa.cli", "manifest", name, str(root), "--out", str(out), "--on-error", "skip"]
    if params:
        cmd += ["--params", params]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert f"{kept} clips, 1 rejected -> {out}" in proc.stdout
    df = pd.read_parquet(out)
    assert len(df) == kept and set(df["label"]) == {0, 1}
    rejects = pd.read_csv(tmp_path / f"{name}.rejects.csv")
    assert len(rejects) == 1 and rejects["reason"][0].startswith(("unreadable", "empty"))

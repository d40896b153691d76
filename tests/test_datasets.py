import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from conftest import write_wav
from scaa import manifest
from scaa.datasets import ProtocolError, assign_splits
from scaa.registry import DATASETS


def build(spec):
    return DATASETS.build(spec).build()


def test_asvspoof2019_la_reads_protocols(la_corpus):
    df, rejects = build({"type": "asvspoof2019_la", "root": str(la_corpus)})
    assert len(df) == 18 and len(rejects) == 0
    assert set(df["split"]) == {"train", "dev", "eval"}
    row = df.set_index("utt_id").loc["LA_T_0000001"]
    assert row["label"] == 1 and row["attack"] == "A01" and row["speaker"] == "LA_0000"
    bona = df.set_index("utt_id").loc["LA_T_0000000"]
    assert bona["label"] == 0 and bona["attack"] == "-"
    assert df["duration_s"].between(0.99, 1.01).all()
    # root may also be the LA folder itself
    df2, _ = build({"type": "asvspoof2019_la", "root": str(la_corpus / "LA")})
    assert len(df2) == 18


def _proto(root, split="train"):
    ext = "trn" if split == "train" else "trl"
    return root / "LA" / "ASVspoof2019_LA_cm_protocols" / f"ASVspoof2019.LA.cm.{split}.{ext}.txt"


def test_malformed_line_names_file_and_line(la_corpus):
    p = _proto(la_corpus)
    p.write_text(p.read_text() + "LA_0009 LA_T_0000099 A01 spoof\n")
    with pytest.raises(ProtocolError, match=r"train\.trn\.txt:7: expected 5 fields"):
        build({"type": "asvspoof2019_la", "root": str(la_corpus)})
    df, rejects = build({"type": "asvspoof2019_la", "root": str(la_corpus), "on_error": "skip"})
    assert len(df) == 18 and len(rejects) == 1 and rejects["reason"][0] == "malformed_line"
    assert "train.trn.txt:7: expected 5 fields" in rejects["detail"][0]


def test_unknown_label_and_duplicate_id(la_corpus):
    p = _proto(la_corpus)
    p.write_text(p.read_text() + "LA_0009 LA_T_0000000 - - genuine\n")
    with pytest.raises(ProtocolError, match=r":7: unknown key 'genuine'"):
        build({"type": "asvspoof2019_la", "root": str(la_corpus)})
    p.write_text(p.read_text().replace("genuine", "bonafide"))
    with pytest.raises(ProtocolError, match=r"train.trn.txt:7: duplicate utt_id .LA_T_0000000."):
        build({"type": "asvspoof2019_la", "root": str(la_corpus)})
    df, rejects = build({"type": "asvspoof2019_la", "root": str(la_corpus), "on_error": "skip"})
    assert len(df) == 18 and (rejects["reason"] == "duplicate_id").sum() == 1


def test_missing_audio_is_an_error_or_a_recorded_skip(la_corpus):
    (la_corpus / "LA" / "ASVspoof2019_LA_dev" / "flac" / "LA_D_0000003.flac").unlink()
    # the error names the protocol line that lists the file
    with pytest.raises(ProtocolError, match=r"dev\.trl\.txt:4: audio file for 'LA_D_0000003' not found"):
        build({"type": "asvspoof2019_la", "root": str(la_corpus)})
    df, rejects = build({"type": "asvspoof2019_la", "root": str(la_corpus), "on_error": "skip"})
    assert len(df) == 17
    row = rejects.set_index("utt_id").loc["LA_D_0000003"]
    assert row["reason"] == "missing" and "dev.trl.txt:4" in row["detail"]


def test_corrupt_and_empty_files_are_rejected_not_fatal(la_corpus):
    flac = la_corpus / "LA" / "ASVspoof2019_LA_eval" / "flac"
    (flac / "LA_E_0000000.flac").write_bytes(b"not audio at all")
    sf.write(str(flac / "LA_E_0000001.flac"), np.zeros(0, np.float32), 16000, format="FLAC")
    df, rejects = build({"type": "asvspoof2019_la", "root": str(la_corpus)})
    assert len(df) == 16
    reasons = rejects.set_index("utt_id")["reason"]
    assert reasons["LA_E_0000000"].startswith("unreadable")
    assert reasons["LA_E_0000001"].startswith(("empty", "unreadable"))


def test_too_long_audio_is_rejected(tmp_path):
    write_wav(tmp_path / "real" / "a.wav", seconds=3)
    write_wav(tmp_path / "fake" / "b.wav", seconds=1)
    df, rejects = build({"type": "folder", "root": str(tmp_path), "max_seconds": 2})
    assert list(df["utt_id"]) == ["fake/b"]
    assert rejects["reason"][0] == "too_long"


def test_too_short_audio_is_rejected(tmp_path):
    write_wav(tmp_path / "real" / "a.wav", wave=np.full(1, 0.5, np.float32))   # one sample
    write_wav(tmp_path / "real" / "b.wav", seconds=0.2)
    write_wav(tmp_path / "fake" / "c.wav", seconds=1)
    df, rejects = build({"type": "folder", "root": str(tmp_path)})
    assert list(df["utt_id"]) == ["fake/c"]
    assert rejects["reason"].tolist() == ["too_short", "too_short"]
    df, _ = build({"type": "folder", "root": str(tmp_path), "min_seconds": 0.1})
    assert sorted(df["utt_id"]) == ["fake/c", "real/b"]


def test_non_utf8_protocol_line_names_file_and_line(la_corpus):
    p = _proto(la_corpus, "dev")
    lines = p.read_bytes().splitlines(keepends=True)
    lines[2] = lines[2].replace(b"LA_0001", b"LA_\xff001")
    p.write_bytes(b"".join(lines))
    with pytest.raises(ProtocolError, match=r"dev\.trl\.txt:3: not valid UTF-8 \(byte 0xff at column 4\)"):
        build({"type": "asvspoof2019_la", "root": str(la_corpus)})
    df, rejects = build({"type": "asvspoof2019_la", "root": str(la_corpus), "on_error": "skip"})
    assert len(df) == 17 and rejects["reason"].tolist() == ["not_utf8"]
    assert "dev.trl.txt:3" in rejects["detail"][0]


def test_non_utf8_csv_row_is_skippable(tmp_path):
    for i in range(3):
        write_wav(tmp_path / f"{i}.wav", seed=i)
    (tmp_path / "meta.csv").write_bytes(b"file,speaker,label\n0.wav,Alice,bona-fide\n1.wav,Al\xe9,spoof\n"
                                        b"2.wav,Bob,spoof\n")
    with pytest.raises(ProtocolError, match=r"meta\.csv:3: not valid UTF-8"):
        build({"type": "in_the_wild", "root": str(tmp_path)})
    df, rejects = build({"type": "in_the_wild", "root": str(tmp_path), "on_error": "skip"})
    assert sorted(df["utt_id"]) == ["0", "2"] and rejects["reason"].tolist() == ["not_utf8"]


def test_in_the_wild(tmp_path):
    for i in range(4):
        write_wav(tmp_path / f"{i}.wav", seed=i)
    (tmp_path / "meta.csv").write_text("file,speaker,label\n0.wav,Alice,bona-fide\n1.wav,Alice,spoof\n"
                                       "2.wav,Bob,spoof\n3.wav,Bob,bona-fide\n")
    df, rejects = build({"type": "in_the_wild", "root": str(tmp_path)})
    assert len(df) == 4 and set(df["split"]) == {"eval"}
    assert df.set_index("utt_id").loc["1", "label"] == 1 and df.set_index("utt_id").loc["0", "label"] == 0
    df, _ = build({"type": "in_the_wild", "root": str(tmp_path), "split_fractions": {"train": 0.5, "eval": 0.5}})
    assert df.groupby("speaker")["split"].nunique().max() == 1  # speaker-disjoint
    (tmp_path / "meta.csv").write_text("file,speaker,label\n0.wav,Alice,maybe\n")
    with pytest.raises(ProtocolError, match=r"meta.csv:2: bad row"):
        build({"type": "in_the_wild", "root": str(tmp_path)})


def test_folder_any_format_and_split_folders(tmp_path):
    write_wav(tmp_path / "real" / "spk1" / "a.wav")
    write_wav(tmp_path / "real" / "b.flac", fmt="FLAC")
    write_wav(tmp_path / "fake" / "c.ogg", fmt="OGG")
    (tmp_path / "fake" / "notes.txt").write_text("ignored")
    df, rejects = build({"type": "folder", "root": str(tmp_path)})
    assert sorted(df["utt_id"]) == ["fake/c", "real/b", "real/spk1/a"]
    assert df.set_index("utt_id").loc["real/spk1/a", "speaker"] == "spk1"
    assert df.set_index("utt_id").loc["fake/c", "label"] == 1
    split_root = tmp_path / "split"
    for split in ("train", "dev", "eval"):
        write_wav(split_root / split / "real" / "x.wav")
        write_wav(split_root / split / "fake" / "y.wav")
    df, _ = build({"type": "folder", "root": str(split_root)})
    assert sorted(df["split"].unique()) == ["dev", "eval", "train"] and len(df) == 6
    with pytest.raises(FileNotFoundError, match="none of"):
        build({"type": "folder", "root": str(tmp_path / "real" / "spk1")})


def _mp4_with_audio(path, seconds=1.0, freq=440):
    import av

    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as box:
        stream = box.add_stream("aac", rate=22050)
        t = np.arange(int(seconds * 22050)) / 22050
        samples = (0.3 * np.sin(2 * np.pi * freq * t)).astype(np.float32)[None, :]
        frame = av.AudioFrame.from_ndarray(samples, format="fltp", layout="mono")
        frame.sample_rate = 22050
        for packet in stream.encode(frame):
            box.mux(packet)
        for packet in stream.encode(None):
            box.mux(packet)


def test_fakeavceleb_reads_metadata_and_mp4_audio(tmp_path):
    root = tmp_path / "FakeAVCeleb_v1.2"
    _mp4_with_audio(root / "RealVideo-RealAudio" / "African" / "men" / "id00076" / "00109.mp4")
    _mp4_with_audio(root / "RealVideo-FakeAudio" / "African" / "men" / "id00076" / "00109_fake.mp4", freq=880)
    (root / "meta_data.csv").write_text(
        "source,target1,target2,method,category,type,race,gender,path,\n"
        "id00076,-,-,real,A,RealVideo-RealAudio,African,men,00109.mp4,FakeAVCeleb/RealVideo-RealAudio/African/men/id00076\n"
        "id00076,-,-,rtvc,C,RealVideo-FakeAudio,African,men,00109_fake.mp4,FakeAVCeleb/RealVideo-FakeAudio/African/men/id00076\n")
    df, rejects = build({"type": "fakeavceleb", "root": str(root)})
    assert len(rejects) == 0, rejects
    assert sorted(df["label"]) == [0, 1]
    assert df.set_index("label").loc[1, "attack"] == "rtvc"
    assert df["duration_s"].between(0.9, 1.2).all()
    from scaa.dsp import audio

    wave = audio.load(df["path"][0])
    assert wave.dtype == np.float32 and abs(wave.size / 16000 - 1.0) < 0.1


def test_assign_splits_is_deterministic_and_disjoint():
    groups = [f"s{i}" for i in range(50)]
    a = assign_splits(groups, {"train": 0.6, "dev": 0.2, "eval": 0.2}, seed=3)
    b = assign_splits(list(reversed(groups)), {"train": 0.6, "dev": 0.2, "eval": 0.2}, seed=3)
    assert a == b
    counts = pd.Series(a).value_counts()
    assert counts["train"] == 30 and counts["dev"] == 10 and counts["eval"] == 10
    assert assign_splits(groups, {"train": 0.6, "dev": 0.2, "eval": 0.2}, seed=4) != a


def test_manifest_schema(la_corpus, tmp_path):
    df, rejects = build({"type": "asvspoof2019_la", "root": str(la_corpus)})
    assert list(df.columns) == list(manifest.COLUMNS)
    manifest.write(df, rejects, tmp_path / "m.parquet", tmp_path / "m.rejects.csv")
    back = manifest.read(tmp_path / "m.parquet")
    pd.testing.assert_frame_equal(back, df)
    assert list(pd.read_csv(tmp_path / "m.rejects.csv").columns) == list(manifest.REJECT_COLUMNS)
    bad = df.copy()
    bad.loc[0, "label"] = 2
    with pytest.raises(manifest.ManifestError, match="labels must be 0/1"):
        manifest.validate(bad)
    with pytest.raises(manifest.ManifestError, match="duplicate"):
        manifest.validate(pd.concat([df, df.iloc[:1]]))
    with pytest.raises(manifest.ManifestError, match="lacks columns"):
        manifest.validate(df.drop(columns=["speaker"]))


def test_asvspoof2021_eval_keys(tmp_path):
    root = tmp_path / "LA21"
    flac = root / "ASVspoof2021_LA_eval" / "flac"
    for i in range(3):
        write_wav(flac / f"LA_E_{i}.flac", fmt="FLAC", seed=i)
    keys = root / "keys" / "LA" / "CM" / "trial_metadata.txt"
    keys.parent.mkdir(parents=True)
    keys.write_text("LA_0009 LA_E_0 alaw ita_tx A07 spoof notrim eval\n"
                    "LA_0009 LA_E_1 none - bonafide bonafide notrim eval\n"
                    "LA_0010 LA_E_2 none - A19 spoof notrim progress\n")
    df, rejects = build({"type": "asvspoof2021", "root": str(root), "subsets": ["eval"]})
    assert df["utt_id"].tolist() == ["LA_E_0", "LA_E_1"] and set(df["split"]) == {"eval"}
    assert df["label"].tolist() == [1, 0] and df["attack"].tolist() == ["A07", "-"]
    keys.write_text(keys.read_text() + "LA_0011 LA_E_3 none\n")
    with pytest.raises(ProtocolError, match=r"trial_metadata.txt:4: expected at least 8 fields"):
        build({"type": "asvspoof2021", "root": str(root)})


# -- utt_ids that are not plain names (issue 29) ---------------------------------------------
@pytest.mark.parametrize("name,why", [("../../outside", "it contains '/'"), ("..", "it starts with '.'"),
                                      (".hidden", "it starts with '.'"), ("a\\b", "it contains '\\\\\\\\'"),
                                      ("LA_T_0000001/../../../outside", "it contains '/'")])
def test_a_protocol_utt_id_that_is_not_a_plain_name_is_rejected(la_corpus, name, why):
    outside = la_corpus.parent / "outside.flac"  # where "../../outside" would lead: it must not be read
    write_wav(outside, fmt="FLAC")
    p = _proto(la_corpus)
    p.write_text(p.read_text() + f"LA_0009 {name} - A01 spoof\n")
    with pytest.raises(ProtocolError, match=r"train\.trn\.txt:7: utt_id .* is not a plain name: " + why):
        build({"type": "asvspoof2019_la", "root": str(la_corpus)})
    df, rejects = build({"type": "asvspoof2019_la", "root": str(la_corpus), "on_error": "skip"})
    assert len(df) == 18 and not df["path"].str.contains("outside").any()
    assert rejects["reason"].tolist() == ["bad_utt_id"] and rejects["utt_id"][0] == name
    assert "train.trn.txt:7: utt_id" in rejects["detail"][0]


def test_asvspoof2021_keys_with_a_path_for_a_name_are_rejected(tmp_path):
    root = tmp_path / "LA21"
    flac = root / "ASVspoof2021_LA_eval" / "flac"
    write_wav(flac / "LA_E_0.flac", fmt="FLAC")
    write_wav(root / "up.flac", fmt="FLAC")
    keys = root / "keys" / "LA" / "CM" / "trial_metadata.txt"
    keys.parent.mkdir(parents=True)
    keys.write_text("LA_0009 LA_E_0 alaw ita_tx A07 spoof notrim eval\n"
                    "LA_0009 ../../up none - bonafide bonafide notrim eval\n")
    df, rejects = build({"type": "asvspoof2021", "root": str(root), "on_error": "skip"})
    assert df["utt_id"].tolist() == ["LA_E_0"]
    assert rejects["reason"].tolist() == ["bad_utt_id"] and "trial_metadata.txt:2:" in rejects["detail"][0]


def test_in_the_wild_files_outside_the_root_are_rejected(tmp_path):
    root = tmp_path / "itw"
    for i in range(2):
        write_wav(root / f"{i}.wav", seed=i)
    write_wav(tmp_path / "secret.wav")
    write_wav(root / "sub" / "2.wav")
    (root / "meta.csv").write_text("file,speaker,label\n0.wav,Alice,bona-fide\n../secret.wav,Bob,spoof\n"
                                   "1.wav,Bob,spoof\n/etc/x.wav,Bob,spoof\nsub/2.wav,Carl,spoof\n.wav,Carl,spoof\n")
    with pytest.raises(ProtocolError, match=r"meta\.csv:3: utt_id '\.\./secret\.wav' is not a plain name"):
        build({"type": "in_the_wild", "root": str(root)})
    df, rejects = build({"type": "in_the_wild", "root": str(root), "on_error": "skip"})
    assert sorted(df["utt_id"]) == ["0", "1", "2"]  # a sub-folder under the root is fine
    assert rejects["reason"].tolist() == ["bad_utt_id"] * 3
    assert [d.split(": ")[0].rsplit(":", 1)[1] for d in rejects["detail"]] == ["3", "5", "7"]


def test_fakeavceleb_paths_outside_the_root_are_rejected(tmp_path):
    root = tmp_path / "FakeAVCeleb_v1.2"
    _mp4_with_audio(root / "RealVideo-RealAudio" / "a" / "00109.mp4")
    _mp4_with_audio(tmp_path / "up" / "x.mp4")
    (root / "meta_data.csv").write_text(
        "source,target1,target2,method,category,type,race,gender,path,\n"
        "id1,-,-,real,A,RealVideo-RealAudio,African,men,00109.mp4,FakeAVCeleb/RealVideo-RealAudio/a\n"
        "id2,-,-,rtvc,C,RealVideo-FakeAudio,African,men,x.mp4,FakeAVCeleb/../up\n"
        "id3,-,-,rtvc,C,RealVideo-FakeAudio,African,men,../up/x.mp4,\n")
    df, rejects = build({"type": "fakeavceleb", "root": str(root), "on_error": "skip"})
    assert len(df) == 1 and not df["path"].str.contains("up").any()
    assert rejects["reason"].tolist() == ["bad_utt_id"] * 2
    assert ["meta_data.csv:3:" in rejects["detail"][0], "meta_data.csv:4:" in rejects["detail"][1]] == [True, True]


def test_folder_ids_built_from_paths_under_the_root_still_hold_slashes(tmp_path):
    write_wav(tmp_path / "real" / "spk1" / "a.wav")
    write_wav(tmp_path / "fake" / "b.wav", seed=1)
    df, rejects = build({"type": "folder", "root": str(tmp_path)})
    assert sorted(df["utt_id"]) == ["fake/b", "real/spk1/a"] and len(rejects) == 0

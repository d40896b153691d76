"""Registry behaviour a plugin author relies on, and the capabilities the grid reads."""
import copy
import sys
import textwrap

import pytest
import yaml

import scaa.registry as registry
from scaa.plan import grid
from scaa.encoders.base import Encoder
from scaa.heads.base import Head
from scaa.registry import ALL, ENCODERS, HEADS, LOSSES, Entry, Registry, RegistryError, load_plugins


def _tables():
    return {kind: dict(reg._entries) for kind, reg in ALL.items()}


def test_all_lists_every_registry_once():
    assert set(ALL) == {"datasets", "encoders", "views", "losses", "heads", "resynth", "conditions"}
    assert ALL["resynth"] is registry.RESYNTH and ALL["conditions"] is registry.CONDITIONS


def test_contains_sees_entry_point_plugins(monkeypatch):
    class FakeEP:
        name = "contains_ep"

        def load(self):
            LOSSES.register("contains_ep_loss")(type("EpLoss", (), {"__doc__": "From an entry point."}))

    monkeypatch.setattr(registry.metadata, "entry_points",
                        lambda group: [FakeEP()] if group == "scaa.losses" else [])
    monkeypatch.setattr(registry, "_entry_points_loaded", False)
    monkeypatch.setattr(LOSSES, "_entries", dict(LOSSES._entries))  # undone after the test
    assert "contains_ep_loss" in LOSSES  # no names() / get() call first
    assert "no_such_loss" not in LOSSES


def test_type_error_inside_a_constructor_is_not_a_bad_spec():
    reg = Registry("things")

    @reg.register("fragile")
    class Fragile:
        def __init__(self, size: int = 1):
            self.buffer = [0] * size + None  # a bug inside the component: TypeError

    with pytest.raises(TypeError, match="can only concatenate list"):
        reg.build({"type": "fragile", "size": 2})
    with pytest.raises(RegistryError, match=r"cannot build things 'fragile'.*unexpected keyword argument 'colour'"):
        reg.build({"type": "fragile", "colour": "red"})


def test_bad_spec_names_the_parameters_the_factory_takes():
    reg = Registry("things")
    reg.register("pair")(lambda a, b=2: (a, b))
    with pytest.raises(RegistryError, match="its parameters are a, b"):
        reg.build({"type": "pair", "c": 1})
    assert reg.build({"type": "pair", "a": 1}) == (1, 2)


def test_failing_plugin_module_leaves_the_tables_as_they_were(tmp_path, monkeypatch):
    (tmp_path / "half_plugin_for_test.py").write_text(textwrap.dedent('''
        from scaa.registry import HEADS, LOSSES

        @LOSSES.register("half_plugin_loss")
        class Registered:
            """Registered before the module fails."""

        HEADS.register("half_plugin_head")(dict)
        raise RuntimeError("the plugin breaks half-way")
    '''))
    monkeypatch.syspath_prepend(str(tmp_path))
    registry.load_builtins()
    before = _tables()
    with pytest.raises(RegistryError, match="half_plugin_for_test.*RuntimeError: the plugin breaks half-way"):
        load_plugins(["half_plugin_for_test"])
    assert _tables() == before
    assert "half_plugin_loss" not in LOSSES and "half_plugin_head" not in HEADS
    sys.modules.pop("half_plugin_for_test", None)


def test_failing_entry_point_is_rolled_back_and_reported(monkeypatch):
    class Broken:
        name = "broken_ep"

        def load(self):
            LOSSES.register("broken_ep_loss")(dict)
            raise ImportError("missing dependency of the plugin")

    class Good:
        name = "good_ep"

        def load(self):
            LOSSES.register("good_ep_loss")(type("Good", (), {}))

    monkeypatch.setattr(registry.metadata, "entry_points",
                        lambda group: [Broken(), Good()] if group == "scaa.losses" else [])
    monkeypatch.setattr(registry, "_entry_points_loaded", False)
    monkeypatch.setattr(registry, "_entry_point_errors", {})
    monkeypatch.setattr(LOSSES, "_entries", dict(LOSSES._entries))
    with pytest.warns(RuntimeWarning, match="scaa.losses:broken_ep failed to load"):
        names = LOSSES.names()
    assert "broken_ep_loss" not in names and "good_ep_loss" in names and "ce" in names
    with pytest.raises(RegistryError, match="entry point scaa.losses:broken_ep failed to load: ImportError"):
        LOSSES.get("broken_ep_loss")


def test_names_filters_with_wildcards_like_timm_list_models():
    assert ENCODERS.names("wav*") == ["wav2vec2", "wavlm"]
    assert ENCODERS.names(["hub*", "whisper"]) == ["hubert", "whisper"]
    assert ENCODERS.names("wav*", exclude="*lm") == ["wav2vec2"]
    assert ENCODERS.names("nothing*") == []
    assert set(ENCODERS.names()) >= {"spectral", "wav2vec2", "hubert", "wavlm", "whisper"}


# ---------------------------------------------------------------- capabilities the grid reads
def test_base_classes_declare_documented_capabilities():
    assert Encoder.output == "pooled" and Encoder.supports_top_k is False
    assert Encoder.output_for({"output": "frames"}) == "frames"
    assert Head.needs == "pooled" and Head.trains_top_layers is False and Head.accepts_losses == ("ce",)
    assert HEADS.get("mlp").trains_top_layers is True
    assert ENCODERS.get("wavlm").supports_top_k is True and ENCODERS.get("whisper").supports_top_k is True
    assert ENCODERS.get("spectral").supports_top_k is False
    assert ENCODERS.get("wavlm").output_for({"pooling": "none"}) == "frames"


CONFIG = yaml.safe_load("""
seed: 0
datasets: {d: {type: folder, root: x}}
train_datasets: [d]
eval_datasets: [d]
encoders: {deep: {type: cap_test_encoder}}
views: {none: {type: none}}
losses: {ce: {type: ce}}
heads: {mlp: {type: mlp}, plain: {type: cap_test_head}, toppy: {type: cap_test_top_head}}
ablation: {encoder: [deep], view: [none], loss: [ce], head: [mlp, plain, toppy], freeze: [frozen, top1], seed: [0]}
""")


@pytest.fixture
def capability_components(monkeypatch):
    class DeepEncoder(Encoder):
        """An encoder with layers to fine-tune; frames unless asked to pool."""

        output = "frames"
        supports_top_k = True

        def __init__(self, output: str = "frames"):
            self.output = output

    class PlainHead(Head):
        """A pooled head that cannot ride on top layers."""

    class TopHead(Head):
        """A head that declares it trains with the top layers, and needs frames when frozen."""

        needs = "frames"
        trains_top_layers = True

    for reg, name, cls in ((ENCODERS, "cap_test_encoder", DeepEncoder), (HEADS, "cap_test_head", PlainHead),
                           (HEADS, "cap_test_top_head", TopHead)):
        monkeypatch.setitem(reg._entries, name, Entry(name, cls, cls.__doc__))


def test_grid_reads_declared_capabilities(capability_components):
    cells, skipped = grid.expand(CONFIG)
    ran = {(c.head, c.freeze) for c in cells}
    reasons = {(c.head, c.freeze): r for c, r in skipped}
    # frozen: the encoder declares frames, so only the head that needs frames runs
    assert ("toppy", "frozen") in ran
    assert "needs pooled features but encoder deep gives frames" in reasons[("mlp", "frozen")]
    # top-k: any head that declares trains_top_layers, not a hard-coded name
    assert ("mlp", "top1") in ran and ("toppy", "top1") in ran
    assert "does not declare trains_top_layers" in reasons[("plain", "top1")]


def test_grid_output_follows_the_spec(capability_components):
    config = copy.deepcopy(CONFIG)
    config["encoders"]["deep"]["output"] = "pooled"
    cells, _ = grid.expand(config)
    assert {(c.head, c.freeze) for c in cells if c.freeze == "frozen"} == {("mlp", "frozen"), ("plain", "frozen")}


def test_grid_refuses_a_component_that_declares_nothing(monkeypatch):
    monkeypatch.setitem(ENCODERS._entries, "cap_test_function", Entry("cap_test_function", lambda: None, ""))
    config = copy.deepcopy(CONFIG)
    config["encoders"]["deep"] = {"type": "cap_test_function"}
    with pytest.raises(TypeError, match="not a subclass of scaa.encoders.base.Encoder"):
        grid.expand(config)

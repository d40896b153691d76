import sys
import textwrap

import pytest

from scaa.registry import ALL, LOSSES, Registry, RegistryError, load_plugins


def test_register_build_and_describe():
    reg = Registry("things")

    @reg.register("double")
    class Double:
        """Multiplies by two."""

        def __init__(self, factor=2):
            self.factor = factor

    assert reg.build({"type": "double", "factor": 3}).factor == 3
    assert reg.build("double").factor == 2
    assert reg.describe()["double"] == "Multiplies by two."
    assert "double" in reg


def test_unknown_name_lists_available():
    reg = Registry("things")
    reg.register("a")(dict)
    with pytest.raises(RegistryError, match="unknown things 'b'; registered: a"):
        reg.get("b")


def test_bad_params_and_missing_type_are_clear():
    reg = Registry("things")

    @reg.register("one")
    def one(x):
        return x

    with pytest.raises(RegistryError, match="cannot build things 'one'"):
        reg.build({"type": "one", "y": 1})
    with pytest.raises(RegistryError, match="no 'type'"):
        reg.build({"x": 1})


def test_double_registration_of_a_different_factory_fails():
    reg = Registry("things")
    reg.register("a")(dict)
    with pytest.raises(RegistryError, match="already registered"):
        reg.register("a")(list)


def test_builtins_cover_every_kind():
    for kind, reg in ALL.items():
        assert reg.names(), f"no built-in {kind}"
    assert {"asvspoof2019_la", "in_the_wild", "folder", "fakeavceleb", "demo"} <= set(ALL["datasets"].names())
    assert "spectral" in ALL["encoders"].names()
    assert "logreg" in ALL["heads"].names()


def test_plugin_module_registers_a_loss(tmp_path, monkeypatch):
    (tmp_path / "plugin_for_test.py").write_text(textwrap.dedent('''
        from scaa.registry import LOSSES

        @LOSSES.register("test_plugin_loss")
        class Mine:
            """A loss from outside the package."""
    '''))
    monkeypatch.syspath_prepend(str(tmp_path))
    load_plugins(["plugin_for_test"])
    assert "test_plugin_loss" in LOSSES.names()
    assert LOSSES.describe()["test_plugin_loss"] == "A loss from outside the package."
    with pytest.raises(RegistryError, match="could not be imported"):
        load_plugins(["no_such_module_xyz"])
    sys.modules.pop("plugin_for_test", None)


def test_entry_points_are_loaded(monkeypatch):
    import scaa.registry as registry

    loaded = []

    class FakeEP:
        def load(self):
            loaded.append(True)
            LOSSES.register("ep_loss")(type("EpLoss", (), {"__doc__": "From an entry point."}))

    def fake_entry_points(group):
        return [FakeEP()] if group == "scaa.losses" else []

    monkeypatch.setattr(registry.metadata, "entry_points", fake_entry_points)
    monkeypatch.setattr(registry, "_entry_points_loaded", False)
    assert "ep_loss" in LOSSES.names()
    assert loaded == [True]


def test_cli_list_prints_every_kind(capsys):
    from scaa.cli import main

    assert main(["list"]) == 0
    out = capsys.readouterr().out
    for kind in ALL:
        assert f"{kind}:" in out
    assert "spectral" in out and "asvspoof2019_la" in out


def test_list_takes_every_kind_it_prints(capsys):
    from scaa.cli import main

    for kind in ALL:
        assert main(["list", kind]) == 0
        out = capsys.readouterr().out
        assert out.startswith(f"{kind}:") and out.count(":\n") == 1

"""Built-ins are imported on first lookup: the table in scaa.registry matches what the
modules register, a job imports only what its cell needs, and name clashes with a
not-yet-imported built-in are still refused."""
import subprocess
import sys
import textwrap


from scaa import registry
from scaa.registry import ALL


def run_python(code: str) -> str:
    out = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    return out.stdout.strip()


def test_builtin_table_matches_what_the_modules_register():
    registry.load_builtins()
    for kind, reg in ALL.items():
        registered = {n: e.factory.__module__ for n, e in reg._entries.items()
                      if e.factory.__module__.startswith("scaa.")}
        assert registered == registry.BUILTINS[kind], kind


def test_a_lookup_imports_only_the_module_it_needs():
    out = run_python('''
        import sys
        from scaa.registry import ENCODERS, HEADS, load_plugins
        load_plugins([])                 # what every workflow job does first
        assert "torch" not in sys.modules and "sklearn" not in sys.modules
        ENCODERS.get("spectral")         # spectral features: numpy and scipy only
        assert "torch" not in sys.modules and "sklearn" not in sys.modules
        assert "mlp" in HEADS and "logreg" in HEADS   # known without importing them
        assert "torch" not in sys.modules and "scaa.heads.mlp" not in sys.modules
        HEADS.get("logreg")
        print("torch" in sys.modules, "scaa.heads.svm" in sys.modules, "sklearn" in sys.modules)
        HEADS.get("mlp")
        print("torch" in sys.modules)
    ''')
    assert out.splitlines() == ["False False True", "True"]


def test_thread_cap_reaches_torch_imported_after_it():
    out = run_python('''
        import sys
        from scaa.threads import limit_threads
        limit_threads(1)
        assert "torch" not in sys.modules
        import torch
        print(torch.get_num_threads())
        limit_threads(1)
        print(torch.get_num_threads())
    ''')
    assert out.splitlines() == ["1", "1"]


def test_plugin_may_not_take_a_builtin_name_before_the_builtin_is_imported():
    out = run_python('''
        import sys
        from scaa.registry import HEADS, RegistryError
        assert "scaa.heads.lcnn" not in sys.modules
        try:
            HEADS.register("lcnn")(type("Impostor", (), {"__module__": "someone_else"}))
        except RegistryError as err:
            print(err)
    ''')
    assert out == "heads: 'lcnn' is already registered by scaa.heads.lcnn"


def test_a_failing_plugin_keeps_the_builtins_it_imported(tmp_path):
    (tmp_path / "imports_then_fails.py").write_text(textwrap.dedent('''
        import scaa.heads.gmm  # a built-in, imported for the first time here
        from scaa.registry import HEADS
        HEADS.register("half_registered_head")(dict)
        raise RuntimeError("broken plugin")
    '''))
    out = run_python(f'''
        import sys
        sys.path.insert(0, {str(tmp_path)!r})
        from scaa.registry import HEADS, RegistryError, load_plugins
        assert "scaa.heads.gmm" not in sys.modules
        try:
            load_plugins(["imports_then_fails"])
        except RegistryError as err:
            print("refused:", "imports_then_fails" in str(err))
        print("half_registered_head" in HEADS._entries, HEADS.get("gmm").__module__)
    ''')
    assert out.splitlines() == ["refused: True", "False scaa.heads.gmm"]

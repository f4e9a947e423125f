"""Plugin manager: entry-point discovery, error isolation, selection, conflicts, listing."""

from __future__ import annotations

import importlib.metadata
import json
import pickle
import textwrap
from pathlib import Path

import click
import pytest
from click.testing import CliRunner
from helpers import THROWAWAY, run_vautoml

from vertical_automl import DataLoader, PluginError, Vertical, hookimpl, hookspecs
from vertical_automl.plugins import InstalledPlugins

LOADER_KEYS = {"name", "description", "options", "kind", "vertical_installed"}

PLUGIN_SOURCES = {
    "acme_plugin": """
        from vertical_automl import DataLoader, Vertical, hookimpl

        def build_model(hp, info):
            raise RuntimeError("not used in these tests")

        @hookimpl
        def register_verticals(register):
            register(Vertical(name="acme", description="Acme widgets.", tasks=("binary",), build_model=build_model))

        def load(path, options, like=None):
            return None

        @hookimpl
        def register_data_loaders(register):
            register(DataLoader("acme-csv", "an .acme file", lambda p: p.suffix == ".acme", load), vertical="acme")
    """,
    "broken_plugin": """
        raise RuntimeError("boom: missing licence key")
    """,
    "typo_plugin": """
        from vertical_automl import hookimpl

        @hookimpl
        def register_vertical(register):
            pass
    """,
    "stray_plugin": """
        from vertical_automl.plugin_api import DataLoader, LoaderOption, hookimpl

        @hookimpl
        def register_data_loaders(register):
            options = (LoaderOption("sheet", "which sheet to read"),)
            for name, reads, vertical in (("xlsx", "an .xlsx workbook", "acme"), ("stray", "a .stray file", "acne")):
                register(DataLoader(name, reads, lambda p: False, lambda p, o, like: None, options), vertical=vertical)
    """,
    "crashy_plugin": """
        from vertical_automl.plugin_api import Vertical, hookimpl

        def no_data():
            return {}["licence"]

        @hookimpl
        def register_verticals(register):
            register(Vertical(name="crashy", description="", build_model=lambda hp, info: None, default_data=no_data))
    """,
    "copycat_plugin": """
        from vertical_automl import Vertical, hookimpl

        @hookimpl
        def register_verticals(register):
            register(
                Vertical(name="acme", description="Another acme.", tasks=("binary",), build_model=lambda hp, info: None)
            )
    """,
}


def install_fake_distribution(root: Path, dist: str, version: str, entry_points: dict[str, str]) -> None:
    """Write a real ``*.dist-info`` with entry_points.txt, as pip would, plus the plugin modules."""
    info = root / f"{dist.replace('-', '_')}-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
    lines = "\n".join(f"{name} = {module}" for name, module in entry_points.items())
    (info / "entry_points.txt").write_text(f"[vautoml]\n{lines}\n")
    for module in entry_points.values():
        (root / f"{module}.py").write_text(textwrap.dedent(PLUGIN_SOURCES[module]))


@pytest.fixture
def site(tmp_path, monkeypatch):
    """A temporary site-packages on sys.path with four third-party plugin distributions."""
    root = tmp_path / "site"
    install_fake_distribution(root, "acme-vautoml", "1.2.3", {"acme": "acme_plugin"})
    install_fake_distribution(root, "broken-vautoml", "0.0.1", {"broken": "broken_plugin"})
    install_fake_distribution(root, "typo-vautoml", "0.1", {"typo": "typo_plugin"})
    install_fake_distribution(root, "copycat-vautoml", "9.9", {"copycat": "copycat_plugin"})
    install_fake_distribution(root, "stray-vautoml", "0.2", {"stray": "stray_plugin"})
    install_fake_distribution(root, "crashy-vautoml", "0.3", {"crashy": "crashy_plugin"})
    monkeypatch.syspath_prepend(str(root))
    return root


def test_every_hook_is_documented():
    hooks = [name for name in dir(hookspecs) if name.startswith("register_")]
    assert sorted(hooks) == ["register_commands", "register_data_loaders", "register_verticals"]
    for name in hooks:
        assert len((getattr(hookspecs, name).__doc__ or "").strip()) > 40, name


def test_third_party_plugin_is_discovered_through_its_entry_point(site):
    plugins = InstalledPlugins({"VAUTOML_LOAD_PLUGINS": "acme"})
    record = plugins.records["acme"]
    assert (record.distribution, record.version) == ("acme-vautoml", "1.2.3")
    assert record.hooks == ["register_data_loaders", "register_verticals"]
    assert record.verticals == ["acme"] and record.errors == []
    vertical, owner = plugins.get_vertical("acme")
    assert vertical.tasks == ("binary",) and owner is record
    assert [loader.name for loader in plugins.loaders_for("acme")] == ["acme-csv"]


def test_plugin_that_raises_on_import_is_reported_and_skipped(site):
    plugins = InstalledPlugins({"VAUTOML_LOAD_PLUGINS": "acme,broken"})
    broken = plugins.records["broken"]
    assert broken.distribution == "broken-vautoml"
    assert "failed to import broken_plugin" in broken.errors[0] and "boom: missing licence key" in broken.errors[0]
    assert plugins.get_vertical("acme")[0].name == "acme"


def test_unknown_hook_name_is_rejected(site):
    plugins = InstalledPlugins({"VAUTOML_LOAD_PLUGINS": "typo"})
    assert "unknown hook(s) register_vertical" in plugins.records["typo"].errors[0]
    assert plugins.manager.get_plugin("typo") is None


def test_wrong_hook_arguments_are_rejected():
    class WrongArguments:
        @hookimpl
        def register_verticals(self, regster):
            pass

    plugins = InstalledPlugins({"VAUTOML_LOAD_PLUGINS": ""}, plugins=[("wrong", WrongArguments())])
    assert "invalid hook implementation" in plugins.records["wrong"].errors[0]


def test_hook_that_raises_keeps_its_error_and_registers_nothing():
    class Raises:
        @hookimpl
        def register_verticals(self, register):
            register(Vertical(name="half", description="", tasks=("binary",), build_model=lambda hp, info: None))
            raise ValueError("database unreachable")

    plugins = InstalledPlugins({"VAUTOML_LOAD_PLUGINS": ""}, plugins=[("raises", Raises())])
    assert plugins.records["raises"].errors == ["register_verticals failed: ValueError: database unreachable"]
    assert "half" not in plugins.verticals


def test_invalid_vertical_declaration_is_reported():
    class Invalid:
        @hookimpl
        def register_verticals(self, register):
            register(Vertical(name="Bad Name", description="", tasks=("clustering",), build_model=None))
            register("not a vertical")

    errors = InstalledPlugins({"VAUTOML_LOAD_PLUGINS": ""}, plugins=[("invalid", Invalid())]).records["invalid"].errors
    assert any("must be lowercase" in e for e in errors)
    assert any("tasks ('clustering',)" in e for e in errors)
    assert any("not callable" in e for e in errors)
    assert any("which is not a Vertical" in e for e in errors)


def test_two_plugins_claiming_one_vertical_is_an_error_naming_both(site):
    plugins = InstalledPlugins({"VAUTOML_LOAD_PLUGINS": "acme,copycat"})
    with pytest.raises(PluginError) as raised:
        plugins.get_vertical("acme")
    message = str(raised.value)
    assert "acme-vautoml" in message and "copycat-vautoml" in message
    assert "VAUTOML_DISABLE_PLUGINS=" in message
    assert InstalledPlugins(
        {"VAUTOML_LOAD_PLUGINS": "acme,copycat", "VAUTOML_DISABLE_PLUGINS": "copycat-vautoml"}
    ).get_vertical("acme")


def test_load_and_disable_variables_select_plugins(site):
    assert InstalledPlugins({"VAUTOML_LOAD_PLUGINS": ""}).records == {}
    assert set(InstalledPlugins({"VAUTOML_LOAD_PLUGINS": "acme-vautoml"}).records) == {"acme"}
    everything = set(InstalledPlugins({}).records)
    assert {"acme", "broken", "typo", "copycat", "tiny-image"} <= everything
    assert "broken" not in InstalledPlugins({"VAUTOML_DISABLE_PLUGINS": "broken"}).records


def test_unknown_vertical_lists_what_is_available(site):
    plugins = InstalledPlugins({"VAUTOML_LOAD_PLUGINS": "acme,broken"})
    with pytest.raises(
        PluginError, match=r"unknown plugin or vertical 'finanse' \(available: acme\).*broken \(broken-vautoml 0.0.1\)"
    ):
        plugins.get_vertical("finanse")


def test_selection_names_that_match_no_installed_plugin_are_reported(site):
    plugins = InstalledPlugins({"VAUTOML_LOAD_PLUGINS": "tiny-imgae,acme", "VAUTOML_DISABLE_PLUGINS": "acme-vautom"})
    rows = {row["name"]: row for row in plugins.listing()}
    assert set(rows) == {"acme", "tiny-imgae", "acme-vautom"} and rows["acme"]["errors"] == []
    assert rows["tiny-imgae"]["distribution"] == "not installed" and rows["tiny-imgae"]["verticals"] == []
    # Every installed entry point, the fake ones and the test verticals among them (and any other plugin installed).
    installed = ", ".join(sorted(point.name for point in importlib.metadata.entry_points(group="vautoml")))
    assert {"acme", "broken", "copycat", "typo", "tiny-image"} <= set(installed.split(", "))
    assert rows["tiny-imgae"]["errors"] == [
        "VAUTOML_LOAD_PLUGINS names 'tiny-imgae', which is not installed "
        f"(did you mean 'tiny-image'? installed: {installed})"
    ]
    assert rows["acme-vautom"]["errors"][0].startswith(
        "VAUTOML_DISABLE_PLUGINS names 'acme-vautom', which is not installed (did you mean 'acme-vautoml'?"
    )
    with pytest.raises(PluginError) as raised:
        plugins.get_vertical("tiny-image")
    message = str(raised.value)
    unknown = rows["tiny-imgae"]["errors"][0]
    assert message.startswith(f"unknown plugin or vertical 'tiny-image' (available: acme); {unknown}. Fix: ")
    assert "Fix: set VAUTOML_LOAD_PLUGINS to installed entry-point or distribution names" in message


def test_a_selected_in_process_plugin_is_not_reported_as_missing():
    class Nothing:
        pass

    plugins = InstalledPlugins({"VAUTOML_LOAD_PLUGINS": "mine"}, plugins=[("mine", Nothing())])
    assert {name: record.errors for name, record in plugins.records.items()} == {"mine": []}


def test_a_misspelt_load_variable_is_named_by_search_from_the_cli(tmp_path):
    env = {"VAUTOML_LOAD_PLUGINS": "tiny-imgae"}
    done = run_vautoml("search", "--plugin", "tiny-image", "--registry", str(tmp_path / "r"), env=env)
    assert done.returncode == 3
    assert "Warning: plugin tiny-imgae (not installed): VAUTOML_LOAD_PLUGINS names 'tiny-imgae'" in done.stderr
    assert (
        "Error: unknown plugin or vertical 'tiny-image' (available: none loaded); "
        "VAUTOML_LOAD_PLUGINS names 'tiny-imgae'" in done.stderr
    )


def test_register_commands_adds_a_command():
    class Commands:
        @hookimpl
        def register_commands(self, cli):
            @cli.command()
            def hello():
                click.echo("hello from a plugin")

    group = click.Group("vautoml")
    InstalledPlugins({"VAUTOML_LOAD_PLUGINS": ""}, plugins=[("commands", Commands())]).call_each(
        "register_commands", lambda record: {"cli": group}
    )
    assert CliRunner().invoke(group, ["hello"]).output == "hello from a plugin\n"


def test_extra_data_loader_for_a_vertical():
    class MoreLoaders:
        @hookimpl
        def register_data_loaders(self, register):
            register(
                DataLoader("tiff", "a .tiff stack", lambda p: p.suffix == ".tiff", lambda p, o, like=None: None),
                vertical="tiny-image",
            )

    plugins = InstalledPlugins({"VAUTOML_LOAD_PLUGINS": "tiny-image"}, plugins=[("more", MoreLoaders())])
    assert [loader.name for loader in plugins.loaders_for("tiny-image")] == ["image-folder", "npz", "hdf5", "tiff"]


def test_plugins_list_json_and_table_from_the_cli(site):
    env = {"VAUTOML_LOAD_PLUGINS": "tiny-image,acme,broken", "PYTHONPATH": str(site)}
    listed = run_vautoml("plugins", "list", "--json", env=env)
    assert listed.returncode == 0, listed.stderr
    rows = {row["name"]: row for row in json.loads(listed.stdout)}
    assert set(rows) == {"tiny-image", "acme", "broken"}
    loaders = rows["tiny-image"].pop("loaders")
    assert [loader["name"] for loader in loaders["tiny-image"]] == ["image-folder", "npz", "hdf5"]
    assert all(set(loader) == LOADER_KEYS and loader["vertical_installed"] for loader in loaders["tiny-image"])
    assert rows["acme"]["loaders"] == {
        "acme": [
            {
                "name": "acme-csv",
                "description": "an .acme file",
                "options": [],
                "kind": None,
                "vertical_installed": True,
            }
        ]
    }
    assert rows["tiny-image"] == {
        "name": "tiny-image",
        "distribution": THROWAWAY,
        "version": "0.1.0",
        "verticals": ["tiny-image"],
        "hooks": ["register_verticals"],
        "errors": [],
    }
    assert rows["acme"]["version"] == "1.2.3" and rows["acme"]["verticals"] == ["acme"]
    assert rows["broken"]["verticals"] == [] and "boom" in rows["broken"]["errors"][0]
    table = run_vautoml("plugins", "list", env=env)
    assert table.returncode == 0
    assert THROWAWAY in table.stdout and "acme-vautoml" in table.stdout and "boom" in table.stdout
    assert "data loaders" in table.stdout and "acme-csv" in table.stdout and "image-folder" in table.stdout


def test_search_warns_about_broken_plugins_but_still_runs_the_others(site, tmp_path):
    env = {"VAUTOML_LOAD_PLUGINS": "tiny-image,broken", "PYTHONPATH": str(site)}
    done = run_vautoml(
        "search",
        "--plugin",
        "tiny-image",
        "--data",
        str(tmp_path / "missing"),
        "--registry",
        str(tmp_path / "r"),
        env=env,
    )
    assert "Warning: plugin broken (broken-vautoml 0.0.1): failed to import broken_plugin" in done.stderr
    assert "Error: --data path" in done.stderr and done.returncode == 2


# -- the loaders a plugin provides --------------------------------------------


def test_a_loader_for_a_vertical_nobody_provides_is_refused_and_flagged(site):
    plugins = InstalledPlugins({"VAUTOML_LOAD_PLUGINS": "acme,stray"})
    stray = plugins.records["stray"]
    assert stray.errors == [
        "registers loader 'stray' for vertical 'acne', which no installed plugin provides (available: acme)"
    ]
    assert {loader.name for loader in plugins.loaders_for("acme")} == {"acme-csv", "xlsx"}
    assert "acne" not in plugins.extra_loaders
    listed = stray.as_dict()["loaders"]
    assert listed["acme"][0]["options"] == [{"name": "sheet", "help": "which sheet to read"}]
    assert listed["acme"][0]["vertical_installed"] is True and listed["acne"][0]["vertical_installed"] is False


def test_a_loader_with_declaration_problems_is_refused_with_them():
    from vertical_automl.plugin_api import LoaderOption

    class BadLoaders:
        @hookimpl
        def register_data_loaders(self, register):
            register(DataLoader("bad", "", "not callable", lambda p, o, like: None), vertical="tiny-image")
            register(
                DataLoader("opts", "", lambda p: False, lambda p, o, like: None, (LoaderOption("Sheet", ""),)),
                vertical="tiny-image",
            )
            register("a loader", vertical="tiny-image")

    plugins = InstalledPlugins({"VAUTOML_LOAD_PLUGINS": "tiny-image"}, plugins=[("bad", BadLoaders())])
    assert plugins.records["bad"].errors == [
        "loader 'bad' has a can_load that is not callable",
        "loader 'opts' declares option 'Sheet'; option names are lowercase letters, digits and '_'",
        "registered 'a loader' as a data loader, which is not a DataLoader",
    ]
    assert [loader.name for loader in plugins.loaders_for("tiny-image")] == ["image-folder", "npz", "hdf5"]
    assert plugins.records["bad"].loaders == []


def test_plugins_list_shows_loaders_with_their_options_and_flags_unknown_verticals(site):
    env = {"VAUTOML_LOAD_PLUGINS": "acme,stray", "PYTHONPATH": str(site)}
    listed = run_vautoml("plugins", "list", "--json", env=env)
    assert listed.returncode == 0, listed.stderr
    stray = next(row for row in json.loads(listed.stdout) if row["name"] == "stray")
    assert stray["loaders"]["acne"] == [
        {
            "name": "stray",
            "description": "a .stray file",
            "options": [{"name": "sheet", "help": "which sheet to read"}],
            "kind": None,
            "vertical_installed": False,
        }
    ]
    table = run_vautoml("plugins", "list", env=env)
    assert table.returncode == 0, table.stderr
    assert "acne (no such vertical)" in table.stdout and "-O sheet: which sheet to read" in table.stdout
    assert "registers loader 'stray' for" in table.stdout  # the error, in the status column


# -- declared data options ------------------------------------------------------


def option_plugins(tmp_path):
    """An in-process vertical with a loader that takes ``sheet`` and one that takes no options."""
    import numpy as np

    from vertical_automl.plugin_api import LabeledData, LoaderOption

    seen = []

    def load(path, options, like=None):
        seen.append(dict(options))
        return LabeledData(np.zeros((4, 2), "float32"), np.array([0, 1, 0, 1]), ("a", "b"), {}, str(path))

    vertical = Vertical(
        name="sheets",
        description="",
        build_model=lambda hp, info: None,
        loaders=(
            DataLoader("xlsx", "an .xlsx file", lambda p: p.suffix == ".xlsx", load, (LoaderOption("sheet", "a"),)),
            DataLoader("raw", "a .raw file", lambda p: p.suffix == ".raw", load),
        ),
    )
    from helpers import plugins_with

    for name in ("book.xlsx", "dump.raw"):
        (tmp_path / name).write_text("x")
    return plugins_with(vertical), vertical, seen


def test_undeclared_data_options_are_refused_before_the_loader_runs(tmp_path):
    from vertical_automl.errors import DataError
    from vertical_automl.loading import load_source

    plugins, vertical, seen = option_plugins(tmp_path)
    vertical = plugins.get_vertical("sheets")[0]
    assert len(load_source(plugins, vertical, tmp_path / "book.xlsx", {"sheet": "2"})) == 4
    assert seen == [{"sheet": "2"}]
    with pytest.raises(DataError) as raised:
        load_source(plugins, vertical, tmp_path / "book.xlsx", {"sheet": "2", "sheat": "3", "header": "false"})
    assert str(raised.value) == (
        "unknown data option(s) sheat, header (--no-header) for the 'xlsx' loader of the sheets vertical "
        f"({tmp_path / 'book.xlsx'}). Fix: use only: sheet (see vautoml plugins list)"
    )
    like = load_source(plugins, vertical, tmp_path / "book.xlsx", {})
    with pytest.raises(DataError, match=r"unknown data option\(s\) target_column \(--target-column\) for the 'raw'"):
        load_source(plugins, vertical, tmp_path / "dump.raw", {"target_column": "y"}, like=like)
    with pytest.raises(DataError, match="Fix: this loader takes no data options"):
        load_source(plugins, vertical, tmp_path / "dump.raw", {"sheet": "1"})
    assert seen == [{"sheet": "2"}, {}]


def test_a_flag_the_loader_does_not_take_is_named_from_the_cli(tmp_path):
    import numpy as np

    np.savez(tmp_path / "digits.npz", x=np.zeros((40, 8, 8), "float32"), y=np.arange(40) % 2)
    done = run_vautoml(
        "search", "--plugin", "tiny-image", "--data", str(tmp_path / "digits.npz"), "--no-header",
        "--registry", str(tmp_path / "r"),
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in done.stderr
    assert lines[0].startswith(
        "Error: unknown data option(s) header (--no-header) for the 'npz' loader of the tiny-image vertical ("
    )


# -- crashes in plugin code -----------------------------------------------------


def test_a_crash_in_plugin_code_names_the_plugin_and_the_function(tmp_path):
    from vertical_automl.errors import DataError
    from vertical_automl.plugin_api import InputKind
    from vertical_automl.plugin_calls import CRASH_FIX, PluginCrash

    def read(raw, spec):
        raise IndexError("row 3 has no pixels")

    def load(path, options, like=None):
        if path.name == "bad.dat":
            raise DataError("bad.dat is empty", "give a file with rows")
        raise ValueError("unsupported dialect")

    kind = InputKind("dat", "rows of a .dat file", read=read)
    loader = DataLoader("dat", "a .dat file", lambda p: p.suffix == ".dat", load, kind=kind)

    def interrupted():
        raise KeyboardInterrupt

    vertical = Vertical(
        name="dats", description="", build_model=lambda hp, info: None, loaders=(loader,), default_data=interrupted
    )

    class Dats:
        @hookimpl
        def register_verticals(self, register):
            register(vertical)

    class Extra:
        @hookimpl
        def register_data_loaders(self, register):
            register(DataLoader("odd", "an .odd file", lambda p: 1 / 0, load), vertical="dats")

    plugins = InstalledPlugins({"VAUTOML_LOAD_PLUGINS": ""}, plugins=[("dats", Dats()), ("extra", Extra())])
    guarded, record = plugins.get_vertical("dats")
    assert guarded.loaders[0].kind == plugins.input_kinds["dat"][0]  # one guarded kind, however it is reached
    with pytest.raises(PluginCrash) as raised:
        guarded.loaders[0].load(tmp_path / "x.dat", {}, None)
    assert str(raised.value) == (
        f"dats (unpackaged 0): load of the 'dat' loader failed: ValueError: unsupported dialect. Fix: {CRASH_FIX}"
    )
    assert isinstance(raised.value, PluginError) and isinstance(raised.value.__cause__, ValueError)
    assert str(pickle.loads(pickle.dumps(raised.value))) == str(raised.value)
    with pytest.raises(DataError, match="bad.dat is empty"):  # a deliberate error passes through as it is
        guarded.loaders[0].load(tmp_path / "bad.dat", {}, None)
    with pytest.raises(KeyboardInterrupt):
        guarded.default_data()
    with pytest.raises(PluginCrash, match=r"^dats \(unpackaged 0\): read of the 'dat' input kind failed: IndexError"):
        plugins.input_kinds["dat"][0].read([1], {})
    odd = plugins.loaders_for("dats")[1]
    with pytest.raises(PluginCrash, match=r"^extra \(unpackaged 0\): can_load of the 'odd' loader failed"):
        odd.can_load(tmp_path / "y.odd")
    assert record.errors == [] and plugins.records["extra"].errors == []


def test_a_crash_is_one_line_from_the_cli_and_a_chained_traceback_with_debug(site, tmp_path):
    env = {"VAUTOML_LOAD_PLUGINS": "crashy", "PYTHONPATH": str(site)}
    arguments = ("search", "--plugin", "crashy", "--registry", str(tmp_path / "r"))
    done = run_vautoml(*arguments, env=env)
    assert done.returncode == 3 and "Traceback" not in done.stderr
    assert done.stderr.strip() == (
        "Error: crashy (crashy-vautoml 0.3): default_data of the 'crashy' vertical failed: KeyError: 'licence'. "
        "Fix: this is a bug in the plugin: report it to its authors; --debug shows the traceback"
    )
    debug = run_vautoml("--debug", *arguments, env=env)
    assert debug.returncode != 0
    assert "KeyError: 'licence'" in debug.stderr and "direct cause of the following exception" in debug.stderr
    assert 'crashy_plugin.py", line' in debug.stderr


def test_a_crash_in_a_plugins_encoder_names_its_class_and_method(tmp_path):
    import numpy as np
    from helpers import plugins_with

    from vertical_automl.pipeline import search
    from vertical_automl.plugin_api import DataLoader, Encoder, InputKind, LabeledData
    from vertical_automl.plugin_calls import PluginCrash

    class Scaler(Encoder):
        def fit(self, x):
            return self

        def transform(self, x):
            return np.asarray(x, "float32") / x.attrs["scale"]  # an ndarray has no attrs: the bug

        def spec(self):
            return {}

        @classmethod
        def from_spec(cls, spec):
            return cls()

    kind = InputKind("scaled-rows", "rows scaled by a buggy encoder", encoder=Scaler)

    def rows():
        x = np.arange(80, dtype="float32").reshape(40, 2)
        return LabeledData(x, np.arange(40) % 2, ("a", "b"), {"kind": kind.name}, "rows", encoder=Scaler())

    declares = DataLoader("rows", "never reads a file", lambda path: False, lambda *args: None, kind=kind)
    vertical = Vertical(
        name="scaled", description="", build_model=lambda hp, info: None, default_data=rows, loaders=(declares,)
    )
    with pytest.raises(PluginCrash) as raised:
        search("scaled", plugins=plugins_with(vertical), registry=tmp_path / "r")
    assert str(raised.value).startswith(
        f"the encoder {Scaler.__module__}.{Scaler.__qualname__}: transform failed: "
        "AttributeError: 'numpy.ndarray' object has no attribute 'attrs'. Fix: this is a bug"
    )
    assert isinstance(raised.value.__cause__, AttributeError)

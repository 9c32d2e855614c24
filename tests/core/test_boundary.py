"""The boundary between the headless core and the napari adapters, checked mechanically.

The core is every public module of the package (``src/napari_dicomseries/*.py`` without a leading underscore,
found automatically, so a new module is covered the day it is added) plus the CLI commands. It must

* not load napari, Qt, magicgui, vispy or npe2 when imported (checked in a fresh interpreter, so what other
  tests imported does not hide anything, and indirect imports count);
* not import an adapter module (``_reader``, ``_writer``, ``_sample_data``, ``_widgets``) at all, not even inside
  a function, and only the CLI may import the commands (checked on the source, every ``import`` statement).
"""

from __future__ import annotations

import ast
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

import napari_dicomseries

PACKAGE = napari_dicomseries.__name__
PACKAGE_DIR = Path(napari_dicomseries.__file__).parent
#: Top-level packages the core must never load (napari's side of the plugin).
GUI_PACKAGES = ("napari", "qtpy", "PyQt5", "PyQt6", "PySide2", "PySide6", "magicgui", "vispy", "npe2")
#: The napari adapters: only napari (through napari.yaml) and each other import them.
ADAPTERS = ("_reader", "_writer", "_sample_data", "_widgets")
#: Heavy libraries that ``import napari_dicomseries`` and ``napari-dicomseries --version`` should not load (issue 13, item 8).
HEAVY_PACKAGES = ("pydicom", "SimpleITK", "dask", "scipy")


def core_modules() -> list[str]:
    """Dotted names of the core: the package, and every module and sub-package without a leading underscore in its
    path (``commands`` apart: see :func:`command_modules`)."""
    found = []
    for path in PACKAGE_DIR.rglob("*.py"):
        parts = path.relative_to(PACKAGE_DIR).with_suffix("").parts
        if parts[0] == "commands" or any(part.startswith("_") for part in parts if part != "__init__"):
            continue
        found.append(".".join((PACKAGE, *(part for part in parts if part != "__init__"))))
    return sorted(found)


def command_modules() -> list[str]:
    """Dotted names of every module of the ``commands`` package (the CLI commands and their helpers)."""
    return sorted(f"{PACKAGE}.commands.{p.stem}" for p in (PACKAGE_DIR / "commands").glob("*.py") if p.stem != "__init__")


def source_file(module: str) -> Path:
    """The file of a dotted module name of the package."""
    parts = module.split(".")[1:]
    path = PACKAGE_DIR.joinpath(*parts)
    return path / "__init__.py" if path.is_dir() else path.with_suffix(".py")


def imported_modules(source: str, module: str, is_package: bool = False) -> set[str]:
    """Every module name an ``import`` statement of ``source`` (the text of ``module``) may load, anywhere in it.

    ``from .x import y`` yields both ``pkg.x`` and ``pkg.x.y`` (``y`` may be a sub-module), relative imports are
    resolved against ``module``.
    """
    package = module if is_package else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base_parts = package.split(".")
                base = ".".join(base_parts[: len(base_parts) - (node.level - 1)])
                target = f"{base}.{node.module}" if node.module else base
            else:
                target = node.module or ""
            found.add(target)
            found.update(f"{target}.{alias.name}" for alias in node.names if alias.name != "*")
    return found


def adapter_imports(module: str) -> list[str]:
    """The adapter (and, outside the CLI, command) modules that ``module``'s source imports."""
    path = source_file(module)
    names = imported_modules(path.read_text(encoding="utf-8"), module, is_package=path.name == "__init__.py")
    banned = ADAPTERS if module in (f"{PACKAGE}.cli",) or module.startswith(f"{PACKAGE}.commands") else (*ADAPTERS, "commands")
    out = []
    for name in sorted(names):
        parts = name.split(".")
        if parts[0] == PACKAGE and len(parts) > 1 and parts[1] in banned:
            out.append(name)
    return out


# ----------------------------------------------------------------------------- the checker checks


def test_discovery_finds_the_core_and_the_commands() -> None:
    assert PACKAGE in core_modules()
    core = {m.rpartition(".")[2] for m in core_modules()}
    assert {"scan", "volume", "load", "classify", "compare", "metrics", "export", "cli", "errors"} <= core, core
    assert not core & set(ADAPTERS)
    commands = {m.rpartition(".")[2] for m in command_modules()}
    assert {"ls", "inspect", "tags", "diff", "compare", "export", "demo"} <= commands, commands


@pytest.mark.parametrize(
    ("source", "module", "expected"),
    [
        ("from ._reader import read_volumes", f"{PACKAGE}.scan", {f"{PACKAGE}._reader", f"{PACKAGE}._reader.read_volumes"}),
        ("from . import _widgets", f"{PACKAGE}.load", {PACKAGE, f"{PACKAGE}._widgets"}),
        (
            "def f():\n    from .._sample_data import x",
            f"{PACKAGE}.commands.demo",
            {f"{PACKAGE}._sample_data", f"{PACKAGE}._sample_data.x"},
        ),
        ("import napari_dicomseries._writer as w", f"{PACKAGE}.export", {f"{PACKAGE}._writer"}),
        ("from .commands import ls", f"{PACKAGE}.cli", {f"{PACKAGE}.commands", f"{PACKAGE}.commands.ls"}),
        ("from .scan import scan", PACKAGE, {f"{PACKAGE}.scan", f"{PACKAGE}.scan.scan"}),
    ],
)
def test_import_resolver(source: str, module: str, expected: set[str]) -> None:
    """The AST check sees relative, absolute and function-level imports (else the contract below could not fail)."""
    is_package = module == PACKAGE
    assert imported_modules(source, module, is_package=is_package) == expected


# ----------------------------------------------------------------------------- the contract


@pytest.mark.parametrize("module", [*core_modules(), *command_modules(), f"{PACKAGE}.commands"])
def test_core_imports_no_adapter(module: str) -> None:
    """No core module or command imports a napari adapter; only the CLI imports the commands."""
    assert adapter_imports(module) == [], f"{source_file(module)} imports {adapter_imports(module)}"


#: Imports every module given in argv order in a fresh interpreter and reports, per module, the watched
#: top-level packages that importing it loaded first.
_PROBE = """
import importlib, json, sys
watched = set(sys.argv[1].split(","))
seen = lambda: {m.split(".")[0] for m in list(sys.modules)} & watched
first = {}
before = seen()
for name in sys.argv[2:]:
    if name == "--version":
        from napari_dicomseries.cli import main
        try:
            main(["--version"])
        except SystemExit:
            pass
    else:
        importlib.import_module(name)
    now = seen()
    if now - before:
        first[name] = sorted(now - before)
    before = now
print(json.dumps(first))
"""


def _probe(watched: tuple[str, ...], steps: list[str]) -> dict[str, list[str]]:
    r = subprocess.run([sys.executable, "-c", _PROBE, ",".join(watched), *steps], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    culprits: dict[str, list[str]] = json.loads(r.stdout.strip().splitlines()[-1])
    return culprits


def test_core_and_cli_load_no_gui() -> None:
    """Importing the package, every core module and every command, and building the CLI, loads no GUI package."""
    steps = [PACKAGE, *core_modules(), f"{PACKAGE}.commands", *command_modules(), "--version"]
    culprits = _probe(GUI_PACKAGES, steps)
    assert culprits == {}, f"these imports loaded GUI packages: {culprits}"


def test_probe_sees_gui_imports() -> None:
    """The probe names the step that loaded a watched package, and only that step."""
    if importlib.util.find_spec("magicgui") is None:  # not importorskip: this process (the core tier) stays GUI-free
        pytest.skip("magicgui is not installed")
    assert _probe(("magicgui",), [PACKAGE, "json", "magicgui"]) == {"magicgui": ["magicgui"]}


def test_import_and_version_load_no_heavy_library() -> None:
    """``import napari_dicomseries`` and ``napari-dicomseries --version`` load no pydicom, SimpleITK, dask or scipy."""
    culprits = _probe(HEAVY_PACKAGES, [PACKAGE, "--version"])
    assert culprits == {}, f"these steps loaded heavy libraries: {culprits}"


def test_cli_imports_only_the_command_it_runs() -> None:
    """``--version`` imports no command module and ``COMMAND --help`` only that command's (issue 13, item 8), while
    the top-level ``--help`` still lists every command."""
    code = """
import json, sys
from contextlib import redirect_stdout
from io import StringIO
from napari_dicomseries.cli import main
out = {}
for argv in (["--version"], ["inspect", "--help"], ["--help"]):
    text = StringIO()
    try:
        with redirect_stdout(text):
            main(argv)
    except SystemExit:
        pass
    loaded = sorted(m.rpartition(".")[2] for m in sys.modules if m.startswith("napari_dicomseries.commands."))
    out[" ".join(argv)] = {"loaded": loaded, "stdout": text.getvalue()}
print(json.dumps(out))
"""
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    runs = json.loads(r.stdout.strip().splitlines()[-1])
    assert runs["--version"]["loaded"] == [] and runs["--version"]["stdout"].startswith("napari-dicomseries ")
    assert "inspect" in runs["inspect --help"]["loaded"]
    assert not {"ls", "tags", "diff", "compare", "export", "demo"} & set(runs["inspect --help"]["loaded"])
    commands = {m.rpartition(".")[2] for m in command_modules() if not m.rpartition(".")[2].startswith("_")}
    assert commands <= set(runs["--help"]["loaded"])
    assert all(f"    {c} " in runs["--help"]["stdout"] for c in commands), runs["--help"]["stdout"]

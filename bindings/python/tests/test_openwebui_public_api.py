"""The Open WebUI glue (bindings/python/openwebui/, installed as
libsandbox.openwebui) uses only libsandbox's public API: `import libsandbox`
and its public names, never libsandbox._core or another private module."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import libsandbox

GLUE_DIR = Path(__file__).resolve().parents[1] / "openwebui"


def private_uses(source: str, public: set[str]) -> list[str]:
    """What `source` uses of libsandbox beyond its public names."""
    found: list[str] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [a.name for a in node.names if a.name.startswith("libsandbox.")]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module.startswith("libsandbox."):
                found.append(node.module)
            elif node.module == "libsandbox":
                found += [f"libsandbox.{a.name}" for a in node.names if a.name not in public]
        elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            if node.value.id == "libsandbox" and node.attr not in public:
                found.append(f"libsandbox.{node.attr}")
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            # importlib.import_module("libsandbox._core") and the like.
            if node.value.startswith("libsandbox._"):
                found.append(node.value)
    return found


def test_the_checker_catches_private_uses() -> None:
    public = set(libsandbox.__all__)
    for bad in (
        "import libsandbox._core",
        "from libsandbox._api import _result",
        "from libsandbox import _core",
        "import libsandbox\nlibsandbox._core.run({})",
        "import importlib\nimportlib.import_module('libsandbox._session')",
    ):
        assert private_uses(bad, public), bad
    assert not private_uses("import libsandbox\nlibsandbox.run('1')\nfrom . import _runs", public)


def test_glue_uses_only_the_public_api() -> None:
    public = set(libsandbox.__all__)
    files = sorted(GLUE_DIR.glob("*.py"))
    assert files, GLUE_DIR
    for path in files:
        assert private_uses(path.read_text(), public) == [], path.name


def test_glue_is_installed_as_libsandbox_openwebui() -> None:
    try:
        openwebui = importlib.import_module("libsandbox.openwebui")
    except ImportError as e:  # pydantic is optional for the core package
        assert "pydantic" in str(e)
        return
    # Installed (a copy in the wheel) or linked (the build tree): the glue's own files.
    installed = Path(openwebui.__file__).resolve().parent
    sources = sorted(p.name for p in GLUE_DIR.glob("*.py"))
    assert sorted(p.name for p in installed.glob("*.py")) == sources
    for name in sources:
        assert (installed / name).read_bytes() == (GLUE_DIR / name).read_bytes(), name
    for name in openwebui.__all__:
        assert hasattr(openwebui, name), name

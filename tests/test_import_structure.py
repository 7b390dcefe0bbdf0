"""Import structure: the config is in no import cycle, eval/ stays below training, Ray stays
in trainables/ and launch.py.

The graph is read with ``ast`` from every ``import`` and ``from ... import`` statement of a
module, wherever it stands (top level, inside a function, under ``if TYPE_CHECKING:``): a
function-level import only postpones a dependency, and a type-checking one still couples
the two modules. Nothing is imported, so the test is fast and cannot be fooled by import
order. An edge goes to the module named; ``from pkg import name`` goes to ``pkg.name`` when
that is a module, else to ``pkg``.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("ssl_core", "trainables", "search_spaces")
SCRIPTS = ("launch.py",)
CONFIG = ("ssl_core.config", "ssl_core.config_checks")

Graph = dict[str, set[str]]


def module_files(root: Path, packages: tuple[str, ...] = PACKAGES,
                 scripts: tuple[str, ...] = SCRIPTS) -> dict[str, Path]:
    """Dotted module name -> file, for every ``.py`` of ``packages`` and each top-level script."""
    files = {}
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            parts = path.relative_to(root).with_suffix("").parts
            files[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    for script in scripts:
        files[Path(script).stem] = root / script
    return files


def imported_modules(name: str, path: Path, known: set[str]) -> set[str]:
    """Absolute names of what module ``name`` (file ``path``) imports, internal or not."""
    # A package's relative imports start from itself; a module's from its package.
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = ".".join(package[: len(package) - node.level + 1] + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            for alias in node.names:
                found.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base)
    return found


def import_graph(files: dict[str, Path]) -> tuple[Graph, Graph]:
    """(internal edges, every imported name) per module; self-imports are dropped."""
    known = set(files)
    everything = {name: imported_modules(name, path, known) - {name} for name, path in files.items()}
    return {name: targets & known for name, targets in everything.items()}, everything


def with_package_edges(graph: Graph) -> Graph:
    """Also an edge to each package above a target: importing ``a.b.c`` runs ``a/b/__init__.py``."""
    out = {}
    for name, targets in graph.items():
        parents = {".".join(t.split(".")[:i]) for t in targets for i in range(1, t.count(".") + 1)}
        out[name] = (targets | (parents & set(graph))) - {name}
    return out


def cycles(graph: Graph) -> list[list[str]]:
    """The import cycles: strongly connected components of more than one module (Tarjan).

    Recursive: its depth is at most the number of modules (about 150), well inside Python's
    default limit, which is left alone (test_config relies on it to make PyYAML overflow).
    """
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in sorted(graph[node]):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(found)


@pytest.fixture(scope="module")
def graphs() -> tuple[Graph, Graph]:
    return import_graph(module_files(REPO))


def test_builder_reads_every_kind_of_import(tmp_path: Path) -> None:
    """Relative, function-level, TYPE_CHECKING and ``from pkg import module`` imports are edges."""
    files = {
        "pkg/__init__.py": "from pkg.helpers import helper\n",
        "pkg/helpers.py": "def helper():\n    from . import a\n",
        "pkg/a.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg.sub.c import C\n"
                    "from .sub import b\nfrom pkg import helper\nimport os.path\n",
        "pkg/sub/__init__.py": "",
        "pkg/sub/b.py": "from ..a import x\n",
        "pkg/sub/c.py": "from . import b\nfrom .. import helpers\n",
    }
    for rel, text in files.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text)
    internal, everything = import_graph(module_files(tmp_path, ("pkg",), ()))
    assert internal == {
        "pkg": {"pkg.helpers"},
        "pkg.helpers": {"pkg.a"},
        "pkg.a": {"pkg.sub.c", "pkg.sub.b", "pkg"},
        "pkg.sub": set(),
        "pkg.sub.b": {"pkg.a"},
        "pkg.sub.c": {"pkg.sub.b", "pkg.helpers"},
    }
    assert {"typing", "os.path"} <= everything["pkg.a"]
    assert cycles(internal) == [["pkg", "pkg.a", "pkg.helpers", "pkg.sub.b", "pkg.sub.c"]]
    assert cycles({"x": {"y"}, "y": set()}) == []


def test_graph_sees_the_repository(graphs: tuple[Graph, Graph]) -> None:
    """Known edges, so that the tests below cannot pass on an empty or misread graph."""
    internal, _ = graphs
    assert len(internal) > 50
    assert "ssl_core.config" in internal["ssl_core.trainer"]
    assert "ssl_core.config_checks" in internal["ssl_core.config"]  # inside Config.validate
    assert "ssl_core.methods" in internal["ssl_core.config_checks"]  # inside _check_method


@pytest.mark.parametrize("package_edges", [False, True], ids=["named", "with-packages"])
def test_config_is_in_no_import_cycle(graphs: tuple[Graph, Graph], package_edges: bool) -> None:
    """Also counting the package ``__init__`` each import runs (``with-packages``): those add
    harmless cycles inside packages that re-export their modules, but none through the config."""
    internal, _ = graphs
    found = cycles(with_package_edges(internal) if package_edges else internal)
    through_config = [c for c in found if set(CONFIG) & set(c)]
    assert not through_config, f"import cycles through the config: {through_config}; all cycles: {found}"


FORBIDDEN_IN_EVAL = ("ssl_core.data_pipeline", "ssl_core.trainer", "ssl_core.eval_runner")


def _training_module(name: str) -> bool:
    return name in FORBIDDEN_IN_EVAL or name == "ssl_core.methods" or name.startswith("ssl_core.methods.")


def test_eval_does_not_import_training(graphs: tuple[Graph, Graph]) -> None:
    """``ssl_core.eval`` measures embeddings; it must not reach back into what trains them."""
    internal, _ = graphs
    bad = {name: sorted(filter(_training_module, targets)) for name, targets in internal.items()
           if name == "ssl_core.eval" or name.startswith("ssl_core.eval.")}
    assert {name: targets for name, targets in bad.items() if targets} == {}


def test_ray_is_imported_only_by_trainables_and_launch(graphs: tuple[Graph, Graph]) -> None:
    """ssl_core and search_spaces run without Ray (a standalone run, a space check)."""
    _, everything = graphs
    users = sorted(name for name, targets in everything.items()
                   if any(t == "ray" or t.startswith("ray.") for t in targets))
    assert users, "no module imports ray: the graph missed trainables/"
    assert [u for u in users if not (u == "launch" or u == "trainables" or u.startswith("trainables."))] == []

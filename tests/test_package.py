"""The package's shape: its layers are folders, imports flow down the layers, and a function-local import says
why it is local."""

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

import kmnist_utils
from kmnist_utils.engine.seeding import derived_seed

PACKAGE = Path(kmnist_utils.__file__).parent
MODULES = sorted(p for p in PACKAGE.rglob("*.py") if p.stem != "__init__")
# The layers, each with the layers it may import at run time (docs/architecture.md): the engine knows nothing
# of chapters, statistics or products; chapters never reach the pipeline; the pipeline may use everything.
BASE = "settings and references"
MAY_IMPORT = {
    BASE: {BASE},
    "core": {BASE, "core"},
    "engine": {BASE, "core", "engine"},
    "stats": {BASE, "core", "stats"},
    "products": {BASE, "core", "stats", "products"},
    "chapters": {BASE, "core", "engine", "stats", "products", "chapters"},
    "pipeline": {BASE, "core", "engine", "stats", "products", "chapters", "pipeline"},
}
# What a reader of the settings, the statistics or the report's tables loads: never the training stack.
TORCH_FREE = ["kmnist_utils.settings", "kmnist_utils.references", "kmnist_utils.core.data", "kmnist_utils.core.paths",
              "kmnist_utils.core.machine", "kmnist_utils.core.records", "kmnist_utils.stats.metrics",
              "kmnist_utils.stats.findings", "kmnist_utils.stats.selection", "kmnist_utils.stats.parity",
              "kmnist_utils.stats.curves", "kmnist_utils.products.results", "kmnist_utils.products.provenance",
              "kmnist_utils.chapters.anchors", "kmnist_utils.chapters.summary", "kmnist_utils.pipeline.readme"]


def module_name(path: Path) -> str:
    return ".".join(path.relative_to(PACKAGE).with_suffix("").parts)


def layer_of(module: str) -> str:
    return module.split(".")[0] if "." in module else BASE


def type_only(tree: ast.AST) -> set[ast.AST]:
    """Imports under ``if TYPE_CHECKING:``: annotations, never run."""
    return {node for block in ast.walk(tree) if isinstance(block, ast.If)
            and getattr(block.test, "id", None) == "TYPE_CHECKING" for node in ast.walk(block)}


def imported_modules(tree: ast.AST) -> set[str]:
    """The package modules ``tree`` imports at run time, as dotted names below ``kmnist_utils``."""
    found, skipped = set(), type_only(tree)
    for node in ast.walk(tree):
        if node in skipped:
            continue
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("kmnist_utils"):
            package = node.module[len("kmnist_utils"):].lstrip(".")
            for alias in node.names:
                dotted = f"{package}.{alias.name}" if package else alias.name
                found.add(dotted if (PACKAGE / (dotted.replace(".", "/") + ".py")).exists() else package)
        elif isinstance(node, ast.Import):
            found |= {a.name[len("kmnist_utils."):] for a in node.names if a.name.startswith("kmnist_utils.")}
    return found - {""}


def import_graph() -> dict[str, set[str]]:
    return {module_name(p): imported_modules(ast.parse(p.read_text(encoding="utf-8"))) - {module_name(p)}
            for p in MODULES}


def upward_imports(graph: dict[str, set[str]]) -> list[str]:
    return sorted(f"{module} -> {dep}" for module, deps in graph.items() for dep in deps
                  if layer_of(dep) not in MAY_IMPORT[layer_of(module)])


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, str] = {}

    def visit(node: str, path: list[str]) -> list[str] | None:
        state[node] = "open"
        for dep in sorted(graph.get(node, ())):
            if state.get(dep) == "open":
                return path[path.index(dep):] + [dep]
            if dep not in state and (cycle := visit(dep, path + [dep])):
                return cycle
        state[node] = "done"
        return None

    for start in sorted(graph):
        if start not in state and (cycle := visit(start, [start])):
            return cycle
    return None


def test_cycle_finder_finds_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_imports_flow_one_way():
    assert find_cycle(import_graph()) is None


def test_every_module_sits_in_a_layer_folder():
    assert {layer_of(m) for m in import_graph()} == set(MAY_IMPORT)
    assert {module_name(p) for p in PACKAGE.glob("*.py")} - {"__init__"} == {"settings", "references"}


def test_layers_import_only_the_layers_below():
    assert upward_imports(import_graph()) == []


def test_the_layer_check_finds_an_upward_import():
    graph = {"engine.runner": {"chapters.cnns", "core.data"}, "products.plots": {"engine.context"},
             "chapters.cnns": {"engine.runner", "products.plots"}, "settings": set()}
    assert upward_imports(graph) == ["engine.runner -> chapters.cnns", "products.plots -> engine.context"]


def test_type_only_imports_do_not_count():
    tree = ast.parse("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from kmnist_utils.engine.context "
                     "import RunContext\nfrom kmnist_utils.core import paths\n")
    assert imported_modules(tree) == {"core.paths"}


def test_settings_statistics_and_the_report_tables_load_no_torch():
    code = (f"import sys; import {', '.join(TORCH_FREE)}; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] == 'torch'))")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert loaded == "[]"


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.name)
def test_local_imports_say_why(path):
    # A function-local import is allowed only to spare an import cost, and its line says so.
    lines = path.read_text(encoding="utf-8").splitlines()
    tree = ast.parse("\n".join(lines))
    bare = []
    for func in (n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))):
        for node in ast.walk(func):
            if isinstance(node, (ast.Import, ast.ImportFrom)) and "#" not in lines[node.lineno - 1]:
                bare.append(f"{path.name}:{node.lineno}")
    assert not bare, f"function-local imports without a comment saying why: {bare}"


def test_derived_seeds_are_distinct_and_checked():
    seeds = {derived_seed(base, index) for base in range(20) for index in range(1000)}
    assert len(seeds) == 20 * 1000
    with pytest.raises(ValueError, match="non-negative"):
        derived_seed(-1, 0)


def test_only_the_context_reads_the_environment():
    # Every setting a run depends on is read once, by context.setup, into the run context (and so into the
    # provenance of every table); a module that read $KMNIST_* itself would be a setting no table records.
    # The pipeline's kernel module writes the environment its kernels start with.
    reads = re.compile(r"os\.environ\b|os\.getenv\b|environ\.get\b")
    offenders = {module_name(path): [n for n, line in enumerate(path.read_text().splitlines(), 1) if reads.search(line)]
                 for path in MODULES if module_name(path) not in {"engine.context", "pipeline.kernel"}}
    assert not {name: lines for name, lines in offenders.items() if lines}, "read the environment in context.setup"


def test_the_package_docstring_names_every_module_and_no_other():
    named = set(re.findall(r"``(\w+)``", kmnist_utils.__doc__)) - set(MAY_IMPORT)
    modules = {p.stem for p in MODULES}
    assert named == modules, f"unnamed: {sorted(modules - named)}; gone: {sorted(named - modules)}"

"""The package's shape: imports flow one way, and a function-local import says why it is local."""

import ast
import re
from pathlib import Path

import pytest

import kmnist_utils
from kmnist_utils.seeding import derived_seed

PACKAGE = Path(kmnist_utils.__file__).parent
MODULES = sorted(p for p in PACKAGE.glob("*.py") if p.stem != "__init__")


def imported_modules(tree: ast.AST) -> set[str]:
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("kmnist_utils"):
            if node.module == "kmnist_utils":
                found |= {alias.name for alias in node.names}
            else:
                found.add(node.module.split(".")[1])
        elif isinstance(node, ast.Import):
            found |= {a.name.split(".")[1] for a in node.names if a.name.startswith("kmnist_utils.")}
    return found


def import_graph() -> dict[str, set[str]]:
    return {p.stem: imported_modules(ast.parse(p.read_text(encoding="utf-8"))) - {p.stem} for p in MODULES}


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


def test_only_config_reads_the_environment():
    # Every setting a run depends on is read once, by config.setup, into the run context (and so into the
    # provenance of every table); a module that read $KMNIST_* itself would be a setting no table records.
    import re

    from kmnist_utils.paths import PROJECT_ROOT

    reads = re.compile(r"os\.environ\b|os\.getenv\b|environ\.get\b")
    offenders = {path.name: [n for n, line in enumerate(path.read_text().splitlines(), 1) if reads.search(line)]
                 for path in sorted((PROJECT_ROOT / "kmnist_utils").glob("*.py")) if path.name != "config.py"}
    assert not {name: lines for name, lines in offenders.items() if lines}, "read the environment in config.setup"


def test_the_package_docstring_names_every_module_and_no_other():
    named = set(re.findall(r"``(\w+)``", kmnist_utils.__doc__))
    modules = {p.stem for p in Path(kmnist_utils.__file__).parent.glob("*.py")} - {"__init__"}
    assert named == modules, f"unnamed: {sorted(modules - named)}; gone: {sorted(named - modules)}"

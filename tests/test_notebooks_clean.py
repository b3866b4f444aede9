"""Source notebooks stay clean so that diffs are readable and nbval compares only what it should."""

import pytest
from nbformat.v4 import new_code_cell, new_notebook, new_output

from kmnist_utils.core.paths import NOTEBOOKS_DIR
from kmnist_utils.pipeline import nbtools

SOURCES = sorted(NOTEBOOKS_DIR.glob("[0-9][0-9]_*.ipynb"))


def test_there_are_notebooks():
    assert SOURCES, f"no numbered notebooks in {NOTEBOOKS_DIR}"


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: p.name)
def test_source_notebook_is_clean(path):
    assert nbtools.problems(nbtools.read(path)) == [], f"run: python -m kmnist_utils.pipeline.nbtools strip {path}"


def test_strip_keeps_only_checked_outputs():
    nb = new_notebook()
    params = new_code_cell("profile = None", metadata={"tags": ["parameters"]})
    noisy = new_code_cell("print(1)", execution_count=3, outputs=[new_output("stream", text="1\n")])
    noisy.metadata["papermill"] = {"duration": 1.0}
    checked = new_code_cell("print(2)", execution_count=4, outputs=[new_output("stream", text="2\n")])
    checked.metadata["tags"] = [nbtools.CHECK_TAG]
    nb.cells = [params, noisy, checked]
    nb.metadata["papermill"] = {"parameters": {}}
    assert len(nbtools.problems(nb)) == 4
    clean = nbtools.strip_notebook(nb)
    assert nbtools.problems(clean) == []
    assert clean.cells[1].outputs == [] and clean.cells[2].outputs[0]["text"] == "2\n"


def code_lines(path) -> int:
    """Non-blank source lines of a notebook's code cells that are neither comments nor imports (the imports name
    one package per layer of kmnist_utils: they grow with its folders, not with a chapter's logic)."""
    cells = [c for c in nbtools.read(path).cells if c.cell_type == "code"]
    return sum(1 for c in cells for line in c.source.splitlines()
               if line.strip() and not line.strip().startswith(("#", "import ", "from ")))


def test_chapters_stay_thin():
    # Logic lives in kmnist_utils, tested; a chapter is parameters, prose and a few calls a section.
    by_name = {p.name[:2]: code_lines(p) for p in SOURCES}
    budget = max(by_name[n] for n in ("01", "02", "03", "04"))
    assert budget <= 52, f"chapters 01-04 have grown to {budget} code lines"
    fat = {n: lines for n, lines in by_name.items() if lines > budget}
    assert not fat, f"chapters with more code than 01-04 ({budget} lines): {fat}; move the logic into kmnist_utils"

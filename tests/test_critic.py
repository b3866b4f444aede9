"""The critic's checks find a 'nan' a reader would see, and only that."""

import json

import nbformat
import pandas as pd

from kmnist_utils.core.paths import committed_dirs
from kmnist_utils.pipeline import critic


def _notebook(path, outputs):
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("x = 1")
    cell.outputs = [nbformat.from_dict(o) for o in outputs]
    nb.cells = [nbformat.v4.new_markdown_cell("# title"), cell]
    nbformat.write(nb, path)
    return path


def test_nan_in_a_printed_table_is_found_with_its_cell(tmp_path):
    path = _notebook(tmp_path / "04.ipynb", [
        {"output_type": "stream", "name": "stdout", "text": "model  accuracy  std\ntuned  0.9723  NaN\n"}])
    (problem,) = critic.notebook_problems(path)
    assert problem.startswith("04.ipynb cell 1: 'nan'") and "tuned 0.9723 NaN" in problem


def test_nan_in_html_and_markdown_is_found(tmp_path):
    path = _notebook(tmp_path / "a.ipynb", [
        {"output_type": "display_data", "metadata": {}, "data": {"text/html": "<td>nan</td>"}},
        {"output_type": "display_data", "metadata": {}, "data": {"text/markdown": "- 0.97 ± nan points"}}])
    assert len(critic.notebook_problems(path)) == 2


def test_figures_and_words_containing_nan_are_not_problems(tmp_path):
    path = _notebook(tmp_path / "a.ipynb", [
        {"output_type": "display_data", "metadata": {},
         "data": {"image/png": "iVBORnanAAAA", "text/plain": "<Figure size 640x480 with 1 Axes>"}},
        {"output_type": "stream", "name": "stdout", "text": "a nanosecond, Nankai, financial\n"}])
    assert critic.notebook_problems(path) == []


def test_an_error_output_is_a_problem(tmp_path):
    path = _notebook(tmp_path / "a.ipynb", [
        {"output_type": "error", "ename": "ValueError", "evalue": "bad", "traceback": []}])
    assert critic.notebook_problems(path) == ["a.ipynb cell 1: the cell ended in an error"]


def test_nan_text_in_tables_is_named_by_column_and_empty_cells_are_allowed(tmp_path):
    frame = pd.DataFrame({"model": ["a", "b", "c"], "paper": [0.9, None, float("nan")],
                          "note": ["0.97 ± nan points", "ok", "NaN"]})
    frame.to_csv(tmp_path / "t.csv", index=False)  # the missing paper values become empty cells: allowed
    (tmp_path / "t.json").write_text(json.dumps({"provenance": {"seed": None},
                                                 "rows": json.loads(frame.to_json(orient="records"))}))
    assert critic.table_problems(tmp_path / "t.csv") == ["t.csv: column 'note' has 2 'nan' value(s)"]
    assert critic.table_problems(tmp_path / "t.json") == ["t.json: column 'note' has 2 'nan' value(s)"]
    (tmp_path / "bare.json").write_text(json.dumps({"rows": [{"std": float("nan")}]}))  # json writes NaN
    (bare,) = critic.table_problems(tmp_path / "bare.json")
    assert bare == "bare.json: a bare NaN token (write missing values as null)"
    assert len(critic.product_problems(tmp_path, tmp_path)) == 3
    _notebook(tmp_path / "08_report.ipynb", [{"output_type": "stream", "name": "stdout", "text": "nan\n"}])
    assert len(critic.product_problems(tmp_path, tmp_path)) == 4
    assert len(critic.product_problems(tmp_path, tmp_path, before="08")) == 3


def test_complete_tables_pass(tmp_path):
    frame = pd.DataFrame({"model": ["a", "nano", "NaNo"], "accuracy": [0.9, 0.8, None]})
    frame.to_csv(tmp_path / "t.csv", index=False)
    (tmp_path / "t.json").write_text(json.dumps({"rows": json.loads(frame.to_json(orient="records"))}))
    assert critic.product_problems(tmp_path, tmp_path) == []


def test_the_committed_products_show_no_nan_and_no_error_cell():
    dirs = committed_dirs()
    assert critic.product_problems(dirs.reports, dirs.results) == []

"""A critic's checks over a run's products (executed notebooks and result tables).

A 'nan' that reaches a reader means a number was shown that does not exist: a spread over one seed,
a paper value for a row the paper does not have, a threshold that was never found. The chapters show
such a value as a dash (``results.shown``) and the tables leave it empty; these checks make sure of it
for the products that are committed.
Only text a reader sees is searched: stream output, plain text, HTML and Markdown (never the
base64 of a figure, where 'nan' occurs by chance).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Iterator

import pandas as pd

from kmnist_utils.stats.findings import NAN_WORD

TEXT_MIMES = ("text/plain", "text/html", "text/markdown")


def output_texts(notebook: dict[str, Any]) -> Iterator[tuple[int, str]]:
    """(cell index, text) for every text output a reader of the executed notebook sees."""
    for index, cell in enumerate(notebook.get("cells", [])):
        for output in cell.get("outputs", []):
            if output.get("output_type") == "stream":
                yield index, _joined(output.get("text", ""))
            elif output.get("output_type") == "error":
                yield index, f"{output.get('ename')}: {output.get('evalue')}"
            for mime in TEXT_MIMES:
                if mime in output.get("data", {}):
                    yield index, _joined(output["data"][mime])


def _joined(text: str | list[str]) -> str:
    return "".join(text) if isinstance(text, list) else text


def _excerpt(text: str, match: re.Match, width: int = 50) -> str:
    start, end = max(0, match.start() - width), min(len(text), match.end() + width)
    return " ".join(text[start:end].split())


def notebook_problems(path: Path) -> list[str]:
    """A line per cell whose visible output contains 'nan' (any case) or an error."""
    notebook = json.loads(Path(path).read_text(encoding="utf-8"))
    found = []
    for index, cell in enumerate(notebook.get("cells", [])):
        if any(o.get("output_type") == "error" for o in cell.get("outputs", [])):
            found.append(f"{Path(path).name} cell {index}: the cell ended in an error")
    for index, text in output_texts(notebook):
        match = NAN_WORD.search(text)
        if match:
            found.append(f"{Path(path).name} cell {index}: 'nan' in its output: ...{_excerpt(text, match)}...")
    return found


def table_problems(path: Path) -> list[str]:
    """A line per column of a result table (CSV or JSON rows) that holds the text 'nan' (any case), and
    one for a JSON file with a bare NaN token. An empty cell (CSV) or null (JSON) is allowed: it is how
    a table says a value does not exist (the paper's value of a row beyond the paper, the spread of an
    ensemble that is one model, the accuracy of a threshold that accepts nothing), and the notebooks
    show it as a dash."""
    path = Path(path)
    if path.suffix == ".csv":
        rows = pd.read_csv(path, keep_default_na=False, dtype=str).to_dict("records")
    elif path.suffix == ".json":
        text = path.read_text(encoding="utf-8")
        if re.search(r"(?<![\w\"])-?NaN(?![\w\"])", text):
            return [f"{path.name}: a bare NaN token (write missing values as null)"]
        payload = json.loads(text)
        rows = payload.get("rows", []) if isinstance(payload, dict) else []
    else:
        return []
    columns: dict[str, int] = {}
    for row in rows:
        for column, value in row.items():
            if isinstance(value, str) and NAN_WORD.search(value):
                columns[column] = columns.get(column, 0) + 1
    return [f"{path.name}: column '{column}' has {count} 'nan' value(s)" for column, count in columns.items()]


def product_problems(reports: Path, results: Path, before: str | None = None) -> list[str]:
    """Every problem found in the executed notebooks of ``reports`` (only those whose name sorts before
    ``before``, when given: the report chapter checks the chapters ahead of it, not its own last copy)
    and the tables of ``results``."""
    found = []
    for notebook in sorted(Path(reports).glob("*.ipynb")):
        if before is None or notebook.name < before:
            found += notebook_problems(notebook)
    for table in sorted(Path(results).glob("*.csv")) + sorted(Path(results).glob("*.json")):
        found += table_problems(table)
    return found

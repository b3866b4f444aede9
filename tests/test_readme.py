"""The README's Results section must be exactly what the committed results generate."""

from kmnist_utils import readme, summary
from kmnist_utils.paths import PROJECT_ROOT, committed_dirs


def test_readme_results_section_matches_the_committed_results():
    text = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")
    expected = readme.readme_section(summary.load_results(committed_dirs().results))
    start, end = text.find(readme.README_START), text.find(readme.README_END)
    assert start >= 0 and end > start, "README.md lacks the results markers"
    current = text[start : end + len(readme.README_END)]
    assert current == expected, "README.md and results/ disagree: run `make readme` and commit both"


def test_committed_results_come_from_one_run():
    results = summary.load_results(committed_dirs().results)
    runs = summary.run_identity(results, names=tuple(results.tables))  # every table, not just the report's
    assert len(runs) == 1, f"committed results mix runs:\n{runs.to_string()}"
    assert runs.iloc[0].profile == "paper" and not runs.iloc[0].commit.endswith("-dirty")

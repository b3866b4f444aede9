"""The README's generated sections must be exactly what the committed results give, the README stays short,
and the docs state the committed run as it does."""

import re

from kmnist_utils.chapters import summary
from kmnist_utils.core.paths import PROJECT_ROOT, committed_dirs
from kmnist_utils.pipeline import readme


def test_readme_results_section_matches_the_committed_results():
    text = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")
    expected = readme.readme_section(summary.load_results(committed_dirs().results))
    start, end = text.find(readme.README_START), text.find(readme.README_END)
    assert start >= 0 and end > start, "README.md lacks the results markers"
    current = text[start : end + len(readme.README_END)]
    assert current == expected, "README.md and results/ disagree: run `make readme` and commit both"


def test_readme_opening_table_matches_the_committed_run_and_the_smoke_record():
    text = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")
    expected = readme.start_section(summary.load_results(committed_dirs().results), readme.smoke_record())
    assert expected in text, "README.md's opening table is stale: run `make readme` and commit it"


def test_committed_results_come_from_one_run():
    results = summary.load_results(committed_dirs().results)
    runs = summary.run_identity(results, names=tuple(results.tables))  # every table, not just the report's
    assert len(runs) == 1, f"committed results mix runs:\n{runs.to_string()}"
    assert runs.iloc[0].profile == "paper" and not runs.iloc[0].commit.endswith("-dirty")
    assert runs.iloc[0].seeds == "0,1,2", "the committed products are the paper profile's three seeds"


def test_every_key_figure_links_to_the_section_of_the_notebook_that_saves_it():
    sources = readme.figure_sources()
    text = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")
    for name, _ in readme.KEY_FIGURES:
        notebook, heading = sources[name]  # a key figure no notebook saves fails here
        source = (PROJECT_ROOT / "notebooks" / notebook).read_text(encoding="utf-8")
        assert f"# {heading}" in source and f'\\"{name}\\", ctx' in source
        if (committed_dirs().figures / f"{name}.png").exists():  # the README shows only figures the run drew
            assert f"(reports/{notebook}#{heading.replace(' ', '-')})" in text


def test_figure_sources_reads_the_heading_above_the_saving_cell(tmp_path):
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# 09 · Title\n\n## Figure 9 · Things"),
                nbformat.v4.new_code_cell('fig = plots.plot(d, "x")\nplots.save_figure(fig, "fig09_things", ctx)'),
                nbformat.v4.new_markdown_cell("Prose, no heading."),
                nbformat.v4.new_code_cell('plots.save_figure(plots.plot_y(t, "x"),\n    "more_things", ctx)')]
    nbformat.write(nb, tmp_path / "09_things.ipynb")
    nbformat.write(nb, tmp_path / "scratch.ipynb")  # not a chapter: ignored
    assert readme.figure_sources(tmp_path) == {"fig09_things": ("09_things.ipynb", "Figure 9 · Things"),
                                               "more_things": ("09_things.ipynb", "Figure 9 · Things")}
    assert readme.section_link("09_things.ipynb", "Figure 9 · Things") == (
        '[reports/09_things.ipynb, section "Figure 9 · Things"](reports/09_things.ipynb#Figure-9-·-Things)')


def committed_minutes() -> dict[str, float]:
    """The committed run's minutes per chapter, as the README's opening table states them."""
    text = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")
    line = next(line for line in text.splitlines() if line.startswith("Minutes per chapter of that run"))
    return {chapter: float(minutes) for chapter, minutes in re.findall(r"\b(\d\d) (\d+\.\d)\b", line)}


def test_the_readme_stays_a_five_minute_read():
    text = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")
    assert len(text.splitlines()) <= 120, "README.md has grown past 120 lines: move the detail into docs/"
    assert text.count("## Two commands") == 1
    block = text.split("## Two commands", 1)[1].split("```bash", 1)[1].split("```", 1)[0]
    assert [line.split()[:2] for line in block.strip().splitlines()] == [["make", "report"], ["make", "test"]]


def test_the_docs_state_the_committed_run_as_the_readme_does():
    # history.md's table of the committed run and performance.md's machine table repeat numbers of the
    # README's opening table; a rerun that updates one and not the others fails here.
    minutes = committed_minutes()
    assert minutes, "the README states no minutes per chapter"
    history = (PROJECT_ROOT / "docs" / "history.md").read_text(encoding="utf-8")
    table = dict(re.findall(r"^\| (\d\d) [^|]+\| (\d+\.\d) \|", history, re.MULTILINE))
    assert {chapter: float(m) for chapter, m in table.items()} == minutes
    hours = f"{sum(minutes.values()) / 60:.1f} h"
    opening = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8").split("<!-- start:end -->")[0]
    assert f"| {hours} " in opening
    performance = (PROJECT_ROOT / "docs" / "performance.md").read_text(encoding="utf-8")
    stated = re.findall(r"the committed run \(commit `\w+`\): (\d+\.\d h)", performance)
    assert stated == [hours], f"docs/performance.md states the committed run as {stated}, the README as {hours}"

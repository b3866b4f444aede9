"""Atomic writes, results tables with provenance, and saved figures."""

import json

import matplotlib.pyplot as plt
import pandas as pd
import pytest
from PIL import Image

from kmnist_utils.core import atomic
from kmnist_utils.products import plots
from kmnist_utils.products.results import read_table, shown, write_table

PROVENANCE_KEYS = {"profile", "seeds", "device", "device_name", "cpu", "precision", "torch", "git_commit", "date_utc",
                   "wall_time_s"}


def test_atomic_write_replaces_in_one_step(tmp_path):
    target = tmp_path / "a.txt"
    atomic.write_text(target, "old")
    atomic.write_text(target, "new")
    assert target.read_text() == "new"
    assert [p.name for p in tmp_path.iterdir()] == ["a.txt"]


def test_failed_write_keeps_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "a.txt"
    atomic.write_text(target, "old")
    with pytest.raises(RuntimeError):
        with atomic.atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("killed mid-write")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["a.txt"]


def test_stale_temporaries_are_removed(tmp_path):
    (tmp_path / ".fig.png.abc.tmp").write_text("x")
    (tmp_path / "fig.png").write_text("keep")
    removed = atomic.remove_stale_temporaries(tmp_path)
    assert [p.name for p in removed] == [".fig.png.abc.tmp"]
    assert [p.name for p in tmp_path.iterdir()] == ["fig.png"]


def test_results_table_round_trip_with_provenance(smoke_ctx):
    df = pd.DataFrame({"model": ["a", "b"], "accuracy": [0.5, 0.75]})
    path = write_table(df, "demo", smoke_ctx, wall_time_s=1.25, note="unit test")
    assert path.read_text().splitlines()[0] == "model,accuracy"
    back, prov = read_table("demo", smoke_ctx)
    pd.testing.assert_frame_equal(back, df)
    assert PROVENANCE_KEYS <= set(prov)
    assert prov["profile"] == "smoke" and prov["wall_time_s"] == 1.25 and prov["note"] == "unit test"
    assert prov["precision"] == smoke_ctx.precision and prov["cpu"] in prov["device_name"]


def test_the_cpu_is_named_with_its_vector_flags():
    from kmnist_utils.core.machine import describe_cpu

    epyc = "processor : 0\nmodel name : AMD EPYC 9R14\nflags : fpu sse avx2 fma avx512f avx512_bf16 avx512vl\n"
    assert describe_cpu(epyc) == "AMD EPYC 9R14 [avx2 fma avx512f avx512_bf16]"
    older = "model name\t: AMD EPYC 7R13 Processor\nflags\t\t: fpu sse avx2 fma\n"
    assert describe_cpu(older) == "AMD EPYC 7R13 Processor [avx2 fma]"  # two kinds told apart
    assert describe_cpu(None)  # no /proc/cpuinfo: platform's name, never empty


def test_missing_table_says_which_notebook_to_run(smoke_ctx):
    with pytest.raises(FileNotFoundError, match="Run the notebook that produces 'nothing'"):
        read_table("nothing", smoke_ctx)


@pytest.mark.parametrize("bad", ["", "a/b", "x.csv"])
def test_bad_table_name(smoke_ctx, bad):
    with pytest.raises(ValueError, match="bare file stem"):
        write_table(pd.DataFrame(), bad, smoke_ctx)


def test_figure_has_provenance_metadata(smoke_ctx):
    fig, ax = plt.subplots()
    ax.plot([0, 1])
    path = plots.save_figure(fig, "fig99_test", smoke_ctx)
    plt.close(fig)
    meta = json.loads(Image.open(path).info["Description"])
    assert PROVENANCE_KEYS <= set(meta) and meta["profile"] == "smoke"


def test_the_style_covers_every_kana_of_the_class_names():
    # Matplotlib draws a character with the first family of font.family whose file has its glyph.
    from matplotlib import font_manager
    from matplotlib.ft2font import FT2Font

    from kmnist_utils.core.data import class_labels

    plots.apply_style()
    fonts = [FT2Font(font_manager.findfont(font_manager.FontProperties(family=family), fallback_to_default=False))
             for family in plt.rcParams["font.family"]]
    kana = {ch for label in class_labels() for ch in label if ord(ch) > 0x3000}
    assert len(kana) >= 10
    missing = [ch for ch in sorted(kana) if not any(font.get_char_index(ord(ch)) for font in fonts)]
    assert not missing, f"no configured font has {missing}: {plt.rcParams['font.family']}"


def test_a_runs_own_products_do_not_make_the_commit_dirty(tmp_path, monkeypatch):
    import subprocess

    from kmnist_utils.products import provenance

    def git(*args):
        subprocess.run(["git", *args], cwd=tmp_path, check=True, capture_output=True)

    git("init", "-q")
    (tmp_path / "code.py").write_text("x = 1\n")
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "t.csv").write_text("a\n1\n")
    git("add", ".")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "init")
    monkeypatch.setattr(provenance, "PROJECT_ROOT", tmp_path)
    try:
        provenance.git_commit.cache_clear()
        (tmp_path / "results" / "t.csv").write_text("a\n2\n")  # what a run rewrites
        assert not provenance.git_commit().endswith("-dirty")
        provenance.git_commit.cache_clear()
        (tmp_path / "code.py").write_text("x = 2\n")  # a change to the code is dirty
        assert provenance.git_commit().endswith("-dirty")
    finally:
        provenance.git_commit.cache_clear()


def test_only_old_temporaries_are_stale_in_a_shared_folder(tmp_path):
    import os
    import time

    old, fresh = tmp_path / ".a.pt.x1.tmp", tmp_path / ".b.pt.x2.tmp"
    old.write_text("left by a killed run")
    fresh.write_text("being written right now")
    an_hour_ago = time.time() - 3600
    os.utime(old, (an_hour_ago, an_hour_ago))
    assert atomic.remove_stale_temporaries(tmp_path, older_than_s=900) == [old]
    assert fresh.exists() and not old.exists()


def test_shown_tables_have_a_dash_where_a_value_does_not_exist():
    frame = pd.DataFrame({"model": ["a", "b"], "paper": [0.93412, float("nan")], "seeds": [3, 1]})
    out = shown(frame)
    assert out.paper.tolist() == [0.9341, "—"] and out.seeds.tolist() == [3, 1] and out.model.tolist() == ["a", "b"]
    assert "NaN" not in out.to_string() and "NaN" not in out.to_html()

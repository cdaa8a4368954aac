"""The image build benchmark's report section (the builds themselves are timed by `make bench`)."""

from __future__ import annotations

from benchmarks import build_cache


def test_the_section_reports_the_medians_and_the_goal():
    text = build_cache.section({"cold_s": [150.0, 160.0, 140.0], "code_only_s": [30.0, 45.0, 40.0]})
    assert "| Cold (`--no-cache`) | 150.0 s | 100% |" in text
    assert "| Code-only change (layer cache) | 40.0 s | 27% |" in text
    assert "**met** (0.27)" in text
    assert "**not met** (0.50)" in build_cache.section({"cold_s": [100.0], "code_only_s": [50.0]})
    assert build_cache.section(None) == ""


def test_a_code_change_edits_one_module_of_the_package(tmp_path):
    package = tmp_path / "package"
    (package / "src" / "pkg").mkdir(parents=True)
    (package / "src" / "pkg" / "__init__.py").write_text("")
    (package / "src" / "pkg" / "model.py").write_text("X = 1\n")
    changed = build_cache.change_code(package, 7)
    assert changed.name == "model.py" and changed.read_text().endswith("_BENCH_EDIT = 7\n")

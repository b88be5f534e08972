"""The curation benchmarks' command lines run at tiny sizes and print their figures.

Their full-size figures are in the README; this only keeps the scripts working (and their own
exactness checks passing) as the jobs change.
"""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _run(script: str, *args: str) -> str:
    result = subprocess.run([sys.executable, f"bench/{script}", *args], cwd=ROOT,
                            capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_raw_to_parquet_benchmark_prints_both_ratios(tmp_path):
    output = _run("bench_raw_to_parquet.py", "--events", "20000", "--data-dir", str(tmp_path))
    assert "exact: job and same-work reference wrote the same 20,000 rows" in output
    for engine in ("job", "duckdb same work", "duckdb bare"):
        assert any(line.startswith(engine + " ") for line in output.splitlines()), output
    assert "ratio job / DuckDB same work:" in output
    assert "job / DuckDB bare:" in output


def test_compaction_benchmark_prints_its_figures(tmp_path):
    output = _run("bench_compaction.py", "--symbols", "2", "--seconds-per-event", "60",
                  "--data-dir", str(tmp_path))
    lines = output.splitlines()
    header = next(i for i, line in enumerate(lines) if "rows/s" in line)
    figures = lines[header + 1].split()
    assert figures[:3] == ["48", "2", "2,880"], output  # files in, files out, rows
    assert "exact: every symbol's 1,440 rows compacted once each" in output
    assert "peak RSS" in lines[header]


def test_curation_cost_benchmark_prints_its_figures(tmp_path):
    output = _run("bench_curation_cost.py", "--minutes", "1", "--symbols", "20",
                  "--data-dir", str(tmp_path))
    lines = output.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("run "))
    assert [line.split()[0] for line in lines[header + 1:header + 4]] == [
        "2026-11-24T10", "2026-11-24T11", "2026-11-24T10"], output  # H, H+1, H again
    assert "exact: " in output
    assert "the rerun of 2026-11-24T10 wrote no curated file" in output
    assert "cost of an hour, from run 2026-11-24T11" in output

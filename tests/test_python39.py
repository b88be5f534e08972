"""Code shipped to AWS Glue runs on Glue's Python 3.9.

This machine has no 3.9 interpreter, so the proof is static: vermin reports the minimum Python
version the code needs (syntax, standard-library modules, functions and keyword arguments).
A control file that uses 3.10+ features shows the check really fails when it should.

The rule that makes the check exact: shipped code writes ``Optional[X]`` and ``Union[X, Y]``
and does not use ``from __future__ import annotations``, so that vermin's ``union-types``
detection can flag every ``X | Y`` (which raises TypeError on 3.9 wherever it is evaluated).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
#: Everything the Glue Python shell job imports from this repository.
GLUE_RUNTIME = ("miniticker", "glue_jobs")


def vermin(*paths: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        # vermin has no __main__ module: call the console script's entry point.
        [sys.executable, "-c", "import sys, vermin; sys.exit(vermin.main())",
         "--target=3.9-", "--violations", "--no-tips", "--no-parse-comments",
         "--feature", "union-types", *paths],
        cwd=REPO, capture_output=True, text=True, check=False,
    )


def test_glue_runtime_code_needs_at_most_python_3_9():
    paths = [p for p in GLUE_RUNTIME if any((REPO / p).rglob("*.py"))]
    assert "miniticker" in paths
    result = vermin(*paths)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    "source",
    [
        "def f(x):\n    match x:\n        case 1:\n            return 1\n",
        "import datetime\nUTC = datetime.UTC\n",
        "pairs = list(zip([1], [2], strict=True))\n",
        "X = int | None\n",
        "from typing import Optional\ndef f(x: int | None) -> None: ...\n",
    ],
    ids=["match", "datetime.UTC", "zip-strict", "union-type", "union-annotation"],
)
def test_the_check_catches_newer_python(tmp_path: Path, source: str):
    control = tmp_path / "newer.py"
    control.write_text(source)
    result = vermin(control)
    assert result.returncode != 0, result.stdout
    assert "Target versions not met" in result.stdout

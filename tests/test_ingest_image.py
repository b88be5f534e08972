"""The ingest image, checked without a Docker engine (none runs on this machine or in CI):
its instructions, its pins, and that the folders it copies are all the service needs."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DOCKERFILE = (REPO / "ingest" / "Dockerfile").read_text()


def instructions() -> list[tuple[str, str]]:
    joined = re.sub(r"\\\n\s*", " ", DOCKERFILE)
    return [tuple(line.split(None, 1)) for line in joined.splitlines()  # type: ignore[misc]
            if line.strip() and not line.lstrip().startswith("#")]


def test_slim_base_non_root_health_check_and_entry_point():
    steps = instructions()
    assert steps[0][0] == "FROM"
    assert "-slim" in steps[0][1]
    users = [arg for op, arg in steps if op == "USER"]
    assert users == ["10001"]
    assert [op for op, _ in steps].index("USER") > max(
        i for i, (op, _) in enumerate(steps) if op == "RUN")  # nothing runs as root after it
    (health,) = [arg for op, arg in steps if op == "HEALTHCHECK"]
    assert '"ingest.healthcheck"' in health
    assert ("ENTRYPOINT", '["python", "-m", "ingest"]') in steps
    assert ("STOPSIGNAL", "SIGTERM") in steps


def test_dependencies_are_pinned_and_copied_sources_exist():
    steps = instructions()
    (install,) = [arg for op, arg in steps if op == "RUN" and "pip install" in arg]
    assert "-r /app/requirements.txt -c /app/constraints.txt" in install
    requirements = [line for line in (REPO / "ingest" / "requirements.txt").read_text()
                    .splitlines() if line and not line.startswith("#")]
    constraints = set((REPO / "constraints.txt").read_text().splitlines())
    for requirement in requirements:
        assert re.fullmatch(r"[A-Za-z0-9_.-]+==[0-9][0-9A-Za-z.]*", requirement), requirement
        name, version = requirement.split("==")
        assert any(c.lower().replace("_", "-") == f"{name.lower()}=={version}"
                   for c in constraints), f"{requirement} not in constraints.txt"
    for op, arg in steps:
        if op == "COPY":
            for source in arg.split()[:-1]:
                assert (REPO / source).exists(), source


def test_the_copied_folders_alone_run_the_service(tmp_path: Path):
    # Exactly what the image copies; anything else the service imports would be missing there.
    for folder in ("ingest", "miniticker"):
        shutil.copytree(REPO / folder, tmp_path / folder,
                        ignore=shutil.ignore_patterns("__pycache__"))
    result = subprocess.run(
        [sys.executable, "-c", "import ingest.__main__, ingest.healthcheck, ingest.service; "
                               "import sys; sys.argv = ['ingest', '--help']; "
                               "ingest.__main__.main()"],
        cwd=tmp_path, capture_output=True, text=True, check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "--binance-streams" in result.stdout

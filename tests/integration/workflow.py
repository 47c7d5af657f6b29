"""Run the real Snakemake workflow (and DVC) on a copy of the project in a temporary directory."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

PROJECT_ROOT = Path(__file__).resolve().parents[2]
PROJECT_FILES = ("Snakefile", "dvc.yaml", "workflow", "profiles", "src", "envs", "tolerances.yaml")


def copy_project(target: Path, params: dict) -> Path:
    """A copy of the workflow, the library and ``params`` in ``target`` (no data, results or stores)."""
    target.mkdir(parents=True, exist_ok=True)
    for name in PROJECT_FILES:
        source = PROJECT_ROOT / name
        if source.is_dir():
            shutil.copytree(source, target / name, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        else:
            shutil.copy2(source, target / name)
    write_params(target, params)
    return target


def write_params(project: Path, params: dict) -> None:
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False), encoding="utf-8")


def tool_environment(project: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment for workflow tools: this interpreter's bin first, MLflow at the copy's own store."""
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env.pop("MLFLOW_TRACKING_URI", None)
    env["GIT_AUTHOR_NAME"] = env["GIT_COMMITTER_NAME"] = "sgm-mlc tests"
    env["GIT_AUTHOR_EMAIL"] = env["GIT_COMMITTER_EMAIL"] = "tests@localhost"
    env.update(extra or {})
    return env


def run_tool(
    project: Path, *command: str, timeout: float = 600, check: bool = True, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    """Run ``command`` in ``project``; on failure, the assertion shows its output and the workflow logs."""
    result = subprocess.run(
        command, cwd=project, env=tool_environment(project, env), capture_output=True, text=True, timeout=timeout
    )
    if check and result.returncode != 0:
        logs = "\n".join(
            f"--- {log}\n{log.read_text(errors='replace')[-3000:]}" for log in sorted(project.glob("results/logs/**/*.log"))
        )
        raise AssertionError(
            f"{' '.join(command)} exited {result.returncode}\nstdout:\n{result.stdout[-5000:]}\n"
            f"stderr:\n{result.stderr[-5000:]}\n{logs}"
        )
    return result


def snakemake(
    project: Path, *arguments: str, check: bool = True, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    cores = [] if "--cores" in arguments else ["--cores", "2"]
    return run_tool(project, sys.executable, "-m", "snakemake", *cores, *arguments, check=check, env=env)

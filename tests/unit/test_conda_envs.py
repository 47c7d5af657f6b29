"""`--use-conda` cannot run here (no conda), so check statically that every rule's env provides what its code
imports: rule → its `python -m sgm_mlc <command>` → the handler's imports → the library's import graph."""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

import pytest
import yaml

from sgm_mlc import cli

ROOT = Path(__file__).resolve().parents[2]
PACKAGE_DIR = ROOT / "src" / "sgm_mlc"
CONDA_NAMES = {
    "yaml": "pyyaml", "sklearn": "scikit-learn", "PIL": "pillow", "torch": "pytorch", "iterstrat": "iterative-stratification"
}
RULE_PATTERN = re.compile(r"^rule (\w+):\n(.*?)(?=^\S|\Z)", re.S | re.M)


def rules_with_envs() -> list[tuple[str, Path, str]]:
    """(rule, env file, sgm-mlc command) for every rule that runs the library."""
    found = []
    for rule_file in sorted((ROOT / "workflow" / "rules").glob("*.smk")):
        for name, body in RULE_PATTERN.findall(rule_file.read_text()):
            command = re.search(r"python -m sgm_mlc ([\w-]+)", body)
            if command is None:
                continue
            conda = re.search(r"conda:\s*\n\s*\"([^\"]+)\"", body)
            assert conda, f"rule {name} in {rule_file.name} runs sgm_mlc but declares no conda env"
            found.append((name, (rule_file.parent / conda.group(1)).resolve(), command.group(1)))
    return found


def module_path(module: str) -> Path | None:
    """The source file of an ``sgm_mlc`` module (``None`` for anything else or a name that is not a module)."""
    if module != "sgm_mlc" and not module.startswith("sgm_mlc."):
        return None
    parts = module.split(".")[1:]
    folder = PACKAGE_DIR.joinpath(*parts)
    candidates = [folder / "__init__.py"] + ([folder.with_suffix(".py")] if parts else [])
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    return None


def imported_names(tree: ast.AST) -> set[str]:
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def third_party_imports(roots: set[str]) -> set[str]:
    """Top-level third-party packages imported, transitively through the library, from ``roots``."""
    seen: set[str] = set()
    external: set[str] = set()
    pending = list(roots)
    while pending:
        name = pending.pop()
        if name in seen:
            continue
        seen.add(name)
        path = module_path(name)
        if path is None:
            top = name.split(".")[0]
            if top != "sgm_mlc" and top not in sys.stdlib_module_names and top != "__future__":
                external.add(top)
            continue
        parts = name.split(".")
        pending += [".".join(parts[:i]) for i in range(1, len(parts))]  # parent packages run first
        pending += imported_names(ast.parse(path.read_text()))
    return external


def handler_imports(command: str) -> set[str]:
    """What ``sgm-mlc <command>`` imports: cli's module-level imports plus its handler's own."""
    handlers = {name: sub.get_default("handler") for name, sub in command_parsers().items()}
    tree = ast.parse(Path(cli.__file__).read_text())
    module_level = imported_names(ast.Module(body=[n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))], type_ignores=[]))
    function = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == handlers[command].__name__)
    return module_level | imported_names(function)


def command_parsers() -> dict:
    parser = cli.build_parser()
    subparsers = next(action for action in parser._actions if action.dest == "command")
    return dict(subparsers.choices)


def env_packages(env_file: Path) -> set[str]:
    spec = yaml.safe_load(env_file.read_text())
    names = set()
    for dependency in spec["dependencies"]:
        entries = dependency["pip"] if isinstance(dependency, dict) else [dependency]
        names.update(re.split(r"[=<>!~ \[]", entry, maxsplit=1)[0].lower() for entry in entries)
    return names


RULES = rules_with_envs()


def test_every_library_rule_was_found():
    assert {rule for rule, _, _ in RULES} >= {
        "download_dataset",
        "preprocess_to_parquet",
        "build_word_embeddings",
        "build_label_order",
        "init_tracking",
        "log_dataset_card",
    }


@pytest.mark.parametrize(("rule", "env_file", "command"), RULES, ids=[rule for rule, _, _ in RULES])
def test_rule_env_provides_every_import(rule, env_file, command):
    assert env_file.is_file(), f"rule {rule}: conda env {env_file} does not exist"
    provided = env_packages(env_file)
    assert "python" in provided
    needed = {CONDA_NAMES.get(name, name).lower() for name in third_party_imports(handler_imports(command))}
    assert needed, f"rule {rule}: found no imports for command {command}"
    missing = needed - provided
    assert not missing, f"rule {rule}: {env_file.name} lacks {sorted(missing)} which `sgm-mlc {command}` imports"


def test_import_graph_sees_indirect_imports():
    """The walk must follow the library: the download command reaches tqdm only through data.download."""
    assert "tqdm" in third_party_imports(handler_imports("download"))
    assert "gensim" in third_party_imports(handler_imports("build-embeddings"))
    assert "gensim" not in third_party_imports(handler_imports("download"))

"""Load ``params.yaml`` and validate it against the project's JSON Schema.

Snakemake (in the ``Snakefile``) and the command line call the same :func:`validate_params`, so a misspelt key,
a wrong type or an unknown dataset name stops either of them at once, with a message that names the key and
what is allowed there.
"""

from __future__ import annotations

import copy
import math
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import yaml

SCHEMA_RESOURCE = "params.schema.yaml"
# Sections made of named entries, of which a step may receive only some (its dataset, its model).
NAMED_SECTIONS = ("datasets", "models")
# Sections of which a step may receive only the keys it reads (see sgm_mlc.experiment.plan).
PARTIAL_SECTIONS = ("training", "tuning")


class ParamsError(ValueError):
    """``params.yaml`` does not match the schema; the message names every offending key."""


@cache
def params_schema() -> dict[str, Any]:
    """The JSON Schema of ``params.yaml`` (shipped inside the package)."""
    text = resources.files("sgm_mlc").joinpath(SCHEMA_RESOURCE).read_text(encoding="utf-8")
    return yaml.safe_load(text)


def _is_integer(checker: Any, instance: Any) -> bool:
    """An int written as one: ``32.0`` is not an integer here (it would reach the code as a float)."""
    return isinstance(instance, int) and not isinstance(instance, bool)


def _is_number(checker: Any, instance: Any) -> bool:
    """A finite int or float: ``.nan`` and ``.inf`` pass every bound, so they are not numbers here."""
    return isinstance(instance, (int, float)) and not isinstance(instance, bool) and math.isfinite(instance)


ParamsValidator = jsonschema.validators.extend(
    jsonschema.Draft202012Validator,
    type_checker=jsonschema.Draft202012Validator.TYPE_CHECKER.redefine_many(
        {"integer": _is_integer, "number": _is_number}
    ),
)


def params_validator() -> jsonschema.Validator:
    """A JSON Schema (2020-12) validator of params.yaml whose integers are ints and whose numbers are finite."""
    return ParamsValidator(params_schema())


class UniqueKeyLoader(yaml.SafeLoader):
    """YAML's safe loader, refusing a mapping that names a key twice (plain YAML keeps the last one silently). A
    key that a merge (``<<: *anchor``) brings in may still be set again: that is what a merge is for."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=deep)
            line = key_node.start_mark.line + 1
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"key {key!r} appears twice (lines {seen[key]} and {line}); keep one", key_node.start_mark
                )
            seen[key] = line
        return super().construct_mapping(node, deep=deep)


def read_params_file(path: str | Path) -> Any:
    """The YAML of a params (or experiment) file; :class:`ParamsError` names the file for a missing file,
    invalid YAML or a key written twice."""
    path = Path(path)
    try:
        return yaml.load(path.read_text(encoding="utf-8"), Loader=UniqueKeyLoader)  # noqa: S506 (a safe loader)
    except FileNotFoundError:
        raise ParamsError(f"{path}: no such params file (pass --params PATH, or run from the project root)") from None
    except yaml.YAMLError as error:
        raise ParamsError(f"{path}: not valid YAML: {error}") from None


def load_params(path: str | Path) -> dict[str, Any]:
    """Read and validate a params file; raise :class:`ParamsError` naming the file and the keys at fault."""
    params = read_params_file(path)
    validate_params(params, source=str(path))
    return params


def validate_params(params: Any, source: str = "params.yaml") -> None:
    """Raise :class:`ParamsError` listing every schema violation in ``params``, each with its key path.

    Once ``params`` is valid, every dataset's view of it (its ``overrides`` merged in) must be valid too.
    """
    problems = schema_problems(params) + dataset_reference_problems(params)
    if not problems:
        for dataset in params.get("overrides") or {}:
            problems += [f"{p} (with overrides.{dataset} merged)" for p in schema_problems(dataset_view(params, dataset))]
    if problems:
        lines = "\n".join(f"  - {problem}" for problem in problems)
        raise ParamsError(f"{source} is not valid:\n{lines}")


def dataset_reference_problems(params: dict[str, Any]) -> list[str]:
    """One line per dataset name used (``run.datasets``, ``experiments.cross_dataset``, ``overrides``) that
    the ``datasets`` section does not define."""
    def section(*path: str) -> Any:
        value: Any = params
        for name in path:
            value = value.get(name) if isinstance(value, dict) else None
        return value

    known = section("datasets")
    if not isinstance(known, dict):
        return []
    references = [(f"run.datasets.{i}", name) for i, name in enumerate(section("run", "datasets") or [])]
    for i, pair in enumerate(section("experiments", "cross_dataset") or []):
        references += [(f"experiments.cross_dataset.{i}.{role}", pair.get(role)) for role in ("train", "test")]
    references += [(f"overrides.{name}", name) for name in section("overrides") or {}]
    return [
        f"{key}: {name!r} is not a dataset of the datasets section; known datasets: {', '.join(sorted(known))}"
        for key, name in references
        if isinstance(name, str) and name not in known
    ]


def coerce_command_line_strings(params: Any) -> None:
    """Give command-line values their types, in place: where the schema wants a number, boolean, list or
    mapping and finds a string, the string is read as YAML.

    Snakemake reads ``--config`` values with YAML's base loader, so in ``--config 'run={seeds: [14]}'`` the
    seed arrives as the string ``'14'``; a value that still does not fit stays a string and fails validation.
    """
    validator = params_validator()
    while True:
        changed = False
        for error in list(validator.iter_errors(params)):
            if error.validator != "type" or not isinstance(error.instance, str) or not error.absolute_path:
                continue
            try:
                value = yaml.safe_load(error.instance)
            except yaml.YAMLError:
                continue
            if isinstance(value, str):
                continue
            *parents, last = error.absolute_path
            container = params
            for part in parents:
                container = container[part]
            container[last] = value
            changed = True
        if not changed:
            return


def schema_problems(params: Any) -> list[str]:
    """One line per schema violation, sorted by key path; a dataset entry that is neither built in nor
    declares a ``kind`` gets one line saying so, rather than the list of what a ``table`` dataset lacks."""
    validator = params_validator()
    errors = sorted(reported_errors(validator, params), key=lambda e: [str(p) for p in e.absolute_path])
    unknown = unknown_dataset_entries(params)
    problems = [describe_error(error) for error in errors if tuple(error.absolute_path)[:2] not in unknown]
    built_in = ", ".join(sorted(params_schema()["properties"]["datasets"]["properties"]))
    problems += [
        f"datasets.{name}: not a built-in dataset ({built_in}); your own data needs kind: table (docs/datasets.md)"
        for _, name in sorted(unknown)
    ]
    return problems


def unknown_dataset_entries(params: Any) -> set[tuple[str, str]]:
    """``("datasets", name)`` of every entry that is not built in and has no ``kind``."""
    datasets = params.get("datasets") if isinstance(params, dict) else None
    if not isinstance(datasets, dict):
        return set()
    built_in = params_schema()["properties"]["datasets"]["properties"]
    return {
        ("datasets", name)
        for name, entry in datasets.items()
        if name not in built_in and not (isinstance(entry, dict) and "kind" in entry)
    }


def reported_errors(validator: jsonschema.Validator, instance: Any) -> list[jsonschema.ValidationError]:
    """``validator``'s errors on ``instance``, less the ``unevaluatedProperties`` errors that name no unknown
    key: JSON Schema counts a declared key whose value is invalid as unevaluated, and that value has an error
    of its own."""
    return [
        error
        for error in validator.iter_errors(instance)
        if not (
            error.validator == "unevaluatedProperties"
            and isinstance(error.instance, dict)
            and set(error.instance) <= declared_properties(error.schema)
        )
    ]


def dataset_view(params: dict[str, Any], dataset: str) -> dict[str, Any]:
    """``params`` as one dataset sees them: ``overrides.<dataset>`` merged (deeply) over the sections."""
    view = copy.deepcopy(params)
    for section, changes in (view.get("overrides") or {}).get(dataset, {}).items():
        view[section] = deep_merge(view[section], changes)
    return view


def deep_merge(base: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``base`` with ``changes`` merged in: nested mappings merge, everything else replaces."""
    merged = copy.deepcopy(base)
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def describe_error(error: jsonschema.ValidationError) -> str:
    """One line for one violation: the dotted key, what is wrong, and what is allowed there."""
    key = ".".join(str(part) for part in error.absolute_path) or "(top level)"
    if error.validator == "additionalProperties":
        allowed = sorted(error.schema.get("properties", {}))
        unknown = sorted(set(error.instance) - set(allowed))
        return f"{key}: unknown key(s) {', '.join(map(repr, unknown))}; allowed keys: {', '.join(allowed)}"
    if error.validator == "unevaluatedProperties":
        allowed = sorted(declared_properties(error.schema))
        unknown = sorted(set(error.instance) - set(allowed))
        return f"{key}: unknown key(s) {', '.join(map(repr, unknown))}; allowed keys: {', '.join(allowed)}"
    if error.validator == "enum":
        allowed = ", ".join(repr(value) for value in error.validator_value)
        return f"{key}: {error.instance!r} is not allowed; allowed values: {allowed}"
    if error.validator == "type":
        expected = error.validator_value
        expected = " or ".join(expected) if isinstance(expected, list) else expected
        if isinstance(error.instance, float) and not math.isfinite(error.instance):
            return f"{key}: {error.instance!r} is not a finite number"
        if isinstance(error.instance, float) and "integer" in expected:
            return f"{key}: {error.instance!r} should be of type {expected} (write it without a decimal point)"
        return f"{key}: {error.instance!r} should be of type {expected}"
    return f"{key}: {error.message}"


def declared_properties(schema: dict[str, Any]) -> set[str]:
    """The property names a schema declares, including those of the ``allOf`` parts it refers to."""
    names = set(schema.get("properties", {}))
    for part in schema.get("allOf", []):
        if "$ref" in part:
            part = params_schema()["$defs"][part["$ref"].rsplit("/", 1)[-1]]
        names |= declared_properties(part)
    return names


def section_schema(schema: dict[str, Any], path: list[str]) -> dict[str, Any] | None:
    """The part of ``schema`` for a top-level section (``[section]``) or one of its named entries
    (``[section, name]``: a declared entry, or any other name where the section allows it); ``None`` for an
    entry the section does not allow."""
    part = schema["properties"][path[0]]
    if len(path) == 1:
        return part
    return part["properties"].get(path[1]) or part.get("additionalProperties") or None


def validate_sections(partial: Any, source: str = "--config") -> None:
    """Validate a subset of ``params.yaml`` (some top-level sections; some entries of ``datasets``).

    A workflow step receives only the sections it reads, so that editing one section reruns only the steps
    that read it; each section present is checked against its own part of the schema.
    """
    if not isinstance(partial, dict):
        raise ParamsError(f"{source}: expected a mapping of params.yaml sections, got {type(partial).__name__}")
    schema = params_schema()
    root = params_validator()
    problems = []
    for section, value in partial.items():
        if section not in schema["properties"]:
            allowed = ", ".join(sorted(schema["properties"]))
            problems.append(f"{section}: unknown section; allowed sections: {allowed}")
            continue
        if section in NAMED_SECTIONS and isinstance(value, dict):
            parts = [([section, name], value[name]) for name in value]
        else:
            parts = [([section], value)]
        for path, part in parts:
            if tuple(path) in unknown_dataset_entries(partial):
                problems += schema_problems({"datasets": {path[1]: part}})[-1:]
                continue
            part_schema = section_schema(schema, path)
            if part_schema is None:
                allowed = ", ".join(sorted(schema["properties"][section]["properties"]))
                problems.append(f"{'.'.join(path)}: unknown key; allowed keys: {allowed}")
                continue
            validator = root.evolve(schema=part_schema)
            for error in reported_errors(validator, part):
                if section in PARTIAL_SECTIONS and error.validator == "required" and not error.path:
                    continue
                error.path.extendleft(reversed(path))
                problems.append(describe_error(error))
    if problems:
        lines = "\n".join(f"  - {problem}" for problem in sorted(problems))
        raise ParamsError(f"{source} is not valid:\n{lines}")

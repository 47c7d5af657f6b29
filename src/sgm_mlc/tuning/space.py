"""A model's search space, and how a trial's values become a run's settings.

``tuning.spaces.<model>`` in params.yaml maps each tuned setting to its domain:

* ``{low: 1.0e-4, high: 1.0e-2, log: true}``: a float (an int when both bounds are ints), log-uniform with ``log``;
* ``{choices: [128, 256]}``: one of the values (numbers, strings, booleans or null).

A setting's name says where it goes: ``order`` is the label order (models that depend on one); a key of the
``training`` section (``learning_rate``, ``batch_size``, …) goes there; any other name must be a key of the
model's own settings (``models.<model>``: ``dropout``, ``hidden_size``, ``C``, …).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from sgm_mlc.labels.orders import ORDERS

ORDER_KEY = "order"


class Suggest(Protocol):
    """What a space draws values from (an ``optuna.Trial``)."""

    def suggest_float(self, name: str, low: float, high: float, *, log: bool = False) -> float: ...

    def suggest_int(self, name: str, low: int, high: int, *, log: bool = False) -> int: ...

    def suggest_categorical(self, name: str, choices: list[Any]) -> Any: ...


def setting_section(name: str, model_settings: Mapping[str, Any], training: Mapping[str, Any]) -> str:
    """Where the tuned setting ``name`` goes: ``order``, ``training`` or ``models``; a name that is none of them
    raises ``ValueError``."""
    if name == ORDER_KEY:
        return ORDER_KEY
    if name in training:
        return "training"
    if name in model_settings:
        return "models"
    raise ValueError(
        f"{name!r} is not a setting of this model: the label order ({ORDER_KEY!r}), a key of the training "
        f"section ({', '.join(sorted(training))}) or of the model's settings ({', '.join(sorted(model_settings))})"
    )


def check_space(
    model: str, space: Mapping[str, Any], model_settings: Mapping[str, Any], training: Mapping[str, Any],
    order_dependent: bool,
) -> None:
    """Raise ``ValueError`` naming ``tuning.spaces.<model>.<name>`` where a setting is unknown, an interval is
    empty or the label order is tuned for a model that does not depend on one."""
    for name, domain in space.items():
        where = f"tuning.spaces.{model}.{name}"
        try:
            section = setting_section(name, model_settings, training)
        except ValueError as error:
            raise ValueError(f"{where}: {error}") from None
        if section == ORDER_KEY and not order_dependent:
            raise ValueError(f"{where}: {model} does not depend on the label order; remove the setting")
        if section == ORDER_KEY and not set(domain.get("choices", [None])) <= set(ORDERS):
            raise ValueError(f"{where}: choices must be label orders ({', '.join(ORDERS)})")
        if "choices" not in domain and not domain["low"] < domain["high"]:
            raise ValueError(f"{where}: low ({domain['low']}) must be below high ({domain['high']})")


def draw(space: Mapping[str, Any], suggest: Suggest) -> dict[str, Any]:
    """One value per setting of ``space``, drawn from ``suggest`` (in the space's order)."""
    values = {}
    for name, domain in space.items():
        if "choices" in domain:
            values[name] = suggest.suggest_categorical(name, list(domain["choices"]))
        elif isinstance(domain["low"], int) and isinstance(domain["high"], int):
            values[name] = suggest.suggest_int(name, domain["low"], domain["high"], log=domain.get("log", False))
        else:
            values[name] = suggest.suggest_float(
                name, float(domain["low"]), float(domain["high"]), log=domain.get("log", False)
            )
    return values


def split_values(
    values: Mapping[str, Any], model_settings: Mapping[str, Any], training: Mapping[str, Any]
) -> dict[str, Any]:
    """``{"models": {...}, "training": {...}, "order": name or None}``: tuned values by where they go."""
    split: dict[str, Any] = {"models": {}, "training": {}, ORDER_KEY: None}
    for name, value in values.items():
        section = setting_section(name, model_settings, training)
        if section == ORDER_KEY:
            split[ORDER_KEY] = value
        else:
            split[section][name] = value
    return split

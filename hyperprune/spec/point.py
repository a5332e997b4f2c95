"""A point of the search space: one concrete candidate, frozen and typed. Torch-free.

    point = Point.of("selfish", 0.67, params={"deathRate": 0.5}, training={"lr": 20.0})
    point.pruning          # SelfishPruning(method="selfish", sparsity=0.67, params=SelfishParams(...))
    point.params           # {"deathRate": 0.5}: the settings the point sets; the rest keep defaults
    point.to_json()        # {"method": "selfish", "sparsity": 0.67, "params": {...}, "training": {...}, "model": {}}

The pruning part is parsed once, when the point is made, into the catalogue's typed settings; the
trial config and the pruner take that object as it is. ``training`` and ``model`` hold the spec
settings the candidate overrides (validated with the spec). Two points are equal when they name the
same candidate: numbers equal to 12 significant digits, 1 and 1.0 alike (``key``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Union

from hyperprune.contract.pruning import METHODS, PruningConfig, parse_pruning_config

Scalar = Union[bool, int, float, str, None]  # None: a setting a candidate turns off (training.clip)


class Settings(Mapping[str, Scalar]):
    """A read-only mapping of setting name to value, in key order (the canonical form of a point)."""

    __slots__ = ("_items",)

    def __init__(self, items: Mapping[str, Scalar] | None = None) -> None:
        self._items: dict[str, Scalar] = dict(sorted((items or {}).items()))

    def __getitem__(self, key: str) -> Scalar:
        return self._items[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:
        return f"Settings({self._items!r})"

    def __reduce__(self) -> tuple[type[Settings], tuple[dict[str, Scalar]]]:
        return (Settings, (self._items,))

    def to_json(self) -> dict[str, Scalar]:
        return dict(self._items)


def _normal(value: Scalar) -> Scalar:
    # 1 and 1.0 are the same point; so are floats equal to 12 significant digits.
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return value
    return float(f"{float(value):.12g}")


@dataclass(frozen=True, eq=False)
class Point:
    """One candidate: a method of the pruning catalogue at a sparsity, with the method's settings it
    sets, and the training and model settings it overrides."""

    pruning: PruningConfig
    training: Settings
    model: Settings

    @classmethod
    def of(
        cls,
        method: str,
        sparsity: float,
        params: Mapping[str, Scalar] | None = None,
        training: Mapping[str, Scalar] | None = None,
        model: Mapping[str, Scalar] | None = None,
    ) -> Point:
        """A point from its parts; raises ``PruningConfigError`` naming the field for settings the
        catalogue refuses (``pruning.params.deathRate: ...``)."""
        pruning = parse_pruning_config({"method": method, "sparsity": float(sparsity), "params": dict(params or {})})
        return cls(pruning, Settings(training), Settings(model))

    @classmethod
    def dense(cls) -> Point:
        """The dense reference: method ``none`` at sparsity 0."""
        return DENSE

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Point:
        """A point from its JSON form (``to_json``); sections left out are empty."""
        return cls.of(
            data["method"], data.get("sparsity", 0.0), data.get("params"), data.get("training"), data.get("model")
        )

    # ---- what it is ----

    @property
    def method(self) -> str:
        return self.pruning.method

    @property
    def sparsity(self) -> float:
        return self.pruning.sparsity

    @cached_property
    def params(self) -> Settings:
        """The method's settings this point sets (camelCase), without the defaults it leaves."""
        given = self.pruning.params.model_dump(by_alias=True, include=self.pruning.params.model_fields_set)
        return Settings(given)

    @property
    def is_dense(self) -> bool:
        return self.method == "none"

    def to_json(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "sparsity": self.sparsity,
            "params": self.params.to_json(),
            "training": self.training.to_json(),
            "model": self.model.to_json(),
        }

    @cached_property
    def key(self) -> str:
        """A string equal for equal points, for duplicate detection."""
        normal = {
            key: ({k: _normal(v) for k, v in value.items()} if isinstance(value, dict) else _normal(value))
            for key, value in self.to_json().items()
        }
        return json.dumps(normal, sort_keys=True)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Point) and self.key == other.key

    def __hash__(self) -> int:
        return hash(self.key)

    def __repr__(self) -> str:
        return f"Point({self.describe()})"

    def _settings(self, digits: str) -> list[str]:
        return [
            f"{key}={value:{digits}}" if isinstance(value, float) else f"{key}={value}"
            for section in (self.params, self.training, self.model)
            for key, value in section.items()
        ]

    def describe(self) -> str:
        """Short form, for tables and logs: ``selfish s=0.67 deathRate=0.5 lr=20``."""
        return " ".join([self.method, f"s={self.sparsity:g}", *self._settings("g")])

    def sentence(self) -> str:
        """Long form, for summaries: ``selfish at 75% sparsity (death=threshold, deathRate=0.52)``."""
        settings = self._settings(".4g")
        return f"{self.method} at {self.sparsity:.0%} sparsity" + (f" ({', '.join(settings)})" if settings else "")


DENSE = Point(METHODS["none"].settings.model_validate({"method": "none"}), Settings(), Settings())  # type: ignore[arg-type]

"""Dagster run configuration derived from the ML package's configuration classes.

Every knob is defined once, in `algorhythms_ml` (a `@config_class` with its type, default and
description). `launchpad_config` builds the asset's `dg.Config` from one or more of those classes,
field for field, so the launchpad shows the same defaults and meanings; `to(...)` gives back the
ML configuration by field name. Nothing is copied or renamed by hand.
"""

from __future__ import annotations

import dataclasses
from typing import Any, TypeVar

import dagster as dg
import pydantic

Knobs = TypeVar("Knobs")


class DerivedConfig(dg.Config):
    """A launchpad configuration whose fields come from ML configuration classes."""

    def to(self, config_class: type[Knobs]) -> Knobs:
        """The ML configuration `config_class` with this run's values of its fields."""
        names = [f.name for f in dataclasses.fields(config_class)]
        return config_class(**{name: getattr(self, name) for name in names})


def launchpad_config(name: str, *config_classes: type) -> type:
    """A `dg.Config` subclass called `name` with every field of `config_classes` (their names
    must not collide), the same types, defaults and descriptions."""
    fields: dict[str, Any] = {}
    for config_class in config_classes:
        for field_name, info in config_class.__pydantic_fields__.items():
            if field_name in fields:
                raise ValueError(f"{name}: field {field_name!r} is defined twice")
            fields[field_name] = (info.annotation, info)
    docs = [c.__doc__ for c in config_classes if c.__doc__]
    return pydantic.create_model(
        name, __base__=DerivedConfig, __doc__=" ".join(docs), __module__=__name__, **fields
    )


def built_with(instance: dg.DagsterInstance, asset: str, config_class: type[Knobs]) -> Knobs:
    """The ML configuration `config_class` that `asset`'s latest materialisation was built with
    (its "config" metadata), the defaults where it recorded none."""
    event = instance.get_latest_materialization_event(dg.AssetKey(asset))
    recorded = event.asset_materialization.metadata.get("config") if event else None
    values = recorded.value if recorded is not None else {}
    names = {f.name for f in dataclasses.fields(config_class)}
    return config_class(**{k: v for k, v in (values or {}).items() if k in names})

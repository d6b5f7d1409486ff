"""Run-time configuration: every knob is defined once, in the ML package, with its default and
its meaning.

A configuration class is a frozen pydantic dataclass (`@config_class`): it validates its values,
refuses unknown keys, and still works with `dataclasses.replace` and `asdict`. The Dagster assets
derive their launchpad configuration from these classes (algorhythms_assets.config), so a field's
type, default and description are written here and nowhere else.
"""

from __future__ import annotations

from pydantic import ConfigDict
from pydantic.dataclasses import dataclass

config_class = dataclass(frozen=True, config=ConfigDict(extra="forbid"))

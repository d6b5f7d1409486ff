"""Slice partitions: one per MPD slice file, keyed by algorhythms_ml.mpd.slices.slice_key
(`mpd.slice.0-999`), and which of a folder's slice files are not registered yet."""

from collections.abc import Iterable

import dagster as dg

mpd_slices = dg.DynamicPartitionsDefinition(name="mpd_slices")


def unregistered_slices(instance: dg.DagsterInstance, keys: Iterable[str]) -> list[str]:
    """The slice keys among `keys` that are not partitions yet, in order."""
    known = set(instance.get_dynamic_partitions(mpd_slices.name))
    return sorted(k for k in keys if k not in known)


def register_new_slices(instance: dg.DagsterInstance, keys: Iterable[str]) -> list[str]:
    """Add the slice keys that are not partitions yet; the keys added. (A sensor asks for the
    same through its result's `dynamic_partitions_requests` instead: see sensors.py.)"""
    new = unregistered_slices(instance, keys)
    if new:
        instance.add_dynamic_partitions(mpd_slices.name, new)
    return new

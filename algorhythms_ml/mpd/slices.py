"""MPD slice files and their keys.

A slice file is named `mpd.slice.<first pid>-<last pid>.json`; its key is that name without
`.json` (`mpd.slice.0-999`). The key names the file's partition in the warehouse tables and in
Dagster, and leads back to the file in the folder that slices are dropped into.
"""

from __future__ import annotations

PREFIX = "mpd.slice."
SUFFIX = ".json"
SLICE_GLOB = f"{PREFIX}*{SUFFIX}"


def slice_key(file: str) -> str:
    """The key of a slice file, from its name, path or URI."""
    name = file.rstrip("/").rsplit("/", 1)[-1]
    return name[: -len(SUFFIX)] if name.endswith(SUFFIX) else name


def slice_file_name(key: str) -> str:
    """The name of the slice file whose key is `key`."""
    return f"{key}{SUFFIX}"


def slice_key_for_pids(first: int, last: int) -> str:
    """The key of the slice holding playlists `first` to `last` (both included)."""
    return f"{PREFIX}{first}-{last}"

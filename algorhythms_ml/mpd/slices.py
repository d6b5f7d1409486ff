"""MPD slice files and their keys.

A slice file is named `mpd.slice.<first pid>-<last pid>.json` (or `.json.gz`, gzipped); its key
is that name without the suffix (`mpd.slice.0-999`). The key names the file's partition in the
warehouse tables and in Dagster, and leads back to the file in the folder that slices are
dropped into (or its `data/`, as the official archive unzips).
"""

from __future__ import annotations

from pathlib import Path

PREFIX = "mpd.slice."
SUFFIX = ".json"
GZIP_SUFFIX = ".json.gz"
SLICE_GLOB = f"{PREFIX}*{SUFFIX}"
SLICE_GLOBS = (SLICE_GLOB, f"{PREFIX}*{GZIP_SUFFIX}")
# The official archive unzips to a folder whose slices are in data/.
ARCHIVE_DATA = "data"


def slice_key(file: str) -> str:
    """The key of a slice file (`.json`, or gzipped `.json.gz`), from its name, path or URI."""
    name = file.rstrip("/").rsplit("/", 1)[-1]
    for suffix in (GZIP_SUFFIX, SUFFIX):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def slice_folder(folder: Path) -> Path:
    """Where a folder's slices are: the folder itself, or its `data/` (the official archive's
    layout) when only that holds slices."""
    if not _slices_in(folder) and _slices_in(folder / ARCHIVE_DATA):
        return folder / ARCHIVE_DATA
    return folder


def _slices_in(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(p for pattern in SLICE_GLOBS for p in folder.glob(pattern) if p.is_file())


def slice_files(folder: Path) -> dict[str, Path]:
    """Key -> file of every slice in `folder` (or its `data/`); a key with both a .json and a
    .json.gz file takes the .json."""
    files: dict[str, Path] = {}
    for path in _slices_in(slice_folder(folder)):
        key = slice_key(path.name)
        if key not in files or path.name.endswith(SUFFIX):
            files[key] = path
    return dict(sorted(files.items()))


def slice_file_name(key: str, gzipped: bool = False) -> str:
    """The name of the slice file whose key is `key` (`gzipped`: its .json.gz)."""
    return f"{key}{GZIP_SUFFIX if gzipped else SUFFIX}"


def slice_key_for_pids(first: int, last: int) -> str:
    """The key of the slice holding playlists `first` to `last` (both included)."""
    return f"{PREFIX}{first}-{last}"

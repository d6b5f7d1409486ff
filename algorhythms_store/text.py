"""Playlist titles as lookup keys, the same in the pipeline (building the title table) and in the
service (answering a title)."""

from __future__ import annotations

import re
import unicodedata

WORD = re.compile(r"\w+")
MAX_KEYS = 12


def normalize_title(name: str | None) -> str:
    """Lower-cased NFKC text with runs of whitespace collapsed."""
    if not name:
        return ""
    return " ".join(unicodedata.normalize("NFKC", name).lower().split())


def title_keys(name: str | None) -> list[str]:
    """The whole normalised title (prefixed "="), its words, and its symbols (emoji count as
    words: MPD has many titles made of emoji only), without repeats, in order."""
    text = normalize_title(name)
    if not text:
        return []
    keys = ["=" + text]
    keys += WORD.findall(text)
    keys += [c for c in text if unicodedata.category(c) in ("So", "Sk", "Sm")]
    return list(dict.fromkeys(keys))[:MAX_KEYS]

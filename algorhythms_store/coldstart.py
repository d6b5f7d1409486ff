"""The published cold-start model: its feature encoding and its forward pass, in numpy.

The pipeline trains the model (algorhythms_ml.embeddings.coldstart) and publishes its weights as
plain arrays plus a JSON spec; the service embeds an unknown song from its features with
`ColdStartModel.embed`. Hashing is `crc32("<field>:<value>") % buckets` on stripped,
lower-cased text, for the fields artist, album and token (title words).
"""

from __future__ import annotations

import io
import re
import zlib
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

TOKEN = re.compile(r"[a-z0-9]+")
MAX_TOKENS = 16
FORMAT = "algorhythms-coldstart-v1"
ARRAYS = ("artist", "album", "token", "hidden_w", "hidden_b", "out_w", "out_b")
# Request field -> the track_metadata column the encoder reads.
FEATURE_COLUMNS = {
    "name": "track_name",
    "artist": "artist_name",
    "album": "album_name",
    "duration_ms": "duration_ms",
}


def bucket(field_name: str, value: str, buckets: int) -> int:
    return zlib.crc32(f"{field_name}:{value.strip().lower()}".encode()) % buckets


def tokens(title: str) -> list[str]:
    return TOKEN.findall(title.lower())[:MAX_TOKENS]


@dataclass
class EncodedFeatures:
    artist: np.ndarray  # (n,) bucket ids
    album: np.ndarray  # (n,)
    token_ids: np.ndarray  # (n, MAX_TOKENS) bucket ids, padded with -1
    numeric: np.ndarray  # (n, 2 + n_external): log duration, duration missing, external...


@dataclass
class FeatureSpec:
    """What encoding needs besides the hash: bucket counts and standardisation constants."""

    buckets: int
    token_buckets: int
    external: list[str]
    duration_mean: float
    duration_std: float
    external_mean: list[float] = field(default_factory=list)
    external_std: list[float] = field(default_factory=list)

    @classmethod
    def from_json(cls, spec: dict) -> FeatureSpec:
        return cls(
            buckets=spec["buckets"],
            token_buckets=spec["token_buckets"],
            external=list(spec["external"]),
            duration_mean=spec["duration_mean"],
            duration_std=spec["duration_std"],
            external_mean=list(spec["external_mean"]),
            external_std=list(spec["external_std"]),
        )

    def to_json(self, output_dim: int) -> dict:
        return {
            "format": FORMAT,
            "hash": "crc32(field:value.strip().lower()) % buckets; fields artist, album, token",
            "token_pattern": TOKEN.pattern,
            "max_tokens": MAX_TOKENS,
            "buckets": self.buckets,
            "token_buckets": self.token_buckets,
            "duration_mean": self.duration_mean,
            "duration_std": self.duration_std,
            "external": self.external,
            "external_mean": self.external_mean,
            "external_std": self.external_std,
            "output_dim": output_dim,
        }


def encode(frame: pd.DataFrame, spec: FeatureSpec) -> EncodedFeatures:
    """Encode rows with columns artist_name, album_name, track_name, duration_ms and the spec's
    external columns (any may be missing or null)."""
    n = len(frame)

    def col(name: str) -> pd.Series:
        return frame[name] if name in frame else pd.Series([None] * n, index=frame.index)

    def text(value) -> str:
        return "" if value is None or (isinstance(value, float) and np.isnan(value)) else str(value)

    artist = np.array([bucket("artist", text(a), spec.buckets) for a in col("artist_name")])
    album = np.array([bucket("album", text(a), spec.buckets) for a in col("album_name")])
    token_ids = np.full((n, MAX_TOKENS), -1, dtype=np.int64)
    for i, title in enumerate(col("track_name")):
        for j, tok in enumerate(tokens(text(title))):
            token_ids[i, j] = bucket("token", tok, spec.token_buckets)
    duration = pd.to_numeric(col("duration_ms"), errors="coerce").to_numpy(dtype=float)
    missing = np.isnan(duration)
    log_d = np.where(
        missing, 0.0, (np.log1p(np.nan_to_num(duration)) - spec.duration_mean) / spec.duration_std
    )
    numeric = [log_d, missing.astype(float)]
    for name, mean, std in zip(spec.external, spec.external_mean, spec.external_std, strict=True):
        values = pd.to_numeric(col(name), errors="coerce").to_numpy(dtype=float)
        numeric.append(np.where(np.isnan(values), 0.0, (values - mean) / std))
    return EncodedFeatures(
        artist=artist.astype(np.int64).reshape(n),
        album=album.astype(np.int64).reshape(n),
        token_ids=token_ids,
        numeric=np.stack(numeric, 1).astype(np.float32),
    )


def forward_numpy(arrays: dict[str, np.ndarray], spec: dict, frame: pd.DataFrame) -> np.ndarray:
    """The exported model's forward pass: (n, output_dim)."""
    enc = encode(frame, FeatureSpec.from_json(spec))
    mask = enc.token_ids >= 0
    bags = np.zeros((len(frame), arrays["token"].shape[1]), dtype=np.float32)
    for i in range(len(frame)):
        if mask[i].any():
            bags[i] = arrays["token"][enc.token_ids[i, mask[i]]].mean(0)
    x = np.concatenate(
        [arrays["artist"][enc.artist], arrays["album"][enc.album], bags, enc.numeric], 1
    )
    h = np.maximum(x @ arrays["hidden_w"].T + arrays["hidden_b"], 0)
    return (h @ arrays["out_w"].T + arrays["out_b"]).astype(np.float32)


def pack_arrays(arrays: dict[str, np.ndarray]) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def unpack_arrays(data: bytes) -> dict[str, np.ndarray]:
    with np.load(io.BytesIO(data)) as npz:
        return {name: npz[name] for name in ARRAYS}


def _informative(value) -> bool:
    """Whether a feature value says anything: text with a character other than whitespace, or
    a number (a boolean is neither)."""
    if isinstance(value, str):
        return bool(value.strip())
    return isinstance(value, int | float) and not isinstance(value, bool)


@dataclass
class ColdStartModel:
    """A published cold-start model, ready to embed songs described by their features."""

    arrays: dict[str, np.ndarray]
    spec: dict

    @property
    def external(self) -> list[str]:
        return list(self.spec["external"])

    def usable(self, features: dict) -> bool:
        """Whether `features` (request field names, plus external feature names) say anything."""
        known = set(FEATURE_COLUMNS) | set(self.external)
        return any(_informative(features.get(k)) for k in known)

    def embed(self, songs: list[dict]) -> np.ndarray:
        """(n, dim) vectors for songs given as request features
        (`name`, `artist`, `album`, `duration_ms`, and the published external feature names)."""
        rows = [
            {FEATURE_COLUMNS.get(k, k): v for k, v in song.items() if v is not None}
            for song in songs
        ]
        frame = pd.DataFrame.from_records(rows, index=range(len(rows)))
        return forward_numpy(self.arrays, self.spec, frame)

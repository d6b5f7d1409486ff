"""Integer, float and boolean arrays read as numpy arrays: a statement run with `binary=True`
returns its int4[], int8[], float4[] and bool[] columns as numpy arrays, decoded in one
vectorised step instead of one Python object per element (a continuation reads about 10^5)."""

from __future__ import annotations

import struct

import numpy as np
from psycopg import AsyncConnection
from psycopg.adapt import Buffer, Loader
from psycopg.pq import Format

_HEADER = struct.Struct(">iii")  # dimensions, has nulls, element type
_DIMENSION = struct.Struct(">ii")  # length, lower bound


def decode(data: Buffer, element: np.dtype) -> np.ndarray:
    """A PostgreSQL array without nulls, in the binary wire format, whose elements are
    big-endian `element`s (each after its 4-byte size), flattened in row-major order (an
    array of arrays, as array_agg makes of vectors, comes back as one flat array)."""
    dimensions, has_nulls, _ = _HEADER.unpack_from(data)
    if dimensions == 0:
        return np.zeros(0, element.newbyteorder("="))
    if has_nulls:
        raise ValueError("only arrays without nulls are read as numpy arrays")
    length = 1
    for d in range(dimensions):
        length *= _DIMENSION.unpack_from(data, _HEADER.size + d * _DIMENSION.size)[0]
    items = np.frombuffer(
        data,
        np.dtype([("size", ">i4"), ("value", element)]),
        count=length,
        offset=_HEADER.size + dimensions * _DIMENSION.size,
    )
    return items["value"].astype(element.newbyteorder("="))


def _loader(element: str) -> type[Loader]:
    dtype = np.dtype(element)

    class NumpyArrayLoader(Loader):
        format = Format.BINARY

        def load(self, data: Buffer) -> np.ndarray:
            return decode(data, dtype)

    return NumpyArrayLoader


LOADERS = {"int4": _loader(">i4"), "int8": _loader(">i8"), "float4": _loader(">f4")}
LOADERS["bool"] = _loader("?")


def register_numpy_arrays(conn: AsyncConnection) -> None:
    """Load binary int4[], int8[], float4[] and bool[] results on `conn` as numpy arrays."""
    for name, loader in LOADERS.items():
        conn.adapters.register_loader(conn.adapters.types[name].array_oid, loader)

"""Binary COPY of one-dimensional int4[] and float4[] values from numpy arrays (or lists).

psycopg dumps a Python list element by element; a published table of arrays (`track_neighbors`:
one row of a few hundred neighbours per track) spends most of its COPY there. These dumpers
write PostgreSQL's binary array format (array_send: dimensions, element type, then a length
and a big-endian value per element) with one numpy conversion per array. `register(cursor)`
makes a cursor's COPY use them for the int4[] and float4[] columns it sets with `set_types`.
"""

from __future__ import annotations

import struct

import numpy as np
from psycopg import DataError
from psycopg.adapt import Dumper
from psycopg.postgres import types
from psycopg.pq import Format

INT4_MIN, INT4_MAX = -(2**31), 2**31 - 1


def array_bytes(values, element: str) -> bytes:
    """`values` (one dimension, no nulls) in the binary format of `element`[] ("int4" or
    "float4")."""
    array = np.asarray(values)
    if array.ndim != 1:
        raise DataError(f"{element}[] takes one dimension, got {array.ndim}")
    if array.dtype == object:
        raise DataError(f"{element}[] takes numbers without nulls")
    if element == "int4" and array.size:
        if array.dtype.kind not in "iub":
            raise DataError(f"int4[] takes integers, got {array.dtype}")
        if array.min() < INT4_MIN or array.max() > INT4_MAX:
            raise DataError("int4[] value out of range")
    if element == "float4" and array.size:
        finite = array[np.isfinite(array)]
        if finite.size and np.abs(finite).max() > np.finfo(np.float32).max:
            raise DataError("float4[] value out of range")
    oid = types[element].oid
    if not array.size:
        return struct.pack(">iiI", 0, 0, oid)
    body = np.empty(
        array.size, dtype=[("length", ">i4"), ("value", ">i4" if element == "int4" else ">f4")]
    )
    body["length"] = 4
    body["value"] = array
    return struct.pack(">iiIii", 1, 0, oid, array.size, 1) + body.tobytes()


class Int4ArrayDumper(Dumper):
    format = Format.BINARY
    oid = types["int4"].array_oid

    def dump(self, obj) -> bytes:
        return array_bytes(obj, "int4")


class Float4ArrayDumper(Dumper):
    format = Format.BINARY
    oid = types["float4"].array_oid

    def dump(self, obj) -> bytes:
        return array_bytes(obj, "float4")


def register(cursor) -> None:
    """Use these dumpers for the cursor's COPY columns of type int4[] and float4[]."""
    for dumper in (Int4ArrayDumper, Float4ArrayDumper):
        cursor.adapters.register_dumper(None, dumper)

"""Declare a record once, as a dataclass; its Arrow schema is derived from the annotations.

Why derive instead of writing both: a dataclass and a hand-kept `pa.schema([...])` drift apart.
Here the dataclass is the single declaration, `Annotated[int, pa.timestamp(...)]` pins an Arrow
type where the Python type is ambiguous, and fields marked `transient()` travel with the record
in memory (e.g. revision text) but never reach Parquet.
"""
from __future__ import annotations

import dataclasses
import types
import typing
from typing import Annotated, Any, ClassVar, Iterable, Optional, Union

import pyarrow as pa
import pyarrow.parquet as pq

# In memory: int seconds since the epoch. Stored: timestamp[ms, UTC], because Parquet has no seconds unit
# and a round trip must give back exactly the declared type.
Timestamp = Annotated[int, pa.timestamp("s", tz="UTC")]
_STORED_AS = {pa.timestamp("s", tz="UTC"): pa.timestamp("ms", tz="UTC")}
Int32 = Annotated[int, pa.int32()]
Int16 = Annotated[int, pa.int16()]

_PY_TO_ARROW = {str: pa.string(), int: pa.int64(), bool: pa.bool_(), float: pa.float64(), bytes: pa.binary()}


def transient(default: Any = None) -> Any:
    """A field kept in memory only (excluded from the Arrow schema)."""
    return dataclasses.field(default=default, metadata={"transient": True}, compare=False, repr=False)


def _arrow_type(tp: Any) -> tuple[pa.DataType, bool]:
    """Map an annotation to (arrow type, nullable)."""
    nullable = False
    origin = typing.get_origin(tp)
    if origin in (Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) != 1:
            raise TypeError(f"only Optional[X] unions are supported, got {tp}")
        inner, _ = _arrow_type(args[0])
        return inner, True
    if origin is Annotated:
        base, arrow, *_ = typing.get_args(tp)
        return arrow, nullable
    if origin is list:
        (item,) = typing.get_args(tp)
        inner, _ = _arrow_type(item)
        return pa.list_(inner), nullable
    if tp in _PY_TO_ARROW:
        return _PY_TO_ARROW[tp], nullable
    raise TypeError(f"no Arrow mapping for {tp!r}")


class Table:
    """Arrow/Parquet view of one record class: schema, partition columns, conversion, validation."""

    def __init__(self, cls: type, name: str, partition_by: tuple[str, ...]):
        self.cls = cls
        self.name = name
        self.partition_by = partition_by
        hints = typing.get_type_hints(cls, include_extras=True)
        fields = []
        self._in_memory_type: dict[str, pa.DataType] = {}
        for f in dataclasses.fields(cls):
            if f.metadata.get("transient"):
                continue
            arrow, nullable = _arrow_type(hints[f.name])
            self._in_memory_type[f.name] = arrow
            arrow = _STORED_AS.get(arrow, arrow)
            fields.append(pa.field(f.name, arrow, nullable=nullable, metadata={"doc": f.metadata.get("doc", "")} if f.metadata.get("doc") else None))
        self.schema = pa.schema(fields, metadata={"revmine.table": name})
        # Partition columns live in the directory names (hive style), not inside the files.
        self.file_schema = pa.schema([f for f in self.schema if f.name not in partition_by], metadata=self.schema.metadata)
        self.columns = [f.name for f in self.schema]

    def to_arrow(self, records: Iterable[Any], *, file_only: bool = False) -> pa.Table:
        schema = self.file_schema if file_only else self.schema
        names = schema.names
        cols = {n: [] for n in names}
        for r in records:
            for n in names:
                cols[n].append(getattr(r, n))
        table = pa.Table.from_arrays([self.array(n, cols[n]) for n in names], schema=schema)
        self.validate(table, file_only=file_only)
        return table

    def array(self, name: str, values: list) -> pa.Array:
        """Arrow array of a column from in-memory values, converted to the stored type."""
        arr = pa.array(values, type=self._in_memory_type[name])
        stored = self.schema.field(name).type
        return arr if arr.type == stored else arr.cast(stored)

    def validate(self, table: pa.Table, *, file_only: bool = False, where: str = "") -> None:
        """Raise if `table` does not match the declared schema (types, order, non-null columns)."""
        schema = self.file_schema if file_only else self.schema
        if not table.schema.equals(schema, check_metadata=False):
            raise SchemaMismatch(f"{self.name}{where}: schema differs from declaration.\n"
                                 f"expected: {schema}\n     got: {table.schema}")
        for f in schema:
            if not f.nullable and table.column(f.name).null_count:
                raise SchemaMismatch(f"{self.name}{where}: column {f.name!r} is declared non-null "
                                     f"but has {table.column(f.name).null_count} nulls")

    def validate_parquet(self, path: str) -> int:
        """Validate a written Parquet file against the file schema; return its row count."""
        table = pq.read_table(path, partitioning=None)
        self.validate(table, file_only=True, where=f" ({path})")
        return table.num_rows

    def from_arrow(self, table: pa.Table) -> list[Any]:
        return [self.cls(**row) for row in table.to_pylist()]


TABLES: dict[str, Table] = {}


def record(name: Optional[str] = None, partition_by: tuple[str, ...] = ()):
    """Class decorator: make `cls` a slotted dataclass and register its Arrow table `name`."""

    def wrap(cls):
        cls = dataclasses.dataclass(slots=True)(cls)
        if name is not None:
            table = Table(cls, name, partition_by)
            cls.TABLE = table
            TABLES[name] = table
        return cls

    return wrap


class SchemaMismatch(ValueError):
    pass


def doc(text: str, default: Any = dataclasses.MISSING, factory: Any = dataclasses.MISSING) -> Any:
    """A documented field: the text goes into the Arrow field metadata and the dataset card."""
    return dataclasses.field(default=default, default_factory=factory, metadata={"doc": text})


__all__ = ["record", "transient", "doc", "Timestamp", "Int32", "Int16", "TABLES", "Table", "SchemaMismatch", "ClassVar"]

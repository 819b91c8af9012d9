"""Parquet files and Hugging Face `save_to_disk` folders, in and out.

Each row becomes a record exactly as a JSONL line does (rendered as one JSON object, so format
detection, validation and rewriting are the JSONL path's). On output the rows go back into a
table with the input's schema, so the column order, every column and the column types survive;
a JSONL input written to Parquet gets the schema pyarrow infers. Only JSON-representable column
types (strings, numbers, booleans, lists, structs, nulls) can round-trip through a rewrite: any
other type (binary, timestamps, ...) stops the run at reading time, naming the column.

Parquet goes through pyarrow directly and folders through `datasets.load_from_disk`, which maps
the folder's Arrow files in place: neither copies the user's rows into a cache elsewhere.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from .errors import InputError

KINDS = ("jsonl", "parquet", "hf")


@dataclass
class Table:
    kind: str  # "parquet" or "hf"
    rows: list[dict]
    schema: object  # pyarrow.Schema
    sha256: str  # of the file's bytes (a folder: of its data files, in name order)


def is_hf_folder(path: str) -> bool:
    p = Path(path)
    return p.is_dir() and (p / "dataset_info.json").exists() and (p / "state.json").exists()


def table_kind(path: str) -> str | None:
    """'parquet' or 'hf' for a tabular input, None for JSONL (or stdin)."""
    if path == "-":
        return None
    if str(path).endswith(".parquet"):
        return "parquet"
    return "hf" if is_hf_folder(path) else None


def output_kind(path: str, requested: str = "auto", input_kind: str | None = None) -> str:
    """--output-format, else by OUT: `.parquet` -> parquet, a name without a suffix after a
    folder input -> folder, anything else (`.jsonl`, `.jsonl.gz`, `-`) -> JSONL."""
    if requested != "auto":
        if requested not in KINDS:
            raise InputError(f"unknown --output-format {requested!r}; choose auto, "
                             f"{', '.join(KINDS)}")
        if requested != "jsonl" and path == "-":
            raise InputError(f"--output-format {requested} cannot go to stdout")
        return requested
    if str(path).endswith(".parquet"):
        return "parquet"
    if input_kind == "hf" and path != "-" and not Path(path).suffix:
        return "hf"
    return "jsonl"


def _check_types(schema, path: str) -> None:
    import pyarrow as pa

    def json_like(t) -> bool:
        if pa.types.is_struct(t):
            return all(json_like(t.field(i).type) for i in range(t.num_fields))
        if pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t):
            return json_like(t.value_type)
        return (pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_integer(t)
                or pa.types.is_floating(t) or pa.types.is_boolean(t) or pa.types.is_null(t))

    bad = [f"{f.name} ({f.type})" for f in schema if not json_like(f.type)]
    if bad:
        raise InputError(f"column(s) {', '.join(bad)} cannot round-trip through a rewrite; "
                         "only text, numbers, booleans, lists and structs can", path)


def read_table(path: str, kind: str) -> Table:
    try:
        if kind == "parquet":
            import pyarrow.parquet as pq

            table = pq.read_table(path)
            files = [Path(path)]
        else:
            import datasets

            ds = datasets.load_from_disk(path)
            if not isinstance(ds, datasets.Dataset):
                raise InputError("a DatasetDict folder: pass one split's folder", path)
            table = ds.data.table
            files = sorted(Path(path).glob("*.arrow"))
    except InputError:
        raise
    except Exception as exc:  # pyarrow and datasets raise many types for one broken file
        raise InputError(f"cannot read {kind} data: {str(exc).splitlines()[0][:200]}",
                         path) from None
    _check_types(table.schema, path)
    from .datafile import hash_file  # datafile imports this module lazily too

    digest = hashlib.sha256()
    for f in files:
        hash_file(f, digest)
    return Table(kind, table.to_pylist(), table.schema, digest.hexdigest())


def to_arrow(rows: list[dict], schema=None):
    """The rows as a pyarrow Table, cast to `schema` (the input's) when given."""
    import pyarrow as pa

    try:
        return pa.Table.from_pylist(rows, schema=schema)
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise InputError(f"the rows do not fit one table: {str(exc).splitlines()[0][:200]}")


def write_parquet(fh: IO[bytes], rows: list[dict], schema=None) -> str:
    """Write the rows as Parquet to an open binary file; returns the sha256 of the table's
    rows rendered as JSON lines (Parquet bytes depend on the writer's version)."""
    import pyarrow.parquet as pq

    table = to_arrow(rows, schema)
    pq.write_table(table, fh)
    return rows_sha256(table)


def write_hf_folder(folder: str, rows: list[dict], schema=None) -> str:
    import datasets

    table = to_arrow(rows, schema)
    datasets.Dataset(table).save_to_disk(folder)
    return rows_sha256(table)


def rows_sha256(table) -> str:
    import json

    digest = hashlib.sha256()
    for row in table.to_pylist():
        digest.update((json.dumps(row, ensure_ascii=False, sort_keys=False) + "\n").encode())
    return digest.hexdigest()

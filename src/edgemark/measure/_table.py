"""Reading the columns an estimator needs from a CSV file, with errors that name row and column.

PyArrow's CSV reader is used when the ``train`` extra is installed (fast, multi-threaded);
otherwise the standard library's ``csv`` module. Text columns come back factorised
(integer codes plus the distinct values) so estimators group with ``np.bincount``.
"""

from __future__ import annotations

import csv
import importlib.util
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from edgemark.errors import MeasureError

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class Codes:
    """A text column as integer codes into ``names`` (``names[codes[i]]`` is row i's value)."""

    codes: IntArray
    names: tuple[str, ...]

    @classmethod
    def of(cls, values: Sequence[object] | npt.NDArray[np.generic]) -> Codes:
        """Factorise any sequence of values (compared as strings)."""
        names, codes = np.unique(np.asarray(values).astype(str), return_inverse=True)
        return cls(codes.astype(np.int64).reshape(-1), tuple(str(n) for n in names))


@dataclass(frozen=True, slots=True)
class Columns:
    """The requested columns of a CSV file: numbers as float64 arrays, text as ``Codes``."""

    numbers: dict[str, FloatArray]
    text: dict[str, Codes]
    rows: int
    strings: dict[str, npt.NDArray[np.str_]]


def read_columns(
    path: Path,
    numbers: Sequence[str] = (),
    text: Sequence[str] = (),
    *,
    strings: Sequence[str] = (),
    what: str = "data",
) -> Columns:
    """Read ``numbers`` (as float64; empty or non-numeric cells raise), ``text`` columns
    (factorised) and ``strings`` columns (raw)."""
    path = Path(path)
    if not path.is_file():
        raise MeasureError(f"{what} file {path} does not exist; check the path")
    wanted = list(dict.fromkeys([*numbers, *text, *strings]))
    if importlib.util.find_spec("pyarrow") is not None:
        raw = _read_arrow(path, wanted, what)
    else:
        raw = _read_stdlib(path, wanted, what)
    if not raw or not len(next(iter(raw.values()))):
        raise MeasureError(f"{what} file {path} has no data rows")
    rows = len(next(iter(raw.values())))
    return Columns(
        numbers={name: _to_float(raw[name], name, path) for name in numbers},
        text={name: Codes.of(raw[name]) for name in text},
        rows=rows,
        strings={name: raw[name] for name in strings},
    )


def _missing(path: Path, header: Sequence[str], wanted: Sequence[str], what: str) -> None:
    absent = [c for c in wanted if c not in header]
    if absent:
        raise MeasureError(
            f"{what} file {path} has no column(s) {', '.join(map(repr, absent))}; "
            f"its columns are: {', '.join(header)}"
        )


def _read_arrow(path: Path, wanted: list[str], what: str) -> dict[str, npt.NDArray[np.str_]]:
    import pyarrow as pa
    import pyarrow.csv as pacsv

    try:
        with pacsv.open_csv(path) as reader:
            header = reader.schema.names
        _missing(path, header, wanted, what)
        options = pacsv.ConvertOptions(
            include_columns=wanted,
            column_types={c: pa.string() for c in wanted},
            strings_can_be_null=False,
        )
        table = pacsv.read_csv(path, convert_options=options)
    except (pa.ArrowInvalid, OSError) as exc:
        raise MeasureError(f"cannot read {what} file {path} as CSV: {exc}") from None
    return {c: table.column(c).to_numpy(zero_copy_only=False).astype(str) for c in wanted}


def _read_stdlib(path: Path, wanted: list[str], what: str) -> dict[str, npt.NDArray[np.str_]]:
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            reader = csv.reader(handle)
            header = next(reader, [])
            _missing(path, header, wanted, what)
            index = [header.index(c) for c in wanted]
            values: list[list[str]] = [[] for _ in wanted]
            for line, row in enumerate(reader, start=2):
                if len(row) != len(header):
                    raise MeasureError(
                        f"{what} file {path}, line {line}: {len(row)} fields, "
                        f"expected {len(header)}"
                    )
                for out, i in zip(values, index, strict=True):
                    out.append(row[i])
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise MeasureError(f"cannot read {what} file {path} as CSV: {exc}") from None
    return {c: np.asarray(v, dtype=str) for c, v in zip(wanted, values, strict=True)}


def _to_float(values: npt.NDArray[np.str_], name: str, path: Path) -> FloatArray:
    try:
        out = values.astype(np.float64)
    except ValueError:
        out = np.array([_float_or_nan(v) for v in values.tolist()], dtype=np.float64)
    bad = np.flatnonzero(~np.isfinite(out))
    if bad.size:
        row = int(bad[0])
        raise MeasureError(
            f"column {name!r} of {path} needs a finite number on every row; data row "
            f"{row + 1} holds {str(values[row])!r}. Fill or drop such rows first"
        )
    return out


def _float_or_nan(value: str) -> float:
    try:
        return float(value)
    except ValueError:
        return math.nan

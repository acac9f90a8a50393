"""Customer journeys in the common paths format, held as flat integer arrays.

A row is a distinct path (``'a > b > c'``) with its ``total_conversions``, ``total_null``
and optionally ``total_conversion_value``. The touches of all paths are one integer array
(``flat``) cut by ``lengths``, so attribution models run as numpy array operations over a
million paths rather than Python loops. Splitting uses PyArrow when installed.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from edgemark.errors import MeasureError
from edgemark.measure._table import read_columns

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class Paths:
    """Journeys as arrays: ``flat[starts[p] : starts[p] + lengths[p]]`` are path p's channels.

    Examples
    --------
    >>> p = Paths.from_strings(["a > b", "b"], [1, 0], [2, 3])
    >>> p.channels, p.flat.tolist(), p.lengths.tolist()
    (('a', 'b'), [0, 1, 1], [2, 1])
    """

    channels: tuple[str, ...]
    flat: IntArray
    lengths: IntArray
    conversions: FloatArray
    nulls: FloatArray
    values: FloatArray | None = None

    @property
    def starts(self) -> IntArray:
        """Index in ``flat`` of each path's first touch."""
        return np.concatenate([[0], np.cumsum(self.lengths)[:-1]]).astype(np.int64)

    @property
    def path_of_touch(self) -> IntArray:
        """For each touch in ``flat``, the index of its path."""
        return np.repeat(np.arange(self.lengths.size, dtype=np.int64), self.lengths)

    @property
    def position(self) -> IntArray:
        """For each touch, its 0-based position within its path."""
        return np.arange(self.flat.size, dtype=np.int64) - np.repeat(self.starts, self.lengths)

    @classmethod
    def from_strings(
        cls,
        paths: Sequence[str] | npt.NDArray[np.str_] | Any,
        conversions: Sequence[float] | FloatArray,
        nulls: Sequence[float] | FloatArray,
        values: Sequence[float] | FloatArray | None = None,
        *,
        sep: str = ">",
    ) -> Paths:
        """Parse ``'a > b > c'`` strings (channels trimmed of spaces) and check the counts.

        ``paths`` may also be a PyArrow string array, which is split without copies.
        """
        conv = _counts(conversions, "total_conversions")
        null = _counts(nulls, "total_null")
        n = len(paths)
        if conv.size != n or null.size != n:
            raise MeasureError(f"{n} paths but {conv.size} conversions and {null.size} nulls")
        value = None if values is None else _counts(values, "total_conversion_value")
        if value is not None and value.size != n:
            raise MeasureError(f"{n} paths but {value.size} conversion values")
        if n == 0:
            raise MeasureError("no paths to attribute")
        if importlib.util.find_spec("pyarrow") is not None:
            flat, lengths, names = _split_arrow(paths, sep)
        else:
            flat, lengths, names = _split_python(paths, sep)
        keep = conv + null > 0  # rows that stand for no journey carry no information
        if not keep.all():
            flat, lengths = flat[np.repeat(keep, lengths)], lengths[keep]
            conv, null = conv[keep], null[keep]
            value = None if value is None else value[keep]
        if lengths.size == 0:
            raise MeasureError("every path has total_conversions + total_null = 0")
        return cls(names, flat, lengths, conv, null, value)


def _counts(values: Sequence[float] | FloatArray, name: str) -> FloatArray:
    out = np.asarray(values, dtype=np.float64).reshape(-1)
    bad = np.flatnonzero(~(np.isfinite(out) & (out >= 0)))
    if bad.size:
        raise MeasureError(
            f"{name} must be a finite number >= 0 on every row; row {int(bad[0]) + 1} holds "
            f"{out[bad[0]]!r}"
        )
    return out


def _empty_touch(row: int) -> MeasureError:
    return MeasureError(
        f"path on data row {row + 1} has an empty channel name (e.g. 'a >  > b' or an empty "
        "path); every touch needs a channel"
    )


def _split_python(
    paths: Sequence[str] | npt.NDArray[np.str_], sep: str
) -> tuple[IntArray, IntArray, tuple[str, ...]]:
    index: dict[str, int] = {}
    flat: list[int] = []
    lengths = np.empty(len(paths), dtype=np.int64)
    for row, path in enumerate(paths):
        touches = [t.strip() for t in str(path).split(sep)]
        if "" in touches:
            raise _empty_touch(row)
        flat.extend(index.setdefault(t, len(index)) for t in touches)
        lengths[row] = len(touches)
    return (
        _sorted_codes(np.asarray(flat, dtype=np.int64), tuple(index)),
        lengths,
        tuple(sorted(index)),
    )


def _sorted_codes(codes: IntArray, names: tuple[str, ...]) -> IntArray:
    """Re-code so that channel codes follow the sorted channel names."""
    order = np.argsort(np.asarray(names, dtype=str), kind="stable")
    rank = np.empty(len(names), dtype=np.int64)
    rank[order] = np.arange(len(names))
    return rank[codes]


def _split_arrow(paths: Any, sep: str) -> tuple[IntArray, IntArray, tuple[str, ...]]:
    import pyarrow as pa
    import pyarrow.compute as pc

    if not isinstance(paths, pa.Array | pa.ChunkedArray):
        paths = pa.array(np.asarray(paths, dtype=str))
    parts = pc.split_pattern(paths, pattern=sep)
    lengths = pc.list_value_length(parts).to_numpy().astype(np.int64)
    touches = pc.utf8_trim_whitespace(pc.list_flatten(parts))
    if isinstance(touches, pa.ChunkedArray):  # one dictionary for all chunks
        touches = touches.combine_chunks()
    empty = pc.equal(pc.utf8_length(touches), 0).to_numpy(zero_copy_only=False)
    if empty.any():
        row = int(np.searchsorted(np.cumsum(lengths), int(np.argmax(empty)), side="right"))
        raise _empty_touch(row)
    encoded = pc.dictionary_encode(touches)
    names = tuple(str(x) for x in encoded.dictionary.to_pylist())
    codes = encoded.indices.to_numpy().astype(np.int64)
    return _sorted_codes(codes, names), lengths, tuple(sorted(names))


def read_paths(path: Path, *, sep: str = ">") -> Paths:
    """Read a paths CSV: ``path``, ``total_conversions``, ``total_null`` and optionally
    ``total_conversion_value``."""
    header = _header(Path(path))
    value = "total_conversion_value" if "total_conversion_value" in header else None
    numbers = ["total_conversions", "total_null", *([value] if value else [])]
    missing = [c for c in ("path", *numbers) if c not in header]
    if missing:
        raise MeasureError(
            f"paths file {path} has no column(s) {', '.join(map(repr, missing))}; "
            f"its columns are: {', '.join(header)}"
        )
    if importlib.util.find_spec("pyarrow") is not None:
        table = _read_arrow(Path(path), numbers)
        if table is not None:  # strings stay in Arrow: a million paths cost no copies
            return Paths.from_strings(
                table.column("path"),
                table.column("total_conversions").to_numpy(),
                table.column("total_null").to_numpy(),
                None if value is None else table.column(value).to_numpy(),
                sep=sep,
            )
    cols = read_columns(path, numbers=numbers, strings=["path"], what="paths")
    return Paths.from_strings(
        cols.strings["path"],
        cols.numbers["total_conversions"],
        cols.numbers["total_null"],
        None if value is None else cols.numbers[value],
        sep=sep,
    )


def _read_arrow(path: Path, numbers: list[str]) -> Any:
    """The columns as an Arrow table, or None when a cell does not parse (the generic reader
    then names the row)."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    types = {"path": pa.string(), **dict.fromkeys(numbers, pa.float64())}
    options = pacsv.ConvertOptions(include_columns=["path", *numbers], column_types=types)
    try:
        return pacsv.read_csv(path, convert_options=options)
    except pa.ArrowInvalid:
        return None


def _header(path: Path) -> list[str]:
    if not path.is_file():
        raise MeasureError(f"paths file {path} does not exist; check the path")
    with path.open(encoding="utf-8", errors="replace") as handle:
        return [h.strip() for h in handle.readline().rstrip("\r\n").split(",")]

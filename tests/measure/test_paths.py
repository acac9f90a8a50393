"""Reading the paths format: the Arrow and the pure-Python splitters agree, and bad files
get errors that name the row or the column."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edgemark.errors import MeasureError
from edgemark.measure import read_paths
from edgemark.measure._paths import _split_arrow, _split_python

STRINGS = ["search > email>tv", "tv", "email > email", "display > search"]


def test_arrow_and_python_splitters_agree() -> None:
    flat_a, len_a, names_a = _split_arrow(np.array(STRINGS), ">")
    flat_p, len_p, names_p = _split_python(STRINGS, ">")
    assert names_a == names_p == ("display", "email", "search", "tv")
    assert flat_a.tolist() == flat_p.tolist() == [2, 1, 3, 3, 1, 1, 0, 2]
    assert len_a.tolist() == len_p.tolist() == [3, 1, 2, 2]


def test_read_paths_with_value_and_rows_without_journeys(tmp_path: Path) -> None:
    path = tmp_path / "paths.csv"
    path.write_text(
        "path,total_conversions,total_null,total_conversion_value\n"
        "a > b,2,1,30.5\nb,0,0,0\nc > a,1,4,10\n"
    )
    paths = read_paths(path)
    assert paths.channels == ("a", "b", "c")
    assert paths.lengths.tolist() == [2, 2]  # the row with no journeys is left out
    assert paths.values is not None and paths.values.tolist() == [30.5, 10.0]


def test_bad_files_name_the_problem(tmp_path: Path) -> None:
    path = tmp_path / "paths.csv"
    path.write_text("path,total_conversions,total_null\na,1,x\n")
    with pytest.raises(MeasureError, match=r"'total_null'.*data row 1 holds 'x'"):
        read_paths(path)
    path.write_text("path,conv,total_null\na,1,2\n")
    with pytest.raises(MeasureError, match=r"no column.*'total_conversions'"):
        read_paths(path)
    path.write_text("path,total_conversions,total_null\na > ,1,2\n")
    with pytest.raises(MeasureError, match="data row 1 has an empty channel"):
        read_paths(path)

"""``cannonade.load(path)``: a saved run or benchmark, whichever the file holds."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any, Union

from ._benchmark import BenchmarkResult
from ._errors import ResultError
from ._result import Result, _parse_json, _read_file

__all__ = ["load", "load_data"]


def _is_benchmark(data: Mapping[str, Any]) -> bool:
    return data.get("kind") == "benchmark" or "executions" in data


def load_data(data: Any) -> Union[Result, BenchmarkResult]:
    """A run's or a benchmark's JSON object (already parsed), as its result object."""
    if not isinstance(data, Mapping):
        kind = "an array" if isinstance(data, list) else type(data).__name__
        raise ResultError(f"a cannonade result is a JSON object, this is {kind}")
    if _is_benchmark(data):
        return BenchmarkResult.from_dict(data)
    return Result.from_dict(data)


def load(path: Union[str, os.PathLike[str]]) -> Union[Result, BenchmarkResult]:
    """Read a file written by ``--json`` (or ``to_json()``): a :class:`Result` for a
    run, a :class:`BenchmarkResult` for a benchmark, told apart by what it holds.

    Older schema versions that this package knows load as they are (docs/format.md).
    Anything else (an empty, truncated or corrupted file, one of a newer version, or
    no cannonade result at all) raises :class:`ResultError` naming the file and what
    is wrong; a file that cannot be opened raises OSError.
    """
    return _read_file(path, lambda text: load_data(_parse_json(text, "result")))

"""HdrHistogram interval logs (format 1.3), which other HdrHistogram tools read as they are.

Each line is one interval's latency histogram, in nanoseconds, compressed (V2
deflate) and base64-encoded. Times are seconds from ``#[BaseTime]``;
``Interval_Max`` is in milliseconds.

The measured intervals are written *untagged*, every other interval is tagged with
its phase (``Tag=e1-warmup``): the reference tools (``HistogramLogProcessor`` in
Java, HdrHistogram_c) read only untagged lines unless asked for a tag, so
``HistogramLogProcessor -i run.hlog`` gives the measurement, and ``-tag e1-warmup``
the warm-up. A tag names the execution and the phase, ``eN-PHASE``. The measured
phase of an execution is its last measurement attempt: ``measure`` or, when the
driver measured again, the highest ``measure-K``; earlier attempts keep their tags.
With several executions the untagged lines are the measured intervals of all of
them in time order (each execution runs later than the one before), and a comment
line ``#[Measured: eN ...]`` gives each execution's time range, so no interval is
written twice (a reader that ignores tags, such as the PyPI ``hdrhistogram``
package, sees every interval exactly once).

:func:`decode_histogram` reads the V2 bytes back and :func:`encode_histogram` writes
them (pure Python, for PyPy too); :func:`add_histograms` adds histograms of one layout
bucket by bucket, which is how results are merged (percentiles are never averaged).
"""

from __future__ import annotations

import base64
import math
import re
import struct
import time
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Union

from ._result import Interval

__all__ = [
    "Histogram",
    "add_histograms",
    "decode_histogram",
    "encode_histogram",
    "measured_tags",
    "write_interval_log",
]

#: The maximum value column is written in units of 1e6 ns: milliseconds.
MAX_VALUE_UNIT_RATIO = 1e6
_TAG = re.compile(r"[^,\s]+\Z")
#: ``measure``, ``measure-2``, ``e1-measure``, ``e3-measure-2``: (execution, attempt).
_MEASURE = re.compile(r"(?:(e\d+)-)?measure(?:-(\d+))?\Z")


def measured_tags(tags: Iterable[str]) -> set[str]:
    """Of ``tags``, the ones that name a measured phase: per execution, its last attempt."""
    last: dict[Optional[str], tuple[int, str]] = {}
    for tag in tags:
        match = _MEASURE.match(tag)
        if match:
            attempt = int(match.group(2) or 1)
            execution = match.group(1)
            if execution not in last or attempt > last[execution][0]:
                last[execution] = (attempt, tag)
    return {tag for _, tag in last.values()}


def write_interval_log(
    path: Union[str, Path],
    rows: Iterable[tuple[str, float, Interval]],
    measured: Optional[set[str]] = None,
) -> Path:
    """Write ``(tag, start_unix_s, interval)`` rows as an interval log; return the path.

    The base time is the earliest start; rows keep their order. Rows whose tag is in
    ``measured`` (by default the measured phases, see :func:`measured_tags`) are written
    untagged; the others keep ``tag``.
    """
    rows = list(rows)
    for tag, _, _ in rows:
        if not _TAG.match(tag):
            raise ValueError(f"interval log tag {tag!r} must not be empty or hold commas or spaces")
    if measured is None:
        measured = measured_tags(tag for tag, _, _ in rows)
    base = min((start for _, start, _ in rows), default=time.time())
    stamp = time.strftime("%a %b %d %H:%M:%S UTC %Y", time.gmtime(base))
    lines = [
        "#[Written by cannonade]",
        "#[Histogram log format version 1.3]",
        f"#[StartTime: {base:.3f} (seconds since epoch), {stamp}]",
        f"#[BaseTime: {base:.3f} (seconds since epoch)]",
        "#[Untagged lines: the measured intervals; tagged lines: the other phases]",
    ]
    spans: dict[str, list[float]] = {}
    body = []
    for tag, start, interval in rows:
        if not interval.histogram:
            continue
        length = (interval.end_ns - interval.start_ns) / 1e9
        peak = interval.latency.max_ns / MAX_VALUE_UNIT_RATIO
        payload = base64.b64encode(interval.histogram).decode("ascii")
        offset = start - base
        if tag in measured:
            span = spans.setdefault(tag, [offset, offset + length])
            span[1] = offset + length
            body.append(f"{offset:.3f},{length:.3f},{peak:.3f},{payload}")
        else:
            body.append(f"Tag={tag},{offset:.3f},{length:.3f},{peak:.3f},{payload}")
    for tag, (first, last) in spans.items():
        lines.append(f"#[Measured: {tag} from {first:.3f} s to {last:.3f} s]")
    lines.append(
        '"StartTimestamp","Interval_Length","Interval_Max","Interval_Compressed_Histogram"'
    )
    out = Path(path)
    out.write_text("\n".join(lines + body) + "\n", encoding="ascii")
    return out


# --- HdrHistogram V2 (deflate) decoding -------------------------------------------
_V2_COOKIE = 0x1C849303
_V2_COMPRESSED_COOKIE = 0x1C849304


@dataclass(frozen=True)
class Histogram:
    """A decoded HdrHistogram: its layout and its non-empty buckets, in value order."""

    significant_figures: int
    lowest_discernible: int
    highest_trackable: int
    #: ``(bucket index, count)`` for every non-empty bucket, by increasing index.
    counts: tuple[tuple[int, int], ...]

    @property
    def total(self) -> int:
        return sum(count for _, count in self.counts)

    def value_range(self, index: int) -> tuple[int, int]:
        """The lowest and highest value counted in bucket ``index``."""
        largest_single_unit = 2 * 10**self.significant_figures
        half_magnitude = max(math.ceil(math.log2(largest_single_unit)), 1) - 1
        unit_magnitude = int(math.floor(math.log2(max(self.lowest_discernible, 1))))
        half_count = 1 << half_magnitude
        bucket = (index >> half_magnitude) - 1
        sub_bucket = (index & (half_count - 1)) + half_count
        if bucket < 0:
            sub_bucket -= half_count
            bucket = 0
        shift = bucket + unit_magnitude
        return sub_bucket << shift, ((sub_bucket + 1) << shift) - 1

    def buckets(self) -> Iterator[tuple[int, int, int]]:
        """``(lowest value, highest value, count)`` of each non-empty bucket."""
        for index, count in self.counts:
            low, high = self.value_range(index)
            yield low, high, count

    def value_at_percentile(self, percentile: float) -> int:
        """HdrHistogram's value at ``percentile`` (the bucket's highest equivalent value)."""
        total = self.total
        if total == 0:
            return 0
        wanted = max(1, math.ceil(min(percentile, 100.0) / 100.0 * total))
        seen = 0
        for low, high, count in self.buckets():
            seen += count
            if seen >= wanted:
                return low if percentile == 0 else high
        raise AssertionError("unreachable: the counts add up to the total")

    def spectrum(self) -> list[tuple[float, int]]:
        """``(percentile, value)`` at the top of every non-empty bucket, rising.

        The percentile is the share of values at or below the bucket; the last
        point is (100.0, highest value).
        """
        total = self.total
        out = []
        seen = 0
        for _, high, count in self.buckets():
            seen += count
            out.append((100.0 * seen / total, high))
        return out


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    # ZigZag LEB128 of at most 9 bytes; the 9th byte contributes all 8 of its bits.
    value = 0
    for i in range(9):
        if pos >= len(data):
            raise ValueError("HdrHistogram payload ends inside a count")
        byte = data[pos]
        pos += 1
        if i == 8:
            value |= byte << 56
            break
        value |= (byte & 0x7F) << (7 * i)
        if byte < 0x80:
            break
    return (value >> 1) ^ -(value & 1), pos


def decode_histogram(blob: bytes) -> Histogram:
    """Decode HdrHistogram V2 deflate bytes (as the engine writes); ValueError if not."""
    if len(blob) < 8:
        raise ValueError(f"not an HdrHistogram: {len(blob)} bytes")
    cookie, length = struct.unpack_from(">II", blob, 0)
    if cookie & ~0xF0 != _V2_COMPRESSED_COOKIE:
        raise ValueError(f"not an HdrHistogram V2 deflate encoding (cookie {cookie:#x})")
    try:
        inner = zlib.decompress(blob[8 : 8 + length])
    except zlib.error as error:
        raise ValueError(f"corrupt HdrHistogram: {error}") from None
    if len(inner) < 40:
        raise ValueError("truncated HdrHistogram header")
    cookie, payload_len, _offset, sigfigs, lowest, highest, _ratio = struct.unpack_from(
        ">IIIIqqd", inner, 0
    )
    if cookie & ~0xF0 != _V2_COOKIE:
        raise ValueError(f"bad HdrHistogram V2 encoding cookie {cookie:#x}")
    payload = inner[40 : 40 + payload_len]
    if len(payload) != payload_len:
        raise ValueError("truncated HdrHistogram payload")
    counts = []
    index = pos = 0
    while pos < len(payload):
        value, pos = _varint(payload, pos)
        if value < 0:  # a run of -value empty buckets
            index += -value
        else:
            if value:
                counts.append((index, value))
            index += 1
    return Histogram(sigfigs, lowest, highest, tuple(counts))


def _put_varint(out: bytearray, value: int) -> None:
    # ZigZag, then LEB128 of at most 9 bytes (the 9th carries 8 bits), as _varint reads.
    zigzag = ((value << 1) ^ (value >> 63)) & 0xFFFFFFFFFFFFFFFF
    for _ in range(8):
        if zigzag < 0x80:
            out.append(zigzag)
            return
        out.append((zigzag & 0x7F) | 0x80)
        zigzag >>= 7
    out.append(zigzag & 0xFF)


def encode_histogram(histogram: Histogram) -> bytes:
    """HdrHistogram V2 deflate bytes of ``histogram`` (what the engine writes, and
    what :func:`decode_histogram` and the reference libraries read)."""
    payload = bytearray()
    index = 0
    for bucket, count in histogram.counts:
        zeros = bucket - index
        if zeros > 1:
            _put_varint(payload, -zeros)
        elif zeros == 1:
            _put_varint(payload, 0)
        _put_varint(payload, count)
        index = bucket + 1
    header = struct.pack(
        ">IIIIqqd",
        _V2_COOKIE,
        len(payload),
        0,
        histogram.significant_figures,
        histogram.lowest_discernible,
        histogram.highest_trackable,
        1.0,
    )
    compressed = zlib.compress(header + bytes(payload))
    return struct.pack(">II", _V2_COMPRESSED_COOKIE, len(compressed)) + compressed


def add_histograms(histograms: Iterable[Histogram]) -> Histogram:
    """The sum of histograms of one layout, bucket by bucket; ValueError if the
    layouts (significant figures, lowest discernible value) differ or there are none."""
    histograms = list(histograms)
    if not histograms:
        raise ValueError("no histogram to add")
    first = histograms[0]
    layout = (first.significant_figures, first.lowest_discernible)
    counts: dict[int, int] = {}
    for h in histograms:
        if (h.significant_figures, h.lowest_discernible) != layout:
            raise ValueError(
                f"histograms of different layouts cannot be added: {layout} and "
                f"{(h.significant_figures, h.lowest_discernible)} (significant figures, "
                f"lowest discernible value)"
            )
        for index, count in h.counts:
            counts[index] = counts.get(index, 0) + count
    return Histogram(
        first.significant_figures,
        first.lowest_discernible,
        max(h.highest_trackable for h in histograms),
        tuple(sorted(counts.items())),
    )

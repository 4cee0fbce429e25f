"""Hypothesis on the range split behind every rollup query: each millisecond of [start, end) is in
exactly one piece, and each rollup piece is whole rows of its rollup."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from query_api.rollups import Grain, aligned_grains, split

YEAR_MS = 365 * 86_400_000
instants = st.integers(min_value=946_684_800_000, max_value=946_684_800_000 + 3 * YEAR_MS)
grain_sets = st.sampled_from([(), (Grain.DAY,), (Grain.QUARTER_HOUR, Grain.MINUTE), (Grain.MINUTE,),
                              (Grain.DAY, Grain.QUARTER_HOUR, Grain.MINUTE)])
# near a boundary, where off-by-one errors live
nudged = st.tuples(instants, st.sampled_from([86_400_000, 900_000, 60_000]), st.integers(-2, 2)).map(
    lambda t: t[0] - t[0] % t[1] + t[2])


@settings(max_examples=500)
@given(st.one_of(instants, nudged), st.one_of(instants, nudged), grain_sets)
def test_pieces_cover_the_range_exactly_once_and_align(a: int, b: int, grains: tuple[Grain, ...]) -> None:
    start, end = min(a, b), max(a, b)
    pieces = split(start, end, grains)
    spans = sorted((low, high, grain) for grain, ranges in pieces.items() for low, high in ranges)
    assert all(low < high for low, high, _ in spans)
    position = start
    for low, high, grain in spans:
        assert low == position  # no gap, no overlap
        position = high
        if grain is not Grain.RAW:
            assert grain in grains and low % grain.ms == 0 and high % grain.ms == 0
    assert position == end or (start == end and not spans)
    # the coarsest grain that fits is used: no whole row of the finest grain is left in a raw piece
    # (which may still be up to two rows long: a minute plus 1 ms from 1 ms past a minute holds none)
    finest = min((g.ms for g in grains), default=None)
    for low, high, grain in spans:
        if grain is Grain.RAW and finest:
            first_whole_row = -(-low // finest) * finest
            assert first_whole_row + finest > high


@given(st.lists(st.integers(min_value=0, max_value=4_000_000_000), max_size=50))
def test_aligned_grains_keep_only_grains_no_row_of_which_straddles_a_boundary(boundaries: list[int]) -> None:
    kept = aligned_grains(boundaries, (Grain.QUARTER_HOUR, Grain.MINUTE))
    for grain in (Grain.QUARTER_HOUR, Grain.MINUTE):
        assert (grain in kept) == all(b % (grain.ms // 1000) == 0 for b in boundaries)

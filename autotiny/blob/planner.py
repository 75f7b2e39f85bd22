"""Arena plan: where each non-constant tensor lives in the runtime's one RAM buffer.

Knows buffers (sizes, op lifetimes, aliases), not ops: which op-record words are
tensor indices comes from the op table (autotiny.blob.ops.tensor_words).
"""

from __future__ import annotations

from autotiny.blob.format import ARENA_ALIGN, STORE_ARENA, BlobTensor
from autotiny.blob.format import align as _align
from autotiny.blob.ops import tensor_words


def plan_arena(sizes: list[int], lifetimes: list[tuple[int, int]], pinned: int | None = None,
               align: int = ARENA_ALIGN) -> tuple[list[int], int]:
    """Place buffers with [first, last] op lifetimes in one arena.

    Buffers whose lifetimes overlap never share bytes.  Greedy: take the
    buffers in some order, put each at the lowest aligned offset that fits
    among the already placed buffers it overlaps in time.  Several orders are
    tried (largest first with two tie-breaks, by first use, by size x
    lifetime) and the smallest arena wins.  `pinned` (the model input) must
    end up at offset 0, so the firmware finds it at a fixed address: either
    placed first, or placed last at the top of a plan of the others, which is
    then mirrored.
    Returns (offsets, arena size)."""
    n = len(sizes)
    orders = [
        sorted(range(n), key=lambda i: (-sizes[i], lifetimes[i][0], i)),
        sorted(range(n), key=lambda i: (-sizes[i], -lifetimes[i][0], i)),
        sorted(range(n), key=lambda i: (lifetimes[i][0], -sizes[i], i)),
        sorted(range(n), key=lambda i: (-sizes[i] * (lifetimes[i][1] - lifetimes[i][0] + 1), i)),
    ]
    candidates = []
    for order in orders:
        if pinned is None:
            candidates.append(_place(order, sizes, lifetimes, align))
            continue
        candidates.append(_place([pinned] + [i for i in order if i != pinned], sizes, lifetimes, align))
        # a free plan whose input ends at the top of the arena, mirrored, puts the
        # input at offset 0 (mirroring keeps every pair of buffers disjoint)
        rest = [i for i in order if i != pinned]
        offsets, total = _place(rest, sizes, lifetimes, align)
        top = total - _align(sizes[pinned], align)
        lo, hi = lifetimes[pinned]
        clash = top < 0 or any(
            offsets[j] < top + sizes[pinned] and top < offsets[j] + sizes[j]
            for j in rest if not (lifetimes[j][1] < lo or lifetimes[j][0] > hi))
        if clash:
            top, total = total, total + _align(sizes[pinned], align)
        offsets[pinned] = top
        candidates.append(([total - _align(o + s, align) for o, s in zip(offsets, sizes)], total))
    return min(candidates, key=lambda c: c[1]) if candidates else ([], 0)


def _place(order, sizes, lifetimes, align) -> tuple[list[int], int]:
    placed: list[tuple[int, int, int]] = []  # (offset, end, index)
    offsets = [0] * len(sizes)
    for i in order:
        lo, hi = lifetimes[i]
        live = sorted((o, e) for o, e, j in placed
                      if not (lifetimes[j][1] < lo or lifetimes[j][0] > hi))
        off = 0
        for o, e in live:
            if off + sizes[i] <= o:
                break
            off = max(off, _align(e, align))
        offsets[i] = off
        placed.append((off, off + sizes[i], i))
    total = max((e for _, e, _ in placed), default=0)
    return offsets, _align(total, align)


def plan_tensors(tensors: list[BlobTensor], ops: list[tuple[int, list[int]]], alias: dict[int, int],
                 in_t: int, out_t: int) -> int:
    """Give every arena tensor its offset (aliased tensors share their root's bytes, the
    input is pinned at 0) from the op records (opcode, words); returns the arena size."""
    n_ops = len(ops)
    root = {}

    def find(t):
        while t in alias:
            t = alias[t]
        return t

    first: dict[int, int] = {}
    last: dict[int, int] = {}
    groups: dict[int, list[int]] = {}
    for i, t in enumerate(tensors):
        if t.storage == STORE_ARENA:
            r = find(i)
            root[i] = r
            groups.setdefault(r, []).append(i)
    for k, (opcode, words) in enumerate(ops):
        for w in tensor_words(opcode, words):
            if w >= 0 and w in root:
                r = root[w]
                first[r] = min(first.get(r, k), k)
                last[r] = max(last.get(r, k), k)
    first[root[in_t]] = -1
    last[root[out_t]] = n_ops
    roots = sorted(groups)
    sizes = [max(tensors[i].nbytes for i in groups[r]) for r in roots]
    lifetimes = [(first.get(r, -1), last.get(r, n_ops)) for r in roots]
    offsets, total = plan_arena(sizes, lifetimes, pinned=roots.index(root[in_t]))
    assert offsets[roots.index(root[in_t])] == 0
    for r, off in zip(roots, offsets):
        for i in groups[r]:
            tensors[i].offset = off
    return total

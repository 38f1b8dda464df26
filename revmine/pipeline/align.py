"""Sentence alignment behind one interface: `align(old_sentences, new_sentences) -> list[Aligned]`.

The diff stage sends only changed blocks here (unchanged sentences are matched by hash first).
An `Aligned` covers 1-1, 1-n, n-1, insertions (old=()) and deletions (new=()), with indices local
to the block. The classical aligner below is string similarity plus an order constraint, decoded
by dynamic programming; the neural CRF aligner implements the same protocol.
"""
from __future__ import annotations

import bisect
from dataclasses import dataclass
from typing import Protocol, Sequence

from rapidfuzz import fuzz, process


@dataclass(frozen=True)
class Aligned:
    old: tuple[int, ...]
    new: tuple[int, ...]
    score: float
    method: str

    def shifted(self, old_offset: int, new_offset: int) -> "Aligned":
        """The same alignment with sentence indices moved by the offsets (block-local -> document)."""
        return Aligned(tuple(old_offset + x for x in self.old), tuple(new_offset + y for y in self.new), self.score,
                       self.method)

    @property
    def kind(self) -> str:
        if not self.old:
            return "insert"
        if not self.new:
            return "delete"
        return f"{'1' if len(self.old) == 1 else 'n'}-{'1' if len(self.new) == 1 else ('n' if len(self.old) == 1 else 'm')}"


class Aligner(Protocol):
    name: str

    def align(self, old: Sequence[str], new: Sequence[str]) -> list[Aligned]:
        ...


class ClassicalAligner:
    """Monotonic alignment maximising sum(similarity - threshold) over 1-1, 1-2 and 2-1 links.

    Similarity is rapidfuzz's normalised Indel ratio on lower-cased text. A pair is linked only
    when its similarity beats `threshold`; everything else becomes an insertion or deletion.
    Merges (1-2, 2-1) must beat the best 1-1 link they contain, so a split or merged sentence is
    recognised without swallowing a neighbour. Blocks larger than `max_cells` old*new are split
    into diagonal chunks to bound the quadratic cost.
    """

    name = "classical"
    MERGE_FLOOR = 0.3

    def __init__(self, threshold: float = 0.5, merge_penalty: float = 0.02, max_cells: int = 250_000,
                 anchor_cells: int = 64, anchor_sim: float = 0.85):
        self.threshold = threshold
        self.merge_penalty = merge_penalty
        self.max_cells = max_cells
        self.anchor_cells = anchor_cells
        self.anchor_sim = anchor_sim

    def align(self, old: Sequence[str], new: Sequence[str]) -> list[Aligned]:
        n, m = len(old), len(new)
        if n == 0 or m == 0:
            return [Aligned((i,), (), 0.0, self.name) for i in range(n)] + \
                   [Aligned((), (j,), 0.0, self.name) for j in range(m)]
        if n * m > self.max_cells:
            return self._chunked(old, new)
        lo = [s.lower() for s in old]
        ln = [s.lower() for s in new]
        sim = process.cdist(lo, ln, scorer=fuzz.ratio, workers=1) / 100.0  # (n, m) matrix in C
        if n * m > self.anchor_cells:
            anchors = self._anchors(sim)
            if anchors:
                return self._between_anchors(old, new, sim, anchors)
        return self._dp(lo, ln, sim.tolist())

    def _anchors(self, sim) -> list[tuple[int, int]]:
        """Mutual-best pairs above `anchor_sim`, longest increasing chain: links no DP would dispute."""
        best_j = sim.argmax(axis=1)
        best_i = sim.argmax(axis=0)
        cands = [(i, int(j)) for i, j in enumerate(best_j) if best_i[j] == i and sim[i, j] >= self.anchor_sim]
        # longest chain increasing in both i and j (cands are sorted by i)
        tails: list[int] = []
        tail_idx: list[int] = []
        prev = [-1] * len(cands)
        for k, (_, j) in enumerate(cands):
            pos = bisect.bisect_left(tails, j)
            if pos == len(tails):
                tails.append(j)
                tail_idx.append(k)
            else:
                tails[pos], tail_idx[pos] = j, k
            prev[k] = tail_idx[pos - 1] if pos else -1
        chain, k = [], tail_idx[-1] if tail_idx else -1
        while k >= 0:
            chain.append(cands[k])
            k = prev[k]
        return chain[::-1]

    def _between_anchors(self, old, new, sim, anchors) -> list[Aligned]:
        out: list[Aligned] = []
        pi = pj = 0
        for ai, aj in anchors + [(len(old), len(new))]:
            for al in self.align(old[pi:ai], new[pj:aj]):
                out.append(al.shifted(pi, pj))
            if ai < len(old):
                out.append(Aligned((ai,), (aj,), round(float(sim[ai, aj]), 4), self.name))
            pi, pj = ai + 1, aj + 1
        return out

    def _dp(self, lo: list[str], ln: list[str], sim: list[list[float]]) -> list[Aligned]:
        n, m = len(lo), len(ln)
        t, floor = self.threshold, self.MERGE_FLOOR  # locals: this loop runs for every cell
        NEG = float("-inf")
        best = [[NEG] * (m + 1) for _ in range(n + 1)]
        back: list[list[tuple]] = [[None] * (m + 1) for _ in range(n + 1)]
        best[0][0] = 0.0
        penalty = self.merge_penalty
        for i in range(n + 1):
            row, brow = best[i], back[i]
            last = i == n
            if not last:  # the rows a move from row i writes to, looked up once per row
                nrow, nbrow, srow = best[i + 1], back[i + 1], sim[i]
                lo_i = lo[i]
            for j in range(m + 1):
                cur = row[j]
                if cur == NEG:
                    continue
                # deletion / insertion: no gain, no loss
                if not last and cur > nrow[j]:
                    nrow[j], nbrow[j] = cur, (i, j, "del", 0.0)
                if j < m and cur > row[j + 1]:
                    row[j + 1], brow[j + 1] = cur, (i, j, "ins", 0.0)
                if not last and j < m:
                    s = srow[j]
                    if s > t and cur + s - t > nrow[j + 1]:
                        nrow[j + 1], nbrow[j + 1] = cur + s - t, (i, j, "11", s)
                    # a merge must resemble both halves: skip the ratio call where neither does
                    if j + 1 < m and (s >= floor or srow[j + 1] >= floor):
                        s2 = fuzz.ratio(lo_i, ln[j] + " " + ln[j + 1]) / 100.0
                        gain = s2 - t - penalty
                        if s2 > max(s, srow[j + 1]) and s2 > t and cur + gain > nrow[j + 2]:
                            nrow[j + 2], nbrow[j + 2] = cur + gain, (i, j, "12", s2)
                    if i + 1 < n and (s >= floor or sim[i + 1][j] >= floor):
                        s2 = fuzz.ratio(lo_i + " " + lo[i + 1], ln[j]) / 100.0
                        gain = s2 - t - penalty
                        if s2 > max(s, sim[i + 1][j]) and s2 > t and cur + gain > best[i + 2][j + 1]:
                            best[i + 2][j + 1], back[i + 2][j + 1] = cur + gain, (i, j, "21", s2)
        out: list[Aligned] = []
        i, j = n, m
        while i or j:
            pi, pj, kind, s = back[i][j]
            if kind == "del":
                out.append(Aligned((pi,), (), 0.0, self.name))
            elif kind == "ins":
                out.append(Aligned((), (pj,), 0.0, self.name))
            else:
                out.append(Aligned(tuple(range(pi, i)), tuple(range(pj, j)), round(float(s), 4), self.name))
            i, j = pi, pj
        out.reverse()
        return out

    def _chunked(self, old: Sequence[str], new: Sequence[str]) -> list[Aligned]:
        # Proportional diagonal chunks: a huge rewrite is aligned piecewise instead of in one n*m table.
        side = max(1, int(self.max_cells ** 0.5))
        n, m = len(old), len(new)
        k = max(n, m) // side + 1
        out = []
        for c in range(k):
            a0, a1 = n * c // k, n * (c + 1) // k
            b0, b1 = m * c // k, m * (c + 1) // k
            for al in self.align(old[a0:a1], new[b0:b1]):
                out.append(al.shifted(a0, b0))
        return out


def align_blocks(aligner: Aligner, blocks: Sequence[tuple[Sequence[str], Sequence[str]]]) -> list[list[Aligned]]:
    """Align several changed blocks: one batched call when the aligner supports it (neural), else one by one."""
    many = getattr(aligner, "align_many", None)
    if many is not None:
        return many(blocks)
    return [aligner.align(o, n) for o, n in blocks]

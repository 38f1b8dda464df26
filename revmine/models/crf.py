"""Linear-chain CRF for sentence alignment (Jiang et al., 2020), vectorised and batched.

For each old sentence t the state is the new sentence it aligns to, or NULL. Tag 0 is NULL, tag
j+1 is new sentence j, so a batch of paragraph pairs is padded to K = max_new + 1 tags. Transitions
depend only on the jump between consecutive aligned positions, bucketed (-2 or less, -1, 0, +1 ... +4 or
more), plus four NULL transitions, so one small parameter vector serves every K.

Shapes (as in pytorch-crf):
    emissions: (batch, T, K)     score of old sentence t taking tag k
    tags:      (batch, T) long   gold tags (for the likelihood)
    mask:      (batch, T) bool   valid old sentences
    tag_mask:  (batch, K) bool   valid tags (NULL and the pair's own new sentences)
The only Python loop is over time steps; states and the batch are tensor dimensions.
"""
from __future__ import annotations

import torch
from torch import nn

NEG = -1e4  # "impossible" without the NaNs that -inf gives in logsumexp
JUMP_MIN, JUMP_MAX = -2, 4


class AlignmentCRF(nn.Module):
    def __init__(self):
        super().__init__()
        n_buckets = JUMP_MAX - JUMP_MIN + 1
        self.jump = nn.Parameter(torch.zeros(n_buckets))  # non-NULL -> non-NULL, by jump
        self.start_jump = nn.Parameter(torch.zeros(n_buckets))  # first non-NULL tag, jump from position -1
        self.to_null = nn.Parameter(torch.zeros(()))
        self.from_null = nn.Parameter(torch.zeros(()))
        self.null_null = nn.Parameter(torch.zeros(()))
        self.start_null = nn.Parameter(torch.zeros(()))
        with torch.no_grad():  # a monotone prior: the next old sentence usually maps to the next new one
            self.jump[1 - JUMP_MIN] = 1.0
            self.start_jump[1 - JUMP_MIN] = 1.0

    # ---- structured parameters -> dense scores ---------------------------------------------
    def _bucket(self, d: torch.Tensor) -> torch.Tensor:
        return d.clamp(JUMP_MIN, JUMP_MAX) - JUMP_MIN

    def transitions(self, K: int) -> torch.Tensor:
        """(K, K) score of moving from tag a (rows) to tag b (columns)."""
        idx = torch.arange(K - 1, device=self.jump.device)
        dense = self.jump[self._bucket(idx[None, :] - idx[:, None])]
        top = torch.cat([self.null_null.view(1), self.from_null.expand(K - 1)])
        left = self.to_null.expand(K - 1, 1)
        return torch.cat([top.view(1, K), torch.cat([left, dense], dim=1)], dim=0)

    def start(self, K: int) -> torch.Tensor:
        """(K,) score of the first old sentence taking each tag."""
        idx = torch.arange(K - 1, device=self.jump.device)
        return torch.cat([self.start_null.view(1), self.start_jump[self._bucket(idx + 1)]])

    # ---- likelihood ------------------------------------------------------------------------
    def forward(self, emissions, tags, mask, tag_mask) -> torch.Tensor:
        """Negative log-likelihood of `tags`, summed over the batch."""
        emissions = self._mask_tags(emissions, tag_mask)
        return (self._log_partition(emissions, mask) - self._score(emissions, tags, mask)).sum()

    def _mask_tags(self, emissions, tag_mask):
        return emissions.masked_fill(~tag_mask[:, None, :], NEG)

    def _score(self, emissions, tags, mask) -> torch.Tensor:
        """(batch,) score of the given tag paths."""
        B, T, K = emissions.shape
        trans, start = self.transitions(K), self.start(K)
        emit = emissions.gather(2, tags.unsqueeze(2)).squeeze(2)  # (B, T)
        score = start[tags[:, 0]] + emit[:, 0]
        if T > 1:
            step = trans[tags[:, :-1], tags[:, 1:]] + emit[:, 1:]  # (B, T-1)
            score = score + (step * mask[:, 1:]).sum(1)
        return score

    def _log_partition(self, emissions, mask) -> torch.Tensor:
        """(batch,) log of the sum over all tag paths (forward algorithm)."""
        B, T, K = emissions.shape
        trans = self.transitions(K)
        alpha = self.start(K)[None, :] + emissions[:, 0]  # (B, K)
        for t in range(1, T):
            nxt = torch.logsumexp(alpha[:, :, None] + trans[None], dim=1) + emissions[:, t]
            alpha = torch.where(mask[:, t, None], nxt, alpha)
        return torch.logsumexp(alpha, dim=1)

    # ---- decoding --------------------------------------------------------------------------
    @torch.no_grad()
    def decode(self, emissions, mask, tag_mask, group: int = 128) -> list[list[int]]:
        """Viterbi: the best tag path of every sequence in the batch (lists of length mask.sum()).

        Large batches are decoded in groups of `group` sequences of similar size, each cropped to its
        own longest sequence and tag count: decoding is compute-bound (B x K x K cells per step), and
        cropping padding away saves more than the extra per-group steps cost.
        """
        B = emissions.shape[0]
        if B <= group:
            return self._viterbi(emissions, mask, tag_mask)
        lengths, n_tags = mask.sum(1), tag_mask.sum(1)
        order = torch.argsort(lengths * (tag_mask.shape[1] + 1) + n_tags).tolist()
        out: list = [None] * B
        for i in range(0, B, group):
            idx = order[i: i + group]
            t, k = max(1, int(lengths[idx].max())), int(n_tags[idx].max())
            for b, path in zip(idx, self._viterbi(emissions[idx, :t, :k], mask[idx, :t], tag_mask[idx, :k])):
                out[b] = path
        return out

    def _viterbi(self, emissions, mask, tag_mask) -> list[list[int]]:
        emissions = self._mask_tags(emissions, tag_mask)
        B, T, K = emissions.shape
        trans = self.transitions(K)
        score = self.start(K)[None, :] + emissions[:, 0]
        stay = torch.arange(K, device=emissions.device).expand(B, K)
        history = []
        for t in range(1, T):
            best, idx = (score[:, :, None] + trans[None]).max(dim=1)  # (B, K): best previous tag per tag
            keep = mask[:, t, None]
            history.append(torch.where(keep, idx, stay))
            score = torch.where(keep, best + emissions[:, t], score)
        last = score.argmax(dim=1)  # (B,)
        path = [last]
        for idx in reversed(history):
            last = idx.gather(1, last[:, None]).squeeze(1)
            path.append(last)
        paths = torch.stack(path[::-1], dim=1).tolist()  # (B, T)
        lengths = mask.sum(1).tolist()
        return [p[:n] for p, n in zip(paths, lengths)]


def viterbi_python(emissions: list[list[float]], trans: list[list[float]], start: list[float]) -> list[int]:
    """Reference Viterbi with plain loops over time and states, for tests and the speed benchmark."""
    T, K = len(emissions), len(start)
    score = [start[k] + emissions[0][k] for k in range(K)]
    back = []
    for t in range(1, T):
        new, ptr = [], []
        for k in range(K):
            best, arg = None, 0
            for p in range(K):
                s = score[p] + trans[p][k]
                if best is None or s > best:
                    best, arg = s, p
            new.append(best + emissions[t][k])
            ptr.append(arg)
        score, back = new, back + [ptr]
    k = max(range(K), key=lambda i: score[i])
    path = [k]
    for ptr in reversed(back):
        k = ptr[k]
        path.append(k)
    return path[::-1]


def viterbi_tensor_loop(emissions: torch.Tensor, trans: torch.Tensor, start: torch.Tensor) -> list[int]:
    """Viterbi written the straightforward way on tensors: loops over time and over states, one pair at a time."""
    T, K = emissions.shape
    score = start + emissions[0]
    back = []
    for t in range(1, T):
        new = torch.empty(K)
        ptr = []
        for k in range(K):
            cand = score + trans[:, k]
            best = int(torch.argmax(cand))
            new[k] = cand[best] + emissions[t, k]
            ptr.append(best)
        score = new
        back.append(ptr)
    k = int(torch.argmax(score))
    path = [k]
    for ptr in reversed(back):
        k = ptr[k]
        path.append(k)
    return path[::-1]

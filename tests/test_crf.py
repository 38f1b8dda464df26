"""The alignment CRF: exact against brute force, identical to loop Viterbis, and trainable."""
import itertools

import torch

from revmine.models.crf import AlignmentCRF, viterbi_python, viterbi_tensor_loop


def _random_crf(seed=0):
    torch.manual_seed(seed)
    crf = AlignmentCRF()
    with torch.no_grad():
        for p in crf.parameters():
            p.add_(torch.randn_like(p))
    return crf


def test_partition_and_viterbi_match_brute_force():
    crf = _random_crf()
    B, T, K = 3, 4, 4
    em = torch.randn(B, T, K)
    mask = torch.tensor([[1, 1, 1, 1], [1, 1, 1, 0], [1, 1, 0, 0]]).bool()
    tag_mask = torch.ones(B, K, dtype=torch.bool)
    tag_mask[2, 3] = False
    log_z = crf._log_partition(crf._mask_tags(em, tag_mask), mask)
    decoded = crf.decode(em, mask, tag_mask)
    trans, start = crf.transitions(K), crf.start(K)
    for b in range(B):
        n = int(mask[b].sum())
        e = crf._mask_tags(em, tag_mask)[b]
        scores = {}
        for path in itertools.product(range(K), repeat=n):
            scores[path] = start[path[0]] + e[0, path[0]] + sum(trans[path[t - 1], path[t]] + e[t, path[t]]
                                                                for t in range(1, n))
        assert torch.isclose(log_z[b], torch.logsumexp(torch.stack(list(scores.values())), 0), atol=1e-4)
        assert decoded[b] == list(max(scores, key=lambda p: scores[p]))


def test_batched_decode_equals_loop_viterbis():
    crf = _random_crf(1)
    B, T, K = 16, 7, 6
    em = torch.randn(B, T, K)
    mask = torch.ones(B, T, dtype=torch.bool)
    tag_mask = torch.ones(B, K, dtype=torch.bool)
    fast = crf.decode(em, mask, tag_mask)
    for b in range(B):
        assert fast[b] == viterbi_python(em[b].tolist(), crf.transitions(K).tolist(), crf.start(K).tolist())
        assert fast[b] == viterbi_tensor_loop(em[b], crf.transitions(K), crf.start(K))


def test_likelihood_training_fits_a_monotone_alignment():
    torch.manual_seed(0)
    crf = AlignmentCRF()
    emissions = torch.zeros(8, 5, 6, requires_grad=False)
    tags = torch.tensor([[1, 2, 3, 4, 5]] * 8)
    mask = torch.ones(8, 5, dtype=torch.bool)
    tag_mask = torch.ones(8, 6, dtype=torch.bool)
    opt = torch.optim.Adam(crf.parameters(), lr=0.1)
    first = None
    for _ in range(50):
        loss = crf(emissions, tags, mask, tag_mask)
        first = first if first is not None else loss.item()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < first / 2
    assert crf.decode(emissions, mask, tag_mask)[0] == [1, 2, 3, 4, 5]  # learned purely from transitions

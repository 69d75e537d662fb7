"""The enclave build's page-adding loop, compiled: what the EADD ioctl does for each page of
an enclave being built, with a direct reclaim of one batch whenever the EPC has no free page
(see :func:`epcsim.model.startup.build_enclaves`, whose Python loop this is, and
:meth:`epcsim.epc.EpcEngine.build`). Kept apart from :mod:`epcsim.epc._kernels` (the touch and
reclaim kernels it calls) so that file stays readable.
"""
from __future__ import annotations

from numba import njit

from epcsim.epc._kernels import NRES, reclaim_kernel, touch_kernel


@njit(cache=True)
def build_kernel(policy, pages, base, size, e, status, owner, prev, nxt, ref, frame_of,
                 frame_gid, fref, freeq, pos, dense, rng, sc, cnt, victims, batch, t,
                 evict_s, etrack_s):  # pragma: no cover - compiled
    """Add ``pages`` of enclave ``e`` in order, reclaiming one batch of ``batch`` pages each
    time no EPC page is free (the EADD ioctl's direct reclaim): the loop of
    :func:`epcsim.model.startup.build_enclaves` in one compiled call, with the same
    arithmetic in the same order (``t += n * evict_s + enclaves_hit * etrack_s`` per batch).

    Returns ``(t, evictions, batches, ok)``; ``ok`` is False when a batch freed nothing and
    nothing is resident (the EPC is full of Version Array pages).
    """
    n = pages.shape[0]
    i = 0
    evictions = 0
    batches = 0
    while True:
        _h, _f, i = touch_kernel(policy, pages, i, base, size, e, status, owner, prev, nxt,
                                 ref, frame_of, frame_gid, fref, freeq, pos, dense, rng, sc,
                                 cnt)
        if i >= n or i < 0:
            return t, evictions, batches, i >= n
        reclaim_kernel(policy, batch, status, owner, prev, nxt, ref, frame_of, frame_gid,
                       fref, freeq, pos, dense, rng, sc, cnt, victims, False)
        k = 0
        hit = 0
        for j in range(victims.shape[0]):
            k += victims[j]
            if victims[j] != 0:
                hit += 1
        if k == 0 and sc[NRES] == 0:
            return t, evictions, batches, False
        evictions += k
        batches += 1
        t += k * evict_s + hit * etrack_s

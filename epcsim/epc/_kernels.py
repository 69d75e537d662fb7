"""Compiled (numba) kernels of the EPC residency engine.

The state of one shared EPC pool lives in flat arrays (see :class:`epcsim.epc.engine.EpcEngine`
for the layout); these functions advance it. Pages are identified by a global page id
``gid = enclave_base[e] + offset``: pages are dense offsets per enclave, so a direct
``gid -> state`` map replaces any hashing.

Structures per policy (int32 arrays, no Python objects):

* ``lru``, ``fifo``, ``linux``: one doubly-linked list over gids (``prev``/``nxt``), head =
  the next candidate victim, tail = most recently inserted (or used, for LRU). ``linux`` keeps
  an accessed bit per gid (``ref``).
* ``clock``: a ring of EPC frames (``frame_gid``), a reference bit per frame (``fref``), the
  hand (``sc[HAND]``), a FIFO queue of free frames (``freeq``) and ``frame_of[gid]``.
* ``random``: a dense array of resident gids (``dense``) with positions (``pos``); victims
  are drawn with splitmix64 (``rng[0]`` is its state), exactly as in
  :mod:`epcsim.epc.reference`.

Nothing here is compiled at import time: numba compiles each kernel on its first call and
caches the machine code on disk (``cache=True``).
"""

from __future__ import annotations

import numpy as np
from numba import njit

# Policy codes.
LRU = 0
FIFO = 1
CLOCK = 2
LINUX = 3
RANDOM = 4

# Scalar slots in ``sc`` (int64 array).
HEAD = 0
TAIL = 1
HAND = 2
FREE = 3
NRES = 4
FQ_HEAD = 5
FQ_COUNT = 6
VA_ON = 7
ISGX = 8     # 1: ``linux`` takes each batch from one enclave, round-robin (isgx driver)
RR_LAST = 9  # the enclave the last isgx batch came from
N_SCALARS = 10

# Per-enclave counter columns in ``cnt`` (int64 array, shape (n_enclaves, N_COUNTERS)).
C_FAULTS = 0
C_EVICTIONS = 1
C_HITS = 2
C_RESIDENT = 3
C_EVICTED_OUT = 4
C_VA_PAGES = 5
N_COUNTERS = 6

#: Version Array slots per VA page (architectural: one VA page holds 512 8-byte slots).
VA_SLOTS_PER_PAGE = 512

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)


@njit(cache=True, inline="always")
def _splitmix64(rng: np.ndarray) -> np.uint64:  # pragma: no cover - compiled
    s = rng[0] + _GOLDEN
    rng[0] = s
    z = s
    z = (z ^ (z >> np.uint64(30))) * _MIX1
    z = (z ^ (z >> np.uint64(27))) * _MIX2
    return z ^ (z >> np.uint64(31))


@njit(cache=True, inline="always")
def _unlink(g, prev, nxt, sc):  # pragma: no cover - compiled
    p = prev[g]
    n = nxt[g]
    if p >= 0:
        nxt[p] = n
    else:
        sc[HEAD] = n
    if n >= 0:
        prev[n] = p
    else:
        sc[TAIL] = p


@njit(cache=True, inline="always")
def _append(g, prev, nxt, sc):  # pragma: no cover - compiled
    t = sc[TAIL]
    prev[g] = t
    nxt[g] = -1
    if t >= 0:
        nxt[t] = g
    else:
        sc[HEAD] = g
    sc[TAIL] = g


@njit(cache=True, inline="always")
def _evict(g, owner, status, cnt, victims, sc):  # pragma: no cover - compiled
    """Book-keeping of one eviction; returns True if the frame went to a new VA page."""
    e = owner[g]
    status[g] = 2
    cnt[e, C_RESIDENT] -= 1
    cnt[e, C_EVICTIONS] += 1
    cnt[e, C_EVICTED_OUT] += 1
    victims[e] += 1
    sc[NRES] -= 1
    if sc[VA_ON] != 0 and cnt[e, C_EVICTED_OUT] > VA_SLOTS_PER_PAGE * cnt[e, C_VA_PAGES]:
        cnt[e, C_VA_PAGES] += 1
        return True
    sc[FREE] += 1
    return False


@njit(cache=True, inline="always")
def _hit(policy, g, prev, nxt, ref, frame_of, fref, sc):  # pragma: no cover - compiled
    if policy == LRU:
        if sc[TAIL] != g:
            _unlink(g, prev, nxt, sc)
            _append(g, prev, nxt, sc)
    elif policy == LINUX:
        ref[g] = 1
    elif policy == CLOCK:
        fref[frame_of[g]] = 1


@njit(cache=True, inline="always")
def _load(policy, g, e, status, prev, nxt, ref, frame_of, frame_gid, fref, freeq, pos, dense,
          sc, cnt):  # pragma: no cover - compiled
    """Make gid ``g`` (of enclave ``e``) resident in a free EPC page (caller checked one is)."""
    if status[g] == 2:
        cnt[e, C_EVICTED_OUT] -= 1
    status[g] = 1
    sc[FREE] -= 1
    cnt[e, C_RESIDENT] += 1
    if policy == LRU or policy == FIFO:
        _append(g, prev, nxt, sc)
    elif policy == LINUX:
        _append(g, prev, nxt, sc)
        ref[g] = 1
    elif policy == CLOCK:
        n_frames = frame_gid.shape[0]
        f = freeq[sc[FQ_HEAD]]
        sc[FQ_HEAD] = (sc[FQ_HEAD] + 1) % n_frames
        sc[FQ_COUNT] -= 1
        frame_gid[f] = g
        frame_of[g] = f
        fref[f] = 0
    else:
        k = sc[NRES]
        pos[g] = k
        dense[k] = g
    sc[NRES] += 1


@njit(cache=True)
def touch_kernel(policy, pages, start, base, size, e, status, owner, prev, nxt, ref,
                 frame_of, frame_gid, fref, freeq, pos, dense, rng, sc,
                 cnt):  # pragma: no cover - compiled
    """Process ``pages[start:]`` of enclave ``e``; stop at the first miss with no free page.

    Returns ``(hits, faults, next_index)``; ``next_index == len(pages)`` when all were
    processed, ``-(i + 1)`` if ``pages[i]`` is outside ``[0, size)`` (nothing after it done).
    Written without helper calls (they cost reference counting per call in numba); the
    per-policy steps are those of :func:`_hit` and :func:`_load`.
    """
    hits = 0
    faults = 0
    n = pages.shape[0]
    n_frames = frame_gid.shape[0]
    head = sc[HEAD]
    tail = sc[TAIL]
    free = sc[FREE]
    nres = sc[NRES]
    fq_head = sc[FQ_HEAD]
    evicted_back = 0
    i = start
    bad = -1
    while i < n:
        p = pages[i]
        if p < 0 or p >= size:
            bad = i
            break
        g = base + p
        st = status[g]
        if st == 1:
            hits += 1
            if policy == LRU:
                if tail != g:
                    pv = prev[g]
                    nx = nxt[g]
                    if pv >= 0:
                        nxt[pv] = nx
                    else:
                        head = nx
                    prev[nx] = pv  # nx >= 0 because g is not the tail
                    prev[g] = tail
                    nxt[g] = -1
                    nxt[tail] = g
                    tail = g
            elif policy == LINUX:
                ref[g] = 1
            elif policy == CLOCK:
                fref[frame_of[g]] = 1
        else:
            if free <= 0:
                break
            faults += 1
            if st == 2:
                evicted_back += 1
            status[g] = 1
            free -= 1
            if policy == CLOCK:
                f = freeq[fq_head]
                fq_head = fq_head + 1
                if fq_head == n_frames:
                    fq_head = 0
                frame_gid[f] = g
                frame_of[g] = f
                fref[f] = 0
            elif policy == RANDOM:
                pos[g] = nres
                dense[nres] = g
            else:
                prev[g] = tail
                nxt[g] = -1
                if tail >= 0:
                    nxt[tail] = g
                else:
                    head = g
                tail = g
                if policy == LINUX:
                    ref[g] = 1
            nres += 1
        i += 1
    sc[HEAD] = head
    sc[TAIL] = tail
    if policy == CLOCK:
        sc[FQ_COUNT] -= faults
    sc[FREE] = free
    sc[NRES] = nres
    sc[FQ_HEAD] = fq_head
    cnt[e, C_HITS] += hits
    cnt[e, C_FAULTS] += faults
    cnt[e, C_RESIDENT] += faults
    cnt[e, C_EVICTED_OUT] -= evicted_back
    if bad >= 0:
        return hits, faults, -(bad + 1)
    return hits, faults, i


@njit(cache=True)
def reclaim_kernel(policy, n_pages, status, owner, prev, nxt, ref, frame_of, frame_gid,
                   fref, freeq, pos, dense, rng, sc, cnt, victims,
                   until_evicts):  # pragma: no cover
    """Compiled entry point of :func:`_reclaim` (see there); zeroes ``victims`` first.

    ``until_evicts``: repeat the scan until it evicts a page or nothing is resident (the
    scans that only give young pages a second chance, in one call)."""
    victims[:] = 0
    evicted = _reclaim(policy, n_pages, status, owner, prev, nxt, ref, frame_of, frame_gid,
                       fref, freeq, pos, dense, rng, sc, cnt, victims)
    while until_evicts and evicted == 0 and sc[NRES] > 0:
        evicted = _reclaim(policy, n_pages, status, owner, prev, nxt, ref, frame_of,
                           frame_gid, fref, freeq, pos, dense, rng, sc, cnt, victims)
    return evicted


@njit(cache=True, inline="always")
def _reclaim(policy, n_pages, status, owner, prev, nxt, ref, frame_of, frame_gid,
             fref, freeq, pos, dense, rng, sc, cnt, victims):  # pragma: no cover
    """Evict up to ``n_pages`` pages chosen by the policy; adds victims per enclave.

    ``linux`` scans ``min(n_pages, resident)`` pages from the list head: a young page (accessed
    bit set) has its bit cleared and goes to the tail, an old page is evicted; so a batch may
    evict fewer than ``n_pages``. The other policies evict exactly ``min(n_pages, resident)``.
    Returns the number of pages evicted.
    """
    evicted = 0
    n_frames = frame_gid.shape[0]
    if policy == LRU or policy == FIFO:
        while evicted < n_pages and sc[NRES] > 0:
            g = sc[HEAD]
            _unlink(g, prev, nxt, sc)
            _evict(g, owner, status, cnt, victims, sc)
            evicted += 1
    elif policy == LINUX and sc[ISGX] != 0:
        evicted = _reclaim_one_enclave(n_pages, status, owner, prev, nxt, ref, sc, cnt,
                                       victims)
    elif policy == LINUX:
        scan = min(n_pages, sc[NRES])
        for _ in range(scan):
            evicted += _second_chance(sc[HEAD], owner, status, prev, nxt, ref, sc, cnt,
                                      victims)
    elif policy == CLOCK:
        while evicted < n_pages and sc[NRES] > 0:
            f = sc[HAND]
            sc[HAND] = (f + 1) % n_frames
            g = frame_gid[f]
            if g < 0:
                continue
            if fref[f] != 0:
                fref[f] = 0
                continue
            frame_gid[f] = -1
            frame_of[g] = -1
            if _evict(g, owner, status, cnt, victims, sc):
                frame_gid[f] = -2  # now a Version Array page: never reused
            else:
                freeq[(sc[FQ_HEAD] + sc[FQ_COUNT]) % n_frames] = f
                sc[FQ_COUNT] += 1
            evicted += 1
    else:
        while evicted < n_pages and sc[NRES] > 0:
            k = sc[NRES]
            idx = np.int64(_splitmix64(rng) % np.uint64(k))
            g = dense[idx]
            last = dense[k - 1]
            dense[idx] = last
            pos[last] = idx
            _evict(g, owner, status, cnt, victims, sc)
            evicted += 1
    return evicted


@njit(cache=True, inline="always")
def _second_chance(g, owner, status, prev, nxt, ref, sc, cnt, victims):  # pragma: no cover
    """The linux policy's look at one scanned frame ``g``: a young frame loses its young bit
    and goes to the tail; an old one is evicted. Returns 1 if it was evicted."""
    _unlink(g, prev, nxt, sc)
    if ref[g] != 0:
        ref[g] = 0
        _append(g, prev, nxt, sc)
        return 0
    _evict(g, owner, status, cnt, victims, sc)
    return 1


@njit(cache=True, inline="always")
def _reclaim_one_enclave(n_pages, status, owner, prev, nxt, ref, sc, cnt,
                         victims):  # pragma: no cover - compiled
    """``linux`` as the out-of-tree isgx driver does it: the batch comes from one enclave,
    the next one after the last batch's (round-robin) that has resident pages
    (``sgx_isolate_tgid_ctx``, ``sgx_isolate_encl``: one enclave per process assumed), and
    scans ``min(n_pages, its resident pages)`` of that enclave's pages oldest first with the
    same second chance (``sgx_isolate_pages``). The enclave's own list is its pages' order
    in the global list (loads and second chances both go to the tail), so the scan walks the
    global list skipping other enclaves' pages. Returns the number evicted."""
    n_enc = cnt.shape[0]
    e = -1
    for k in range(n_enc):
        c = (sc[RR_LAST] + 1 + k) % n_enc
        if cnt[c, C_RESIDENT] > 0:
            e = c
            break
    if e < 0:
        return 0
    sc[RR_LAST] = e
    scan = min(n_pages, cnt[e, C_RESIDENT])
    evicted = 0
    seen = 0
    g = sc[HEAD]
    while seen < scan and g >= 0:
        nx = nxt[g]
        if owner[g] == e:
            seen += 1
            evicted += _second_chance(g, owner, status, prev, nxt, ref, sc, cnt, victims)
        g = nx
    return evicted


@njit(cache=True)
def replay_kernel(policy, pages, base, size, e, status, owner, prev, nxt, ref, frame_of,
                  frame_gid, fref, freeq, pos, dense, rng, sc, cnt, victims, batch, low,
                  high):  # pragma: no cover - compiled
    """Offline replay of enclave ``e``'s pages with eviction on demand.

    Returns ``(hits, faults, code)``: ``code`` is -1 when all pages were processed, the index
    of the first page outside ``[0, size)``, or -2 if no page can be freed (the pool is
    exhausted by VA pages). ``lru``/``fifo``/``clock``/``random``: a miss with no free page
    evicts one page first. ``linux``: after each fault, if fewer than ``low`` pages are free,
    ksgxd runs at once and scans batches of ``batch`` pages until ``high`` are free (or
    nothing is resident); a miss that still finds no free page runs more batches first.

    The steps are those of :func:`touch_kernel` and :func:`_reclaim`, written out with the
    list ends and counts in local variables (helper calls would cost reference counting).
    """
    hits = 0
    faults = 0
    n = pages.shape[0]
    n_frames = frame_gid.shape[0]
    head = sc[HEAD]
    tail = sc[TAIL]
    hand = sc[HAND]
    free = sc[FREE]
    nres = sc[NRES]
    fq_head = sc[FQ_HEAD]
    fq_count = sc[FQ_COUNT]
    va_on = sc[VA_ON] != 0
    code = -1
    for i in range(n):
        p = pages[i]
        if p < 0 or p >= size:
            code = i
            break
        g = base + p
        st = status[g]
        if st == 1:
            hits += 1
            if policy == LRU:
                if tail != g:
                    pv = prev[g]
                    nx = nxt[g]
                    if pv >= 0:
                        nxt[pv] = nx
                    else:
                        head = nx
                    prev[nx] = pv
                    prev[g] = tail
                    nxt[g] = -1
                    nxt[tail] = g
                    tail = g
            elif policy == LINUX:
                ref[g] = 1
            elif policy == CLOCK:
                fref[frame_of[g]] = 1
            continue
        # a miss: free pages first (one page, or ksgxd batches for linux)
        while free <= 0 and nres > 0:
            scan = batch if policy == LINUX else 1
            if policy == LINUX and scan > nres:
                scan = nres
            done = 0
            while done < scan and nres > 0:
                victim = -1
                if policy == LRU or policy == FIFO or policy == LINUX:
                    v = head
                    nx = nxt[v]
                    head = nx
                    if nx >= 0:
                        prev[nx] = -1
                    else:
                        tail = -1
                    if policy == LINUX:
                        done += 1  # every scanned page counts against the batch
                        if ref[v] != 0:
                            ref[v] = 0
                            prev[v] = tail
                            nxt[v] = -1
                            if tail >= 0:
                                nxt[tail] = v
                            else:
                                head = v
                            tail = v
                            continue
                    else:
                        done += 1
                    victim = v
                elif policy == CLOCK:
                    f = hand
                    hand = f + 1
                    if hand == n_frames:
                        hand = 0
                    v = frame_gid[f]
                    if v < 0:
                        continue
                    if fref[f] != 0:
                        fref[f] = 0
                        continue
                    frame_gid[f] = -1
                    frame_of[v] = -1
                    victim = v
                    done += 1
                else:
                    s = rng[0] + _GOLDEN
                    rng[0] = s
                    z = (s ^ (s >> np.uint64(30))) * _MIX1
                    z = (z ^ (z >> np.uint64(27))) * _MIX2
                    z = z ^ (z >> np.uint64(31))
                    idx = np.int64(z % np.uint64(nres))
                    v = dense[idx]
                    last = dense[nres - 1]
                    dense[idx] = last
                    pos[last] = idx
                    victim = v
                    done += 1
                # evict ``victim``
                ve = owner[victim]
                status[victim] = 2
                nres -= 1
                cnt[ve, C_RESIDENT] -= 1
                cnt[ve, C_EVICTIONS] += 1
                cnt[ve, C_EVICTED_OUT] += 1
                victims[ve] += 1
                if va_on and cnt[ve, C_EVICTED_OUT] > VA_SLOTS_PER_PAGE * cnt[ve, C_VA_PAGES]:
                    cnt[ve, C_VA_PAGES] += 1
                    if policy == CLOCK:
                        frame_gid[f] = -2
                else:
                    free += 1
                    if policy == CLOCK:
                        tail_slot = fq_head + fq_count
                        if tail_slot >= n_frames:
                            tail_slot -= n_frames
                        freeq[tail_slot] = f
                        fq_count += 1
        if free <= 0:
            code = -2
            break
        # load g
        faults += 1
        if st == 2:
            cnt[e, C_EVICTED_OUT] -= 1
        status[g] = 1
        free -= 1
        cnt[e, C_RESIDENT] += 1
        if policy == CLOCK:
            f = freeq[fq_head]
            fq_head += 1
            if fq_head == n_frames:
                fq_head = 0
            fq_count -= 1
            frame_gid[f] = g
            frame_of[g] = f
            fref[f] = 0
        elif policy == RANDOM:
            pos[g] = nres
            dense[nres] = g
        else:
            prev[g] = tail
            nxt[g] = -1
            if tail >= 0:
                nxt[tail] = g
            else:
                head = g
            tail = g
            if policy == LINUX:
                ref[g] = 1
        nres += 1
        if policy == LINUX and free < low:
            # ksgxd: batches until ``high`` pages are free
            while free < high and nres > 0:
                scan = batch if batch < nres else nres
                for _ in range(scan):
                    v = head
                    nx = nxt[v]
                    head = nx
                    if nx >= 0:
                        prev[nx] = -1
                    else:
                        tail = -1
                    if ref[v] != 0:
                        ref[v] = 0
                        prev[v] = tail
                        nxt[v] = -1
                        if tail >= 0:
                            nxt[tail] = v
                        else:
                            head = v
                        tail = v
                        continue
                    ve = owner[v]
                    status[v] = 2
                    nres -= 1
                    cnt[ve, C_RESIDENT] -= 1
                    cnt[ve, C_EVICTIONS] += 1
                    cnt[ve, C_EVICTED_OUT] += 1
                    victims[ve] += 1
                    if va_on and (cnt[ve, C_EVICTED_OUT]
                                  > VA_SLOTS_PER_PAGE * cnt[ve, C_VA_PAGES]):
                        cnt[ve, C_VA_PAGES] += 1
                    else:
                        free += 1
    sc[HEAD] = head
    sc[TAIL] = tail
    sc[HAND] = hand
    sc[FREE] = free
    sc[NRES] = nres
    sc[FQ_HEAD] = fq_head
    sc[FQ_COUNT] = fq_count
    cnt[e, C_HITS] += hits
    cnt[e, C_FAULTS] += faults
    return hits, faults, code

"""The numba building blocks the kernels share, against Python's own: IntMap against a
dict, StringTrie against tuples, the heap against heapq, growable arrays, selection
against numpy's partition."""

import heapq

import numpy as np

from hclg.fst.growable import grown, grown_by_half
from hclg.fst.hash_table import map_set, map_store, map_with_room, new_int_map, slot_of
from hclg.fst.heap import heap_pop, heap_push
from hclg.fst.selection import kth_smallest
from hclg.fst.string_trie import new_trie, trie_add, trie_lca, trie_with_room


def test_int_map_agrees_with_a_dict_through_rehashes():
    rng = np.random.default_rng(0)
    m = new_int_map(8)
    want = {}
    for _ in range(3000):
        key = int(rng.integers(0, 1 << 40))
        val = int(rng.integers(0, 1 << 30))
        m = map_set(m, slot_of(m.keys, key), key, val)
        want[key] = val
    assert m.size[0] == len(want) and 2 * len(want) <= len(m.keys)
    for key, val in want.items():
        s = slot_of(m.keys, key)
        assert m.keys[s] == key and m.vals[s] == val
    assert m.keys[slot_of(m.keys, 1 << 50)] == -1  # absent: an empty slot
    # map_with_room then plain stores: the same map
    r = new_int_map(8)
    items = list(want.items())
    for i in range(0, len(items), 100):
        r = map_with_room(r, 100)
        for key, val in items[i:i + 100]:
            map_store(r, slot_of(r.keys, key), key, val)
        assert 2 * r.size[0] <= len(r.keys)
    assert r.size[0] == len(want) and all(r.vals[slot_of(r.keys, k)] == v for k, v in want.items())


def test_string_trie_makes_each_string_once_and_finds_common_prefixes():
    rng = np.random.default_rng(1)
    trie = new_trie(2, 4)  # tiny, so that it grows and rehashes
    node_of = {(): 0}
    strings = [tuple(int(x) for x in rng.integers(1, 4, size=rng.integers(0, 7))) for _ in range(300)]
    for s in strings:
        node = 0
        trie = trie_with_room(trie, len(s))  # then trie_add grows nothing
        for i, lab in enumerate(s):
            node = trie_add(trie, node, lab)
            node = int(node)
            assert node_of.setdefault(s[: i + 1], node) == node
    assert trie.size[0] == len(node_of)
    string_of = {v: k for k, v in node_of.items()}
    for v, s in string_of.items():
        assert trie.depth[v] == len(s) and (not s or (trie.label[v] == s[-1] and string_of[trie.parent[v]] == s[:-1]))
    for a, b in zip(strings, strings[1:]):
        k = 0
        while k < min(len(a), len(b)) and a[k] == b[k]:
            k += 1
        assert string_of[trie_lca(node_of[a], node_of[b], trie.parent, trie.depth)] == a[:k]


def test_heap_pops_in_heapq_order():
    rng = np.random.default_rng(2)
    xs = rng.integers(0, 50, size=500)
    h, n, ref = np.empty(500, np.int64), 0, []
    out, want = [], []
    for i, x in enumerate(xs):
        n = heap_push(h, n, np.int64(x))
        heapq.heappush(ref, int(x))
        if i % 3 == 2:
            top, n = heap_pop(h, n)
            out.append(int(top))
            want.append(heapq.heappop(ref))
    while n:
        top, n = heap_pop(h, n)
        out.append(int(top))
        want.append(heapq.heappop(ref))
    assert out == want


def test_growable_arrays_keep_their_contents():
    a = np.arange(10, dtype=np.int32)
    assert grown(a, 5) is a and grown_by_half(a, 10) is a
    b, c = grown(a, 11), grown_by_half(a, 11)
    assert len(b) == 20 and len(c) == 31 and (b[:10] == a).all() and (c[:10] == a).all()
    assert len(grown(a, 100)) == 100


def test_kth_smallest_gives_numpys_partition_value():
    # ties, infinities, sorted and reversed runs (quickselect's bad cases), every k
    rng = np.random.default_rng(3)
    cases = [rng.normal(size=40), rng.integers(0, 3, 40).astype(float), np.full(17, 2.5), np.arange(33.0),
             np.arange(33.0)[::-1].copy(), np.where(rng.random(40) < 0.3, np.inf, rng.normal(size=40)), np.array([7.0])]
    for a in cases:
        for k in range(len(a)):
            work = np.concatenate([a, [-1e9, 1e9]])  # only a[:n] is read
            assert kth_smallest(work, len(a), k) == np.partition(a, k)[k]
            assert sorted(work[:len(a)]) == sorted(a)  # reordered, nothing lost
    for _ in range(300):
        n = int(rng.integers(1, 3000))
        a = np.round(rng.normal(size=n), int(rng.integers(0, 3)))
        k = int(rng.integers(0, n))
        assert kth_smallest(a.copy(), n, k) == np.partition(a, k)[k]

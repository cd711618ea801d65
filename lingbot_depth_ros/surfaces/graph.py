"""Connected components of point graphs (vectorized union-find, no scipy)."""

from __future__ import annotations

import numpy as np


def connected_components(n: int, edges: np.ndarray) -> np.ndarray:
    """Component label of each of ``n`` nodes linked by ``edges`` ((E, 2) int node indices).

    Returns (n,) int64 labels: the smallest node index of each component.
    """
    parent = np.arange(n, dtype=np.int64)
    if len(edges) == 0:
        return parent
    a, b = edges[:, 0].astype(np.int64), edges[:, 1].astype(np.int64)
    while True:
        pa, pb = parent[a], parent[b]
        differ = pa != pb
        if not differ.any():
            return parent
        lo, hi = np.minimum(pa, pb)[differ], np.maximum(pa, pb)[differ]
        np.minimum.at(parent, hi, lo)
        while True:  # pointer jumping until every node points at its root
            grand = parent[parent]
            if np.array_equal(grand, parent):
                break
            parent = grand


def grid_edges(shape: tuple[int, int]) -> np.ndarray:
    """(E, 2) flat-index edges between 4-neighbours of an (h, w) grid."""
    h, w = shape
    idx = np.arange(h * w, dtype=np.int64).reshape(h, w)
    horizontal = np.stack([idx[:, :-1].ravel(), idx[:, 1:].ravel()], axis=1)
    vertical = np.stack([idx[:-1, :].ravel(), idx[1:, :].ravel()], axis=1)
    return np.concatenate([horizontal, vertical])


def largest_component(nodes: np.ndarray, edges: np.ndarray, n_total: int) -> np.ndarray:
    """The largest connected subset of ``nodes`` (global indices) using only edges inside ``nodes``."""
    if len(nodes) <= 1:
        return nodes
    local = np.full(n_total, -1, dtype=np.int64)
    local[nodes] = np.arange(len(nodes))
    la, lb = local[edges[:, 0]], local[edges[:, 1]]
    inside = (la >= 0) & (lb >= 0)
    labels = connected_components(len(nodes), np.stack([la[inside], lb[inside]], axis=1))
    best = np.bincount(labels).argmax()
    return nodes[labels == best]

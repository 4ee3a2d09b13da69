"""The structure of a NIR graph as :func:`snnfunc.interop.nir.from_nir` reads it.

A graph imports when, after its nested graphs are inlined, it is one chain
``Input -> ... -> Output`` in which a neuron node may also have one *recurrent* weight node ``W``
(``Linear`` or ``Affine``) that takes the neuron's output and feeds it back into the neuron's
input (edges ``N -> W`` and ``W -> N``, and no other edge at ``W``): snnTorch's RLeaky/RSynaptic
export, and :func:`snnfunc.interop.nir.to_nir`'s of a recurrent layer. Every other cycle (through
several layers, a node feeding itself without weights) and every branch or merge is refused,
naming the nodes. This module knows the graph's shape only, not what the nodes compute.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

_WEIGHT_NODES = ("Linear", "Affine")


@dataclass(frozen=True)
class Chain:
    """A graph read as a chain with recurrent weight nodes.

    Attributes:
        nodes: every node of the inlined graph by name (nested graphs' nodes as ``"outer.inner"``).
        order: the chain's node names, from its Input node to its Output node.
        recurrent: ``{neuron node name: its recurrent weight node's name}``.
    """

    nodes: dict[str, Any]
    order: tuple[str, ...]
    recurrent: dict[str, str]


def _kind(node: Any) -> str:
    return type(node).__name__


def inline(graph: Any, nir: Any) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """``(nodes, edges)`` of ``graph`` with every nested ``NIRGraph`` node replaced by its nodes
    (named ``"outer.inner"``): edges into the nested graph go to the nodes its Input node feeds,
    edges out of it leave from the nodes that feed its Output node."""
    nodes: dict[str, Any] = {}
    edges = [(str(a), str(b)) for a, b in graph.edges]
    for a, b in edges:
        if a not in graph.nodes or b not in graph.nodes:
            missing = a if a not in graph.nodes else b
            raise ValueError(
                f"edge ({a!r}, {b!r}) names a node {missing!r} the graph does not have "
                f"(its nodes: {sorted(graph.nodes)})"
            )
    entries: dict[str, list[str]] = {}  # nested graph -> its nodes fed by its Input
    exits: dict[str, list[str]] = {}  # nested graph -> its nodes feeding its Output
    for name, node in graph.nodes.items():
        if not isinstance(node, nir.NIRGraph):
            nodes[name] = node
            continue
        inner_nodes, inner_edges = inline(node, nir)
        ins = [k for k, n in inner_nodes.items() if isinstance(n, nir.Input)]
        outs = [k for k, n in inner_nodes.items() if isinstance(n, nir.Output)]
        if len(ins) != 1 or len(outs) != 1:
            raise ValueError(
                f"nested graph {name!r} must have one Input and one Output node, got inputs "
                f"{ins} and outputs {outs}"
            )
        if (ins[0], outs[0]) in inner_edges:
            raise ValueError(
                f"nested graph {name!r} passes its input straight to its output (an edge "
                f"{ins[0]!r} -> {outs[0]!r}); snnfunc imports nested graphs of layers only"
            )
        entries[name] = [f"{name}.{b}" for a, b in inner_edges if a == ins[0]]
        exits[name] = [f"{name}.{a}" for a, b in inner_edges if b == outs[0]]
        for key, inner in inner_nodes.items():
            if key in (ins[0], outs[0]):
                continue
            full = f"{name}.{key}"
            if full in graph.nodes:
                raise ValueError(f"nested graph {name!r}: node name {full!r} is taken")
            nodes[full] = inner
        edges += [
            (f"{name}.{a}", f"{name}.{b}")
            for a, b in inner_edges
            if a not in (ins[0], outs[0]) and b not in (ins[0], outs[0])
        ]
    flat: list[tuple[str, str]] = []
    for a, b in edges:
        for src in exits.get(a, [a]):
            for dst in entries.get(b, [b]):
                flat.append((src, dst))
    return nodes, flat


def _cycle(nodes: dict[str, Any], edges: list[tuple[str, str]]) -> list[str] | None:
    """One cycle's node names, in order, or None if the graph has none (iterative DFS)."""
    succ: dict[str, list[str]] = {k: [] for k in nodes}
    for a, b in edges:
        succ[a].append(b)
    color = dict.fromkeys(nodes, 0)  # 0 unseen, 1 on the path, 2 done
    for root in nodes:
        if color[root]:
            continue
        path, stack = [root], [iter(succ[root])]
        color[root] = 1
        while stack:
            nxt = next(stack[-1], None)
            if nxt is None:
                color[path.pop()] = 2
                stack.pop()
            elif color[nxt] == 1:
                return path[path.index(nxt) :]
            elif color[nxt] == 0:
                color[nxt] = 1
                path.append(nxt)
                stack.append(iter(succ[nxt]))
    return None


_SUPPORTED = (
    "snnfunc imports a chain of nodes from the Input node to the Output node, in which a neuron "
    "node (LIF, CubaLIF, ...) may have one recurrent Linear/Affine node W fed by its output "
    "and feeding its input (edges N -> W -> N: a recurrent layer, as snnTorch's RLeaky exports)"
)


def chain(graph: Any, nir: Any, neurons: Collection[str]) -> Chain:
    """Read ``graph`` as a :class:`Chain`, or raise ValueError saying what was found and what
    imports. ``neurons``: the names of the node types that may have a recurrent weight node."""
    nodes, edges = inline(graph, nir)
    for a, b in edges:
        if a == b:
            raise ValueError(
                f"node {a!r} ({_kind(nodes[a])}) feeds itself directly (edge {a!r} -> {a!r}); "
                f"a recurrent edge must go through a Linear/Affine node: {_SUPPORTED}"
            )
    inputs = [k for k, n in nodes.items() if isinstance(n, nir.Input)]
    if len(inputs) != 1:
        raise ValueError(f"graph must have exactly one Input node, got {inputs}")
    pred: dict[str, list[str]] = {k: [] for k in nodes}
    succ: dict[str, list[str]] = {k: [] for k in nodes}
    for a, b in edges:
        succ[a].append(b)
        pred[b].append(a)
    recurrent: dict[str, str] = {}
    for name, node in nodes.items():
        if _kind(node) not in _WEIGHT_NODES or len(pred[name]) != 1 or pred[name] != succ[name]:
            continue
        owner = pred[name][0]
        if _kind(nodes[owner]) not in neurons:
            raise ValueError(
                f"node {name!r} ({_kind(node)}) feeds {owner!r} ({_kind(nodes[owner])}) back "
                f"into itself; only a neuron node's own output can be fed back: {_SUPPORTED}"
            )
        if owner in recurrent:
            raise ValueError(
                f"node {owner!r} has two recurrent weight nodes ({recurrent[owner]!r} and "
                f"{name!r}); add them into one Linear/Affine node"
            )
        recurrent[owner] = name
    rest = {k: n for k, n in nodes.items() if k not in recurrent.values()}
    loops = _pairs(recurrent)
    rest_edges = [(a, b) for a, b in edges if (a, b) not in loops]
    cycle = _cycle(rest, rest_edges)
    if cycle is not None:
        described = " -> ".join(f"{k} ({_kind(nodes[k])})" for k in [*cycle, cycle[0]])
        raise ValueError(
            f"graph has a cycle through {len(cycle)} nodes: {described}; a cycle through several "
            f"layers has no snnfunc form: {_SUPPORTED}"
        )
    rest_pred: dict[str, list[str]] = {k: [] for k in rest}
    rest_succ: dict[str, list[str]] = {k: [] for k in rest}
    for a, b in rest_edges:
        rest_succ[a].append(b)
        rest_pred[b].append(a)
    for name in rest:
        if len(rest_succ[name]) > 1 or len(rest_pred[name]) > 1:
            raise ValueError(
                f"only feed-forward chains import; node {name!r} ({_kind(nodes[name])}) has "
                f"{len(rest_pred[name])} inputs {rest_pred[name]} and {len(rest_succ[name])} "
                f"outputs {rest_succ[name]} (branches and merges are not supported): {_SUPPORTED}"
            )
    order, name = [], inputs[0]
    while True:
        order.append(name)
        if not rest_succ[name]:
            break
        name = rest_succ[name][0]
    if len(order) != len(rest) or not isinstance(nodes[order[-1]], nir.Output):
        raise ValueError(
            f"graph must be one chain from its Input node to an Output node; from the Input "
            f"{order[0]!r} it runs {' -> '.join(order)}, and {len(rest) - len(order)} nodes are "
            "not on it"
        )
    return Chain(nodes, tuple(order), recurrent)


def _pairs(recurrent: dict[str, str]) -> set[tuple[str, str]]:
    """The edges ``N -> W`` and ``W -> N`` of every recurrent weight node."""
    return {e for n, w in recurrent.items() for e in ((n, w), (w, n))}

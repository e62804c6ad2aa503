"""Words' pronunciations as a prefix tree (shared prefixes, as a determinized lexicon): the
shape in which :mod:`hclg.graph.new_words_ctc` and :mod:`hclg.graph.new_words_hmm` add a
request's words to a graph."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class TreeNode:
    """A token or phone sequence shared by some of the words.

    Attributes:
        label: its last token or phone.
        parent: the node of the sequence without it, -1 at the root.
        lead: the least lookahead of the words below (their LM cost less their credit).
        words: word ids whose pronunciation ends here.
        children: the nodes one label longer.
    """

    label: int
    parent: int
    lead: float
    words: list[int] = field(default_factory=list)
    children: list[int] = field(default_factory=list)


def prefix_tree(chains) -> list[TreeNode]:
    """The tree of ``chains`` ((word id, labels, lookahead) per pronunciation), nodes in
    the order first met (a parent before its children)."""
    nodes: list[TreeNode] = []
    child: dict[tuple[int, int], int] = {}
    for wid, labels, lead in chains:
        parent = -1
        for x in labels:
            n = child.get((parent, x))
            if n is None:
                n = child[parent, x] = len(nodes)
                nodes.append(TreeNode(x, parent, lead))
                if parent >= 0:
                    nodes[parent].children.append(n)
            nodes[n].lead = min(nodes[n].lead, lead)
            parent = n
        if wid not in nodes[parent].words:
            nodes[parent].words.append(wid)
    return nodes

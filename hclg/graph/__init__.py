"""Building a decoding graph: lexicon (L), grammar (G, from ARPA), HMM topology (H, with
its self-loops) or CTC topology (T), context (C), the recipe (Kaldi's mkgraph.sh as one
logged line of steps) and the graph directory format, including the arc records the
search reads (:mod:`hclg.graph.arc_records`, the contract with :mod:`hclg.search`)."""

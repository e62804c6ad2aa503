"""Word lattices: the :class:`~hclg.lattice.lattice.Lattice` type (Kaldi's CompactLattice),
its pruned determinization from the search's raw lattice, lattice generation
(:class:`~hclg.lattice.generation.LatticeDecoder`), n-best, posteriors, MBR and CTM,
rescoring, the Kaldi/npz/OpenFst formats and drawing."""

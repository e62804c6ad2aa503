"""Decoding one utterance: options, input readers, scaled likelihoods, the token-passing
beam search kernels (1-best and lattice), :class:`~hclg.search.decoder.Decoder` and its
:class:`~hclg.search.decoder.Result`, and word times."""

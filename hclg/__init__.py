"""hclg: a WFST decoder for hybrid and CTC speech recognition.

The public API, importable from here (loaded on first use, so that ``import hclg`` and the
command line stay quick)::

    import hclg
    res = hclg.compile_graph("lexicon.txt", "lm.arpa", "graph", hclg.CompileOptions())
    dec = hclg.Decoder("graph", hclg.DecoderOptions(input_kind="logits"))
    result = dec.decode(logits)
    result, lattice = hclg.LatticeDecoder("graph").decode_lattice(logits)
    stream = dec.stream("call-1")          # chunk by chunk: accept, partial, is_endpoint, finalize

Layers, each a subpackage, importing only those below it: :mod:`hclg.fst` (FST machinery,
no speech knowledge) <- :mod:`hclg.graph` (building and storing decoding graphs) <-
:mod:`hclg.search` (likelihoods and the beam search) <- :mod:`hclg.lattice` (word lattices)
<- :mod:`hclg.batch` (decoding a corpus to files, here or on a Dask cluster through
:mod:`hclg.cluster`) <- :mod:`hclg.cli`.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

#: public name -> the module that defines it
_PUBLIC = {
    "CompileOptions": "hclg.graph.compile_options",
    "CompileResult": "hclg.graph.compile",
    "compile_graph": "hclg.graph.compile",
    "Graph": "hclg.graph.graph_dir",
    "load_graph": "hclg.graph.graph_dir",
    "graph_info": "hclg.graph.graph_dir",
    "SymbolTable": "hclg.graph.symbols",
    "DecoderOptions": "hclg.search.options",
    "Decoder": "hclg.search.decoder",
    "Result": "hclg.search.decoder",
    "decode_matrix": "hclg.search.decoder",
    "Stream": "hclg.search.stream",
    "Partial": "hclg.search.stream",
    "EndpointOptions": "hclg.search.endpoint",
    "Hotword": "hclg.search.bias",
    "read_hotwords": "hclg.search.bias",
    "iter_matrices": "hclg.search.matrix_readers",
    "Lattice": "hclg.lattice.lattice",
    "LatticeDecoder": "hclg.lattice.generation",
    "LatticeWriter": "hclg.lattice.archives",
    "read_lattices": "hclg.lattice.archives",
    "mbr_decode": "hclg.lattice.mbr",
    "decode_batch": "hclg.batch",
    "decode_corpus": "hclg.batch",
    "import_kaldi_graph": "hclg.graph.kaldi_graph",
    "mkgraph": "hclg.graph.kaldi_graph",
    "read_transition_model": "hclg.graph.kaldi_model",
    "ctc_loss": "hclg.transcript.ctc_loss",
    "CtcLoss": "hclg.transcript.ctc_loss",
    "ctc_forced_align": "hclg.transcript.ctc_loss",
    "BatchSummary": "hclg.batch",
    "HclgError": "hclg.errors",
    "InputFormatError": "hclg.errors",
    "GraphBuildError": "hclg.errors",
    "GraphFormatError": "hclg.errors",
    "DecodeError": "hclg.errors",
}

__all__ = ["__version__", *sorted(_PUBLIC)]


def __getattr__(name: str):
    module = _PUBLIC.get(name)
    if module is None:
        raise AttributeError(f"module 'hclg' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


def __dir__():
    return __all__

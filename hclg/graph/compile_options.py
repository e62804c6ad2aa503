"""Options of the graph recipe (:func:`hclg.graph.compile.compile_graph`): one frozen
dataclass with Kaldi's names and defaults, validated when it is made; the CLI makes its
options from the fields (help, choices)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

from hclg import constants

#: the hmm_topology names built in (others are files)
BUILTIN_TOPOLOGY_NAMES = ("kaldi-3state", "chain")
LEXICON_FORMATS = ("auto", "kaldi", "lexiconp", "cmudict")


HELP = {
    "topology": "Acoustic topology: 'hmm' (HCLG over transition ids) or 'ctc' (TLG over tokens).",
    "hmm_topology": "HMM per phone: 'kaldi-3state', 'chain', a Kaldi topo file, or a 'phone from to prob' table.",
    "pdf_map": "File of 'phone hmm_state pdf [self_loop_pdf]' lines: the posterior column of each HMM state. "
               "Default: a new column per (phone, pdf class).",
    "context_table": "Triphone (left, phone, right, state) -> pdf table, or a Sphinx mdef: builds a "
                     "context-dependent graph (C of width 3). Default: monophone.",
    "sil_prob": "Probability of optional silence between words (Kaldi's --sil-prob). Default 0.5 for hmm, 0 for ctc.",
    "sil_phone": "The optional-silence phone.",
    "sil_loop_prob": "Probability that an optional silence is followed by another (long pauses as several "
                     "silences, as pocketsphinx's filler loop). 0: at most one, as Kaldi's prepare_lang.",
    "kaldi_model": "A Kaldi final.mdl: H takes its transition ids, pdfs and transition probabilities "
                   "(as mkgraph.sh); give its phones.txt with --phones. The graph then reads Kaldi's pdf columns.",
    "kaldi_tree": "The Kaldi model's decision tree ('tree'): a context-dependent graph (triphone, or left biphone "
                  "as chain models'), C and H as Kaldi's fstcomposecontext and make-h-transducer. Without it: "
                  "monophone.",
    "grammar_words": "words.txt of a grammar FST that carries no symbol table (Kaldi's data/lang/G.fst, with "
                     "#0 on its backoff arcs).",
    "fillers": "Pocketsphinx fillers.dic ('WORD PHONE ...'): each distinct pronunciation (silence, noises) is an "
               "alternative of the optional silence between words; the words are not output.",
    "position_dependent_phones": "Use Kaldi's word-position phones (_B _I _E _S) and write word_boundary.txt.",
    "self_loop_scale": "Scale on HMM self-loop log probabilities (Kaldi's --self-loop-scale). Default 0.1, 1.0 for chain.",
    "transition_scale": "Scale on HMM forward transition log probabilities (Kaldi's --transition-scale).",
    "ctc_topo": "CTC topology: 'standard' (N^2 arcs) or 'compact' (O(N) arcs, reads 'a a' also as two tokens).",
    "blank": "CTC blank symbol in the token list.",
    "word_delimiter": "CTC word delimiter token (e.g. '|' for wav2vec2): optional between words, like silence.",
    "bpe_model": "CTC BPE models: the model's sentencepiece model (icefall's bpe.model), kept with an on-the-fly "
                 "graph to spell the words a request adds (hotwords the lexicon lacks; needs sentencepiece).",
    "unk": "Unknown-word symbol: LM words without pronunciation map to it if the lexicon has it.",
    "lexicon_format": "Lexicon format: auto, kaldi, lexiconp or cmudict.",
    "on_the_fly": "Write an on-the-fly graph: the lexicon graph (H o C o L, or T o L) with G's unigrams, and G "
                  "as arrays the search composes as it goes (big LMs without a big HCLG; 'hclg info' says the kind).",
    "frame_subsampling_factor": "Input (feature) frames per output frame of the acoustic model the graph is for "
                                "(3 for Kaldi's chain models and many CTC models): kept with the graph, so that "
                                "decoding gives word times in seconds without being told.",
    "max_determinize_mem": "Memory cap (bytes) for each determinization; default 80% of available memory.",
}


@dataclass(frozen=True)
class CompileOptions:
    """Options of :func:`compile_graph`; names and defaults as Kaldi's where Kaldi has them."""

    topology: str = field(default="hmm", metadata={"help": HELP["topology"], "choices": ("hmm", "ctc")})
    hmm_topology: str = field(default="kaldi-3state", metadata={"help": HELP["hmm_topology"]})
    pdf_map: str | None = field(default=None, metadata={"help": HELP["pdf_map"], "file": True})
    context_table: str | None = field(default=None, metadata={"help": HELP["context_table"], "file": True})
    sil_prob: float | None = field(default=None, metadata={"help": HELP["sil_prob"]})
    sil_phone: str = field(default=constants.SIL_PHONE, metadata={"help": HELP["sil_phone"]})
    sil_loop_prob: float = field(default=0.0, metadata={"help": HELP["sil_loop_prob"]})
    fillers: str | None = field(default=None, metadata={"help": HELP["fillers"], "file": True})
    grammar_words: str | None = field(default=None, metadata={"help": HELP["grammar_words"], "file": True})
    kaldi_model: str | None = field(default=None, metadata={"help": HELP["kaldi_model"], "file": True})
    kaldi_tree: str | None = field(default=None, metadata={"help": HELP["kaldi_tree"], "file": True})
    position_dependent_phones: bool = field(default=constants.POSITION_DEPENDENT_PHONES, metadata={"help": HELP["position_dependent_phones"]})
    self_loop_scale: float | None = field(default=None, metadata={"help": HELP["self_loop_scale"]})
    transition_scale: float = field(default=constants.TRANSITION_SCALE, metadata={"help": HELP["transition_scale"]})
    ctc_topo: str = field(default="standard", metadata={"help": HELP["ctc_topo"], "choices": ("standard", "compact")})
    blank: str = field(default=constants.CTC_BLANK, metadata={"help": HELP["blank"]})
    word_delimiter: str | None = field(default=None, metadata={"help": HELP["word_delimiter"]})
    bpe_model: str | None = field(default=None, metadata={"help": HELP["bpe_model"], "file": True})
    unk: str = field(default=constants.UNK, metadata={"help": HELP["unk"]})
    lexicon_format: str = field(default="auto", metadata={"help": HELP["lexicon_format"], "choices": LEXICON_FORMATS})
    max_determinize_mem: int | None = field(default=None, metadata={"help": HELP["max_determinize_mem"]})
    on_the_fly: bool = field(default=False, metadata={"help": HELP["on_the_fly"]})
    frame_subsampling_factor: int = field(default=constants.FRAME_SUBSAMPLING_FACTOR, metadata={"help": HELP["frame_subsampling_factor"]})

    def __post_init__(self):
        self.validate()

    def validate(self) -> "CompileOptions":
        """Raises ValueError naming the first bad option; returns self (it runs when the
        options are made)."""
        if self.topology not in ("hmm", "ctc"):
            raise ValueError(f"topology must be 'hmm' or 'ctc', got {self.topology!r}")
        if self.ctc_topo not in ("standard", "compact"):
            raise ValueError(f"ctc_topo must be 'standard' or 'compact', got {self.ctc_topo!r}")
        if self.sil_prob is not None and not 0.0 <= self.sil_prob < 1.0:
            raise ValueError(f"sil_prob must be in [0, 1), got {self.sil_prob}")
        if not 0.0 <= self.sil_loop_prob < 1.0:
            raise ValueError(f"sil_loop_prob must be in [0, 1), got {self.sil_loop_prob}")
        if (self.sil_loop_prob or self.fillers) and self.topology != "hmm":
            raise ValueError("sil_loop_prob and fillers are for HMM graphs (a CTC blank covers silence)")
        for name in ("self_loop_scale", "transition_scale"):
            v = getattr(self, name)
            if v is not None and v < 0:
                raise ValueError(f"{name} must be >= 0, got {v}")
        if self.kaldi_model is not None and (self.topology != "hmm" or self.pdf_map or self.context_table):
            raise ValueError("kaldi_model gives H itself: it needs topology 'hmm' and no pdf_map or context_table")
        if self.kaldi_tree is not None and self.kaldi_model is None:
            raise ValueError("kaldi_tree needs kaldi_model: the tree's pdfs are that model's")
        if self.bpe_model is not None and (self.topology != "ctc" or not self.on_the_fly):
            raise ValueError("bpe_model spells the words a request adds to an on-the-fly CTC graph: it needs "
                             "topology 'ctc' and on_the_fly")
        if self.context_table is not None and self.topology != "hmm":
            raise ValueError("context_table needs topology 'hmm'")
        if self.topology == "hmm" and self.hmm_topology not in BUILTIN_TOPOLOGY_NAMES and not Path(self.hmm_topology).exists():
            raise ValueError(f"hmm_topology {self.hmm_topology!r} is neither {sorted(BUILTIN_TOPOLOGY_NAMES)} nor a file")
        if self.frame_subsampling_factor < 1:
            raise ValueError(f"frame_subsampling_factor must be >= 1, got {self.frame_subsampling_factor}")
        if self.lexicon_format not in LEXICON_FORMATS:
            raise ValueError(f"lexicon_format must be one of {LEXICON_FORMATS}, got {self.lexicon_format!r}")
        return self

    def resolved(self) -> "CompileOptions":
        """Fills the defaults that depend on the topology."""
        sil = self.sil_prob
        if sil is None:
            sil = constants.SIL_PROB if self.topology == "hmm" else (constants.SIL_PROB if self.word_delimiter else 0.0)
        sls = self.self_loop_scale
        if sls is None:
            sls = constants.CHAIN_SELF_LOOP_SCALE if self.hmm_topology == "chain" else constants.SELF_LOOP_SCALE
        return dataclasses.replace(self, sil_prob=sil, self_loop_scale=sls)

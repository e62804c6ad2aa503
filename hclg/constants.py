"""Defaults shared by the library and the CLI (one place, as pyctcdecode keeps them).

Costs are used everywhere inside hclg: cost = -log(prob), natural log. ARPA files store
log10 probabilities; they are converted once, when the ARPA is read.
"""

# Symbols.
EPS = "<eps>"
BOS = "<s>"
EOS = "</s>"
UNK = "<unk>"
BACKOFF_DISAMBIG = "#0"
DISAMBIG_PREFIX = "#"
CTC_BLANK = "<blk>"

# Lexicon / L (as Kaldi's prepare_lang.sh).
SIL_PROB = 0.5
SIL_PHONE = "SIL"
POSITION_DEPENDENT_PHONES = False

# H (as Kaldi's mkgraph.sh).
SELF_LOOP_SCALE = 0.1
CHAIN_SELF_LOOP_SCALE = 1.0
TRANSITION_SCALE = 1.0

# Graph optimisation: its constants (Kaldi's kDelta, the memory guard) are hclg.fst's.

# Decoder (as Kaldi's decoder options).
BEAM = 16.0
MAX_ACTIVE = 2**31 - 1
MIN_ACTIVE = 200
# CTC graphs (issue 19): the blank keeps a handful of states alive per frame, so Kaldi's
# min-active 200 keeps nearly every state of a small graph (4.5x slower at the same WER on
# AN4); sherpa-onnx's CTC FST decoder gets kaldi-decoder's FasterDecoder min-active 20, and
# max-active is 3000-10000 there and in icefall: Kaldi recipes' 7000.
CTC_MAX_ACTIVE = 7000
CTC_MIN_ACTIVE = 20
BEAM_DELTA = 0.5
LATTICE_BEAM = 10.0
PRUNE_INTERVAL = 25
LATTICE_SEARCH_MAX_MEM = 4_000_000_000  # bytes of tokens and links kept by the lattice search, one utterance
DETERMINIZE_MAX_MEM = 50_000_000  # bytes, Kaldi's --max-mem for lattice determinization
ACOUSTIC_SCALE = 0.1
PRIOR_SCALE = 1.0
FRAME_SHIFT = 0.01
FRAME_SUBSAMPLING_FACTOR = 1

# Graph directory format.
#: on-the-fly graph directories (lexicon graph + lm/): a version older hclg refuse, rather than
#: decode the lexicon graph without G
ON_THE_FLY_FORMAT_VERSION = 6  # 6: the lexicon graph's word loop carries G's unigram costs
GRAPH_FORMAT_VERSION = 4  # 2: arc records and paired offsets; 3: the unit table is units.txt (was tokens.txt);
# 4: HMM self-loops after the forward transition, as Kaldi (manifest "self_loops": "reorder")

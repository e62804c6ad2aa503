"""icefall / sherpa-onnx interop (issue 14): an icefall lang directory compiles as it is,
and hclg's CTC graph is what sherpa-onnx's HLG decoding expects: input label k + 1 reads
column k of the model's log-probabilities (kaldi-decoder's DecodableCtc, which
sherpa-onnx uses), so kaldi-decoder's FasterDecoder over hclg's HCLG.fst and the raw
log-probabilities gives hclg's 1-best. Checked on real CTC output (../shared/an4)."""

import re

import kaldi_decoder
import kaldifst
import numpy as np
import pytest
from click.testing import CliRunner
from helpers import SHARED_AN4
from oracles.kaldi_recipes import kaldi_faster_decode

from hclg.cli import main
from hclg.graph.ctc_topology import read_token_list
from hclg.search.decoder import Decoder
from hclg.search.matrix_readers import iter_matrices
from hclg.search.options import DecoderOptions

pytestmark = pytest.mark.skipif(not SHARED_AN4.exists(), reason="needs ../shared/an4")


def icefall_lang_phone(d):
    """An icefall lang_phone directory for the AN4 CTC model, in icefall's formats:
    tokens.txt with the blank as '<eps> 0' and '#k' after the tokens, lexicon.txt, words.txt."""
    d.mkdir()
    toks = [line.split()[0] for line in (SHARED_AN4 / "ctc_tokens.txt").read_text().splitlines()]
    (d / "tokens.txt").write_text("".join(f"{t} {i}\n" for i, t in enumerate(["<eps>"] + toks[1:] + ["#0", "#1"])))
    prons = {}
    for line in (SHARED_AN4 / "lexicon.dic").read_text().splitlines():
        p = line.split()
        w = re.sub(r"\(\d+\)$", "", p[0]) if p else ""
        if p and w not in prons:
            prons[w] = [x for x in p[1:] if x != "SIL"]
    prons.update({"A": ["EY"], "ONE": ["W", "AH", "N"]})  # as the model's training (shared/an4/README.md)
    (d / "lexicon.txt").write_text("".join(f"{w} {' '.join(p)}\n" for w, p in prons.items() if p))
    words = ["<eps>", "!SIL"] + sorted(prons) + ["#0", "<s>", "</s>"]
    (d / "words.txt").write_text("".join(f"{w} {i}\n" for i, w in enumerate(words)))
    return d


def test_icefall_lang_dir_compiles_as_it_is_and_sherpa_onnx_reads_the_graph(tmp_path):
    lang = icefall_lang_phone(tmp_path / "lang_phone")
    r = CliRunner().invoke(main, ["compile", "--topology", "ctc", "-l", str(lang / "lexicon.txt"), "--tokens",
                                  str(lang / "tokens.txt"), "-g", str(SHARED_AN4 / "lm_train_3gram.arpa"),
                                  str(tmp_path / "g")])
    assert r.exit_code == 0, r.output
    assert "read as the blank" in r.output
    dec = Decoder(tmp_path / "g", DecoderOptions())
    # a CTC graph's defaults (issue 19): max-active 7000 and min-active 20, as sherpa-onnx's
    # CTC FST decoder; Kaldi's 200 would keep nearly every state of this graph alive
    assert (dec.beam_options.max_active, dec.beam_options.min_active) == (7000, 20)
    kfst = kaldifst.StdVectorFst.read(str(tmp_path / "g" / "HCLG.fst"))
    kdec = kaldi_decoder.FasterDecoder(kfst, kaldi_decoder.FasterDecoderOptions(beam=16.0, max_active=7000,
                                                                                min_active=20))
    dev = set((SHARED_AN4 / "ctc_dev_utts.txt").read_text().split())
    n = 0
    for utt, m in iter_matrices(f"ark:{SHARED_AN4 / 'ctc_train_logprobs.ark'}"):
        if utt not in dev:
            continue
        m = np.array(m, dtype=np.float32)
        r = dec.decode(m, utt)
        words, cost, final = kaldi_faster_decode(kdec, m)  # the raw log-probabilities: column k is label k + 1
        assert list(r.word_ids) == words and r.cost == pytest.approx(cost, rel=1e-5), utt
        n += 1
    assert n == 50


def test_token_lists_of_icefall_k2_and_sherpa_onnx(tmp_path):
    bpe = tmp_path / "tokens.txt"
    bpe.write_text("<blk> 0\n<sos/eos> 1\n<unk> 2\n\u2581THE 4\nS 3\n#0 5\n")
    assert read_token_list(bpe) == ("<blk>", "<sos/eos>", "<unk>", "S", "\u2581THE")  # in id order
    bpe.write_text("<blk> 0\nA 2\n")
    from hclg.errors import InputFormatError

    with pytest.raises(InputFormatError, match="no token has id 1"):
        read_token_list(bpe)

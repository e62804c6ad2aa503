"""Fixtures shared by the tests: the bundled example, tiny and synthetic graphs (HMM and CTC)
compiled once per session, the AN4 CTC model's lang compiled into a TLG (from ../shared),
and quiet logs."""

import logging
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))  # helpers, oracles

from helpers import EXAMPLE, ROOT, SHARED_AN4  # noqa: E402
from oracles import synth  # noqa: E402

from hclg.graph.compile import compile_graph  # noqa: E402
from hclg.graph.compile_options import CompileOptions  # noqa: E402


@pytest.fixture(autouse=True)
def _quiet_logs(caplog):
    caplog.set_level(logging.INFO, logger="hclg")


@pytest.fixture
def an4_example():
    return EXAMPLE


@pytest.fixture
def tiny_lexicon(tmp_path):
    """The seeds' 'cat and hat' lexicon."""
    p = tmp_path / "lexicon.txt"
    p.write_text("and ae n d\ncat k ae t\nhat h ae t\n")
    return p


@pytest.fixture(scope="session")
def tiny_graphs(tmp_path_factory):
    d = tmp_path_factory.mktemp("tiny")
    (d / "lexicon.txt").write_text("and ae n d\ncat k ae t\nhat h ae t\nat ae t\n")
    (d / "g.txt").write_text("cat and hat\nhat\nat cat\ncat at hat and cat\n")
    hmm = compile_graph(d / "lexicon.txt", d / "g.txt", d / "hmm", CompileOptions(sil_phone="sil")).path
    ctc = compile_graph(d / "lexicon.txt", d / "g.txt", d / "ctc", CompileOptions(topology="ctc")).path
    return hmm, ctc


PHONES = [f"p{i}" for i in range(40)]


@pytest.fixture(scope="session")
def synthetic_graphs(tmp_path_factory):
    """A 3000-word lexicon and random bigram LM; HMM HCLG and CTC TLG built from them."""
    d = tmp_path_factory.mktemp("syn")
    rng = np.random.default_rng(1)
    lex = synth.random_lexicon(rng, 3000, PHONES)
    synth.write_lexicon(d / "lexicon.txt", lex)
    synth.write_random_arpa(d / "lm.arpa", list(lex), rng, 20000)
    (d / "phones.txt").write_text("\n".join(PHONES + ["SIL"]) + "\n")
    hmm = compile_graph(d / "lexicon.txt", d / "lm.arpa", d / "hmm", CompileOptions(), phones=d / "phones.txt").path
    (d / "tokens.txt").write_text("\n".join(["<blk>"] + PHONES) + "\n")
    ctc = compile_graph(d / "lexicon.txt", d / "lm.arpa", d / "ctc", CompileOptions(topology="ctc"), tokens=d / "tokens.txt").path
    return lex, hmm, ctc


@pytest.fixture(scope="session")
def an4_graph(tmp_path_factory):
    ex = EXAMPLE
    out = tmp_path_factory.mktemp("an4") / "graph"
    compile_graph(ex / "lexicon.dic", ex / "lm_unigram.arpa", out,
                  CompileOptions(hmm_topology=str(ex / "transitions.txt"), pdf_map=str(ex / "pdf_map.txt")),
                  phones=ex / "phones.txt")
    return out


@dataclass(frozen=True)
class CtcLang:
    """The AN4 CTC model's icefall-style lang directory compiled into a CTC graph."""

    graph: Path
    prons: dict  # word -> its phones (one pronunciation a word)
    token_ids: dict  # token -> column
    text: dict  # train utterance -> its words

    def targets(self, utt):
        return [self.token_ids[p] for w in self.text[utt] for p in self.prons[w]]


@pytest.fixture(scope="session")
def an4_ctc_lang(tmp_path_factory):
    if not SHARED_AN4.exists():
        pytest.skip("needs ../shared/an4")
    sys.path.insert(0, str(ROOT / "tests" / "search"))
    from test_icefall_interop import icefall_lang_phone

    from hclg.graph.compile import compile_graph
    from hclg.graph.compile_options import CompileOptions

    d = tmp_path_factory.mktemp("an4_ctc")
    lang = icefall_lang_phone(d / "lang")
    compile_graph(lang / "lexicon.txt", SHARED_AN4 / "lm_train_3gram.arpa", d / "g", CompileOptions(topology="ctc"),
                  tokens=lang / "tokens.txt")
    lines = lambda p: [ln.split() for ln in p.read_text().splitlines()]  # noqa: E731
    return CtcLang(d / "g", {p[0]: p[1:] for p in lines(lang / "lexicon.txt")},
                   {p[0]: int(p[1]) for p in lines(lang / "tokens.txt")},
                   {p[0]: p[1:] for p in lines(SHARED_AN4 / "text_train")})

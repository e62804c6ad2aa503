import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from helpers import ROOT, SHARED_AN4


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

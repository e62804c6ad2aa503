import logging
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # benchmarks.kaldi_recipes (the Kaldi oracle recipes)
sys.path.insert(0, str(Path(__file__).resolve().parent))  # helpers

EXAMPLE = ROOT / "examples" / "an4"
SHARED_AN4 = ROOT.parent / "shared" / "an4"


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

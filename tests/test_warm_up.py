"""`hclg warm-up` compiles every kernel that compile, decode (1-best, lattices, CTM,
alignments, hotwords), streaming, the lattice tools, forced alignment and the CTC loss use: after it, those
commands compile nothing. Checked
with numba's own cache log (NUMBA_DEBUG_CACHE) in a fresh, empty cache directory. And it
compiles each kernel once per argument types: not once more for a literal argument
(numba types a call whose argument is a constant with that constant's literal type, and
compiles the callee for it too; those duplicates were a third of a cold start). The
searches' arc loops, for every context (none, hotwords, G, both), count no references
(their LLVM IR calls no NRT_incref)."""

import os
import subprocess
import sys

from helpers import EXAMPLE, ROOT


_WARM_UP_AND_INSPECT_KERNELS = """
import sys
from numba.core.registry import CPUDispatcher
from hclg.cli import main
main(["warm-up"], standalone_mode=False)
n = 0
for name, mod in sorted(sys.modules.items()):
    for attr, f in sorted(vars(mod).items()) if name.startswith("hclg") else ():
        if isinstance(f, CPUDispatcher) and f.__module__ == name:
            sigs = [str(s) for s in f.overloads]
            n += len(sigs)
            if len(sigs) > 1 and any("Literal[int]" in s for s in sigs):
                print("also for a literal: " + name + "." + attr, [s for s in sigs if "Literal[int]" in s])
print("kernels compiled: " + str(n))
from hclg.search import lattice_kernel, viterbi_kernel
checked = 0
for f in (viterbi_kernel._emit, viterbi_kernel._eps, lattice_kernel._emit_links, lattice_kernel._eps_links):
    for sig in f.signatures:
        n_inc = f.inspect_llvm(sig).count("call void @NRT_incref")
        if n_inc:
            print("counts references: " + f.__name__ + " for " + str(sig[-1])[:40] + ": " + str(n_inc) + " increfs")
        checked += 1
print("arc loops checked: " + str(checked))
"""


def run(args, env, cwd):
    r = subprocess.run([sys.executable, "-m", "hclg.cli", *map(str, args)], env=env, cwd=cwd, capture_output=True,
                       text=True, timeout=900)
    assert r.returncode == 0, r.stdout + r.stderr
    return r.stdout + r.stderr


def test_after_warm_up_the_commands_compile_no_kernel(tmp_path):
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path / "cache"), NUMBA_DEBUG_CACHE="1",
               PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    # `hclg warm-up` in-process, then the signatures numba compiled each kernel for, and the arc loops' IR
    warm = subprocess.run([sys.executable, "-c", _WARM_UP_AND_INSPECT_KERNELS], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=900)
    assert warm.returncode == 0, warm.stdout + warm.stderr
    first = warm.stdout + warm.stderr
    assert "data saved to" in first  # it did compile, into the empty cache
    assert "kernels compiled: " in first and int(first.split("kernels compiled: ")[1].split()[0]) > 50
    literal = [line for line in first.splitlines() if line.startswith("also for a literal: ")]
    assert literal == [], literal
    # the arc loops count no references: where numba cannot pair off its increments of an
    # array's count with their decrements (an inlined loop in the loop, bias_step's, was
    # enough), it makes them on every arc, and hotwords took twice the time of no hotwords
    counting = [line for line in first.splitlines() if line.startswith("counts references: ")]
    assert counting == [], counting
    assert int(first.split("arc loops checked: ")[1].split()[0]) >= 16  # 4 kernels x (none, hotwords, G, both)
    ex = EXAMPLE
    out = run(["compile", "--lexicon", ex / "lexicon.dic", "--lm", ex / "lm_unigram.arpa", "--phones", ex / "phones.txt",
               "--hmm-topology", ex / "transitions.txt", "--pdf-map", ex / "pdf_map.txt", tmp_path / "g"], env, tmp_path)
    out += run(["decode", "--input-kind", "log-likelihoods", "-o", tmp_path / "hyp.txt", "--ctm", tmp_path / "hyp.ctm",
                "--lattice", f"ark:{tmp_path / 'lat.ark'}", "--alignments", f"ark:{tmp_path / 'ali.ark'}",
                tmp_path / "g", f"ark:{ex / 'loglikes_demo.ark'}"], env, tmp_path)
    out += run(["decode", "--input-kind", "log-likelihoods", "-o", tmp_path / "hyp2.txt", tmp_path / "g",
                f"ark:{ex / 'loglikes_demo.ark'}"], env, tmp_path)
    out += run(["lattice", "ctm", "--graph", tmp_path / "g", "-o", tmp_path / "c.ctm", f"ark:{tmp_path / 'lat.ark'}"],
               env, tmp_path)
    (tmp_path / "text").write_text((ex / "text_demo").read_text())
    out += run(["align", "--input-kind", "log-likelihoods", "--ctm", tmp_path / "a.ctm", tmp_path / "g",
                tmp_path / "text", f"ark:{ex / 'loglikes_demo.ark'}"], env, tmp_path)
    (tmp_path / "hot.txt").write_text("ENTER SEVENTY 8\n")
    out += run(["decode", "--input-kind", "log-likelihoods", "-o", tmp_path / "hyp3.txt", "--hotwords",
                tmp_path / "hot.txt", tmp_path / "g", f"ark:{ex / 'loglikes_demo.ark'}"], env, tmp_path)
    out += run(["stream", "--input-kind", "log-likelihoods", "-o", tmp_path / "s.jsonl", "--lattice",
                f"ark:{tmp_path / 'slat.ark'}", tmp_path / "g", f"ark:{ex / 'loglikes_demo.ark'}"], env, tmp_path)
    out += run(["stream", "--input-kind", "log-likelihoods", "-o", tmp_path / "s2.jsonl", "--hotwords",
                tmp_path / "hot.txt", tmp_path / "g", f"ark:{ex / 'loglikes_demo.ark'}"], env, tmp_path)
    ctc = subprocess.run([sys.executable, "-c", "import numpy as np; from hclg.transcript.ctc_loss import ctc_loss; "
                          "ctc_loss(np.log(np.full((3, 50, 9), 1 / 9, np.float32)), [[1, 2]] * 3, gradient='logits')"],
                         env=env, cwd=tmp_path, capture_output=True, text=True, timeout=900)
    assert ctc.returncode == 0, ctc.stderr
    out += ctc.stdout + ctc.stderr
    saved = [line for line in out.splitlines() if "data saved to" in line]
    assert saved == [], saved[:5]
    assert "compiling hclg's search kernels" not in out

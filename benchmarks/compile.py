"""Graph compilation benchmark: hclg against the same recipe with Kaldi's code.

Builds a CTC TLG and a monophone 3-state HCLG from the CMU dictionary and the en-us
3-gram LM of the pocketsphinx wheel, at several vocabulary sizes (the most probable
words of the LM that have a pronunciation), with hclg and with Kaldi's code
(kaldilm's arpa2fst for G; kaldifst's compose, determinize_star, minimize_encoded), each
recipe in its own process. Prints per step: seconds, states, arcs; per recipe: wall and CPU
time, peak RSS (the process and its children), and the ratio to the Kaldi recipe.

The two HMM recipes do different work. Kaldi's (as kaldifst can run it): L (hclg's) o G,
determinize and minimize, then Ha o LG, determinized and minimized again; no context
transducer (monophone), no self-loops (kaldifst has no add-self-loops), so its arcs are
compared with hclg's before self-loops. hclg's full recipe also adds the self-loops and
writes the decoder arrays and the OpenFst file of the graph directory. The CTC recipes both
end in T o LG.

Usage:
    python benchmarks/compile.py [--sizes 5000,20000,full] [--out build/bench] [--kinds ctc,hmm]
                                 [--skip-kaldi | --skip-hclg]

The pocketsphinx LM is a binary trie; ``../shared/tools/lmbin2arpa.py`` writes its ARPA
(pocketsphinx's own ARPA writer crashes part-way).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))  # the oracles (Kaldi recipes, synthetic material)


def peak_rss_mb() -> float:
    self_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    child_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(self_kb, child_kb) / 1024


def pocketsphinx_model() -> Path:
    import pocketsphinx

    return Path(pocketsphinx.__file__).parent / "model" / "en-us"


def prepare(out: Path, sizes: list[str]) -> dict[str, tuple[Path, Path]]:
    """Writes lexicon + ARPA per vocabulary size; returns size -> (lexicon, arpa)."""
    model = pocketsphinx_model()
    out.mkdir(parents=True, exist_ok=True)
    full_arpa = out / "en-us.arpa"
    if not full_arpa.exists():
        tool = ROOT.parent / "shared" / "tools" / "lmbin2arpa.py"
        subprocess.run([sys.executable, str(tool), str(model / "en-us.lm.bin"), str(full_arpa)], check=True)
    prons: dict[str, list[str]] = {}
    for line in open(model / "cmudict-en-us.dict", encoding="utf-8"):
        parts = line.split()
        if len(parts) >= 2:
            w = parts[0].split("(")[0]
            prons.setdefault(w, []).append(" ".join(parts[1:]))
    uni = []
    with open(full_arpa, encoding="utf-8") as fh:
        for line in fh:
            if line.startswith("\\1-grams:"):
                break
        for line in fh:
            p = line.split()
            if not p:
                break
            if p[1] not in ("<s>", "</s>") and p[1] in prons:
                uni.append((float(p[0]), p[1]))
    uni.sort(key=lambda x: -x[0])
    res = {}
    for size in sizes:
        n = len(uni) if size == "full" else int(size)
        vocab = {w for _, w in uni[:n]}
        d = out / f"v{size}"
        d.mkdir(parents=True, exist_ok=True)
        lex, arpa = d / "lexicon.txt", d / "lm.arpa"
        if not lex.exists():
            with open(lex, "w") as fh:
                for w in sorted(vocab):
                    for p in prons[w]:
                        fh.write(f"{w} {p}\n")
        if not arpa.exists():
            if size == "full":
                os.symlink(full_arpa.resolve(), arpa)
            else:
                _prune_arpa(full_arpa, arpa, vocab | {"<s>", "</s>"})
        res[size] = (lex, arpa)
    return res


def _prune_arpa(src: Path, dst: Path, vocab: set[str]):
    sections: dict[int, list[str]] = {}
    order = 0
    with open(src, encoding="utf-8") as fh:
        for line in fh:
            s = line.strip()
            if s.startswith("\\") and s.endswith("-grams:"):
                order = int(s[1:-7])
                sections[order] = []
                continue
            if s == "\\end\\":
                break
            if order and s:
                p = s.split()
                if all(w in vocab for w in p[1 : order + 1]):
                    sections[order].append(s)
    with open(dst, "w", encoding="utf-8") as fh:
        fh.write("\\data\\\n" + "".join(f"ngram {k}={len(v)}\n" for k, v in sections.items()) + "\n")
        for k, v in sections.items():
            fh.write(f"\\{k}-grams:\n" + "\n".join(v) + "\n\n")
        fh.write("\\end\\\n")


def tokens_file(lex: Path, d: Path) -> Path:
    phones = sorted({p for line in open(lex) for p in line.split()[1:]})
    t = d / "tokens.txt"
    t.write_text("\n".join(["<blk>"] + phones) + "\n")
    return t


# ---- recipes (each runs in its own process) ----

def run_hclg(kind: str, lex: str, arpa: str, out: str, q):
    import logging

    from hclg.graph.compile import CompileOptions, compile_graph

    logging.basicConfig(level=logging.WARNING)
    t0 = time.perf_counter()
    c0 = time.process_time()
    if kind == "ctc":
        tok = tokens_file(Path(lex), Path(out).parent)
        r = compile_graph(lex, arpa, out, CompileOptions(topology="ctc"), tokens=tok)
    else:
        r = compile_graph(lex, arpa, out, CompileOptions(sil_prob=0.5))
    q.put({"seconds": time.perf_counter() - t0, "cpu_seconds": time.process_time() - c0, "rss_mb": peak_rss_mb(),
           "states": r.states, "arcs": r.arcs,
           "steps": [list(s) for s in r.steps]})


def run_kaldi(kind: str, lex: str, arpa: str, out: str, q):
    import kaldifst
    import kaldilm

    from oracles.kaldi_recipes import to_kaldi
    from hclg import fst as hfst
    from hclg.graph.lexicon import make_lexicon_fst, read_lexicon
    from hclg.graph.ctc_topology import make_ctc_topo
    from hclg.graph.h_transducer import make_h_transducer
    from hclg.graph.hmm_topology import KALDI_3STATE, make_transition_table

    steps = []
    t_all = time.perf_counter()
    c_all = time.process_time()
    counting = [0.0]  # time spent counting arcs here, left out of Kaldi's figures

    def step(name, f, t0):
        dt = time.perf_counter() - t0
        t1 = time.perf_counter()
        steps.append([name, f.num_states, sum(f.num_arcs(s) for s in range(f.num_states)), round(dt, 3)])
        counting[0] += time.perf_counter() - t1

    t0 = time.perf_counter()
    if kind == "ctc":  # the same token table as hclg's: blank first, then the phones
        tokens = tuple(line.strip() for line in open(tokens_file(Path(lex), Path(out).parent)))
        lexicon = read_lexicon(lex, phones=tokens)
    else:
        lexicon = read_lexicon(lex)
    L = make_lexicon_fst(lexicon, sil_prob=0.0 if kind == "ctc" else 0.5, sil_phone="SIL")
    kL = to_kaldi(L.fst)
    step("L (hclg's)", kL, t0)
    t0 = time.perf_counter()
    wpath = Path(out).parent / "kaldi_words.txt"
    L.words.write(wpath)
    gpath = Path(out).parent / "kaldi_G.fst"
    kaldilm.arpa2fst(arpa, str(gpath), disambig_symbol="#0", read_symbol_table=str(wpath), max_arpa_warnings=0)
    kG = kaldifst.StdVectorFst.read(str(gpath))
    step("G (kaldilm arpa2fst)", kG, t0)
    t0 = time.perf_counter()
    kaldifst.arcsort(kL, sort_type="olabel")
    LG = kaldifst.compose(kL, kG)
    del kG
    step("LG = L o G", LG, t0)
    t0 = time.perf_counter()
    kaldifst.determinize_star(LG, use_log=True)
    step("LG: determinize_star (log)", LG, t0)
    t0 = time.perf_counter()
    kaldifst.minimize_encoded(LG)
    step("LG: minimize_encoded", LG, t0)
    LGp = fstutil_from_kaldi(LG)
    if kind == "ctc":
        t0 = time.perf_counter()
        LGp = hfst.relabel_to_epsilon(LGp, L.disambig_phones, "input", "rm")
        LGp.arcsort("ilabel")
        ntok = len(L.phones) - len(L.disambig_phones)
        T = to_kaldi(make_ctc_topo(ntok, 0))
        kaldifst.arcsort(T, sort_type="olabel")
        TLG = kaldifst.compose(T, to_kaldi(LGp))
        step("TLG = T o LG", TLG, t0)
        final = TLG
    else:
        t0 = time.perf_counter()
        table = make_transition_table(L.phones.symbols, {p: KALDI_3STATE for p in L.phones.symbols[1:] if not p.startswith("#")}, None)
        Ha, _ = make_h_transducer(table, len(L.phones), L.disambig_phones, 1.0)
        kH = to_kaldi(Ha)
        kaldifst.arcsort(kH, sort_type="olabel")
        H = kaldifst.compose(kH, LG)
        del LG
        step("HaLG = Ha o LG", H, t0)
        t0 = time.perf_counter()
        kaldifst.determinize_star(H, use_log=True)
        step("HaLG: determinize_star (log)", H, t0)
        t0 = time.perf_counter()
        kaldifst.minimize_encoded(H)
        step("HaLG: minimize_encoded", H, t0)
        final = H
    q.put({"seconds": time.perf_counter() - t_all - counting[0], "cpu_seconds": time.process_time() - c_all - counting[0],
           "rss_mb": peak_rss_mb(), "states": final.num_states,
           "arcs": steps[-1][2], "steps": steps})


def fstutil_from_kaldi(k):
    from oracles.kaldi_recipes import to_pywrapfst

    return to_pywrapfst(k)


def run_isolated(fn, *args) -> dict:
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    p = ctx.Process(target=fn, args=(*args, q))
    p.start()
    res = None
    while p.is_alive() or not q.empty():
        try:
            res = q.get(timeout=1.0)
            break
        except Exception:  # noqa: BLE001 - queue.Empty
            continue
    p.join()
    if res is None:
        return {"error": f"exit status {p.exitcode}"}
    return res


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="5000,20000,full")
    ap.add_argument("--out", default=str(ROOT / "build" / "bench"))
    ap.add_argument("--kinds", default="ctc,hmm")
    ap.add_argument("--skip-kaldi", action="store_true")
    ap.add_argument("--skip-hclg", action="store_true", help="run Kaldi's recipe only")
    a = ap.parse_args()
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    sizes = a.sizes.split(",")
    data = prepare(out, sizes)
    report = {}
    for size in sizes:
        lex, arpa = data[size]
        for kind in a.kinds.split(","):
            name = f"{kind}-v{size}"
            gdir = out / f"v{size}" / f"{kind}-graph"
            print(f"\n== {name}: {sum(1 for _ in open(lex))} pronunciations, LM {arpa}", flush=True)
            h = {"error": "skipped"} if a.skip_hclg else run_isolated(run_hclg, kind, str(lex), str(arpa), str(gdir))
            k = {"error": "skipped"} if a.skip_kaldi else run_isolated(run_kaldi, kind, str(lex), str(arpa), str(out / f"v{size}" / f"kaldi-{kind}"))
            report[name] = {"hclg": h, "kaldi": k}
            for who, r in (("hclg", h), ("kaldi", k)):
                if "error" in r:
                    print(f"  {who}: {r['error']}")
                    continue
                print(f"  {who}: {r['seconds']:.1f}s wall, {r['cpu_seconds']:.1f}s CPU, peak RSS {r['rss_mb']:.0f} MB, {r['states']} states, {r['arcs']} arcs")
                for s in r["steps"]:
                    print(f"      {s[0]:34s} {s[3]:8.2f}s {s[1]:>10} states {s[2]:>11} arcs")
            if "error" not in h and "error" not in k:
                # kaldifst has no HMM self-loop insertion: compare HMM graphs before self-loops
                h_arcs = next((st[2] for st in h["steps"] if st[0] == "HaLG: minimize (encoded)"), h["arcs"])
                print(f"  ratio hclg/kaldi: time {h['seconds'] / k['seconds']:.2f}x (CPU {h['cpu_seconds'] / k['cpu_seconds']:.2f}x), peak RSS {h['rss_mb'] / k['rss_mb']:.2f}x, "
                      f"arcs {h_arcs / max(k['arcs'], 1):.3f}x", flush=True)
    (out / "compile_report.json").write_text(json.dumps(report, indent=2))
    print(f"\nreport: {out / 'compile_report.json'}")


if __name__ == "__main__":
    main()

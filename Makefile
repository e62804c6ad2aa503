# Two entry points that do all set-up on a fresh machine:
#   (installing runs `hclg warm-up`: numba compiles the kernels once, so no later command waits)
#   make demo   - create .venv, install hclg, compile the bundled AN4 example, decode it with
#                 lattices, show n-best, oracle WER and trigram rescoring, then stream it in chunks;
#                 then the CTC half: a real CTC model's posteriors on a TLG, WER, CTM and n-best
#   make test   - create .venv, install hclg with its test oracles, check the layering contract
#                 (import-linter, pyproject.toml), run the tests
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
HCLG := $(VENV)/bin/hclg
EX := examples/an4
BUILD := build

.PHONY: demo test bench clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	# torch for the CTC tests' oracle: the CPU build this machine keeps on disk (pip's find-links)
	$(PY) -m pip install -q 'torch==2.13.0'
	$(HCLG) warm-up
	touch $@

demo: $(VENV)/.installed
	$(HCLG) compile --lexicon $(EX)/lexicon.dic --lm $(EX)/lm_unigram.arpa --phones $(EX)/phones.txt \
	  --hmm-topology $(EX)/transitions.txt --pdf-map $(EX)/pdf_map.txt $(BUILD)/an4-hmm
	$(HCLG) info $(BUILD)/an4-hmm
	$(HCLG) decode --input-kind log-likelihoods -o $(BUILD)/an4-hyp.txt --ctm $(BUILD)/an4-hyp.ctm \
	  --lattice ark,t:$(BUILD)/an4-lat.txt --lattice-beam 6 $(BUILD)/an4-hmm ark:$(EX)/loglikes_demo.ark
	$(HCLG) wer --show $(EX)/text_demo $(BUILD)/an4-hyp.txt
	$(HCLG) lattice nbest -n 3 --graph $(BUILD)/an4-hmm ark,t:$(BUILD)/an4-lat.txt
	$(HCLG) lattice oracle --graph $(BUILD)/an4-hmm --ref $(EX)/text_demo -o $(BUILD)/an4-oracle.txt ark,t:$(BUILD)/an4-lat.txt
	$(HCLG) lattice rescore --graph $(BUILD)/an4-hmm --lm $(EX)/lm_train_3gram.arpa -o ark,t:$(BUILD)/an4-lat-3g.txt ark,t:$(BUILD)/an4-lat.txt
	$(HCLG) lattice best --graph $(BUILD)/an4-hmm -o $(BUILD)/an4-hyp-3g.txt ark,t:$(BUILD)/an4-lat-3g.txt
	$(HCLG) wer $(EX)/text_demo $(BUILD)/an4-hyp-3g.txt
	# the same utterances as a streaming recognizer sees them: 30 frames at a time, partial results as JSON lines
	$(HCLG) stream --input-kind log-likelihoods --chunk-frames 30 -o $(BUILD)/an4-stream.jsonl $(BUILD)/an4-hmm ark:$(EX)/loglikes_demo.ark
	grep -m 8 '"utt": "cen8-fjlp-b"' $(BUILD)/an4-stream.jsonl
	# the CTC half: a real neural CTC model's log-posteriors (12 held-out AN4 utterances, 30 ms frames),
	# a TLG over its tokens; --blank-penalty 2 was tuned on the 50 held-out utterances (benchmarks/real.py)
	$(HCLG) compile --topology ctc --lexicon $(EX)/ctc_lexicon.txt --tokens $(EX)/ctc_tokens.txt \
	  --lm $(EX)/lm_train_3gram.arpa --frame-subsampling-factor 3 $(BUILD)/an4-ctc
	$(HCLG) decode --blank-penalty 2 -o $(BUILD)/an4-ctc-hyp.txt --ctm $(BUILD)/an4-ctc-hyp.ctm \
	  --lattice ark,t:$(BUILD)/an4-ctc-lat.txt --lattice-beam 6 $(BUILD)/an4-ctc ark:$(EX)/ctc_logprobs_demo.ark
	$(HCLG) wer --show $(EX)/text_ctc_demo $(BUILD)/an4-ctc-hyp.txt
	head -n 8 $(BUILD)/an4-ctc-hyp.ctm
	$(HCLG) lattice nbest -n 3 --graph $(BUILD)/an4-ctc ark,t:$(BUILD)/an4-ctc-lat.txt

test: $(VENV)/.installed
	$(VENV)/bin/lint-imports --no-cache
	$(PY) -m pytest -q

bench: $(VENV)/.installed
	$(PY) -m pip install -q -e '.[bench]'
	$(PY) benchmarks/compile.py --sizes 5000,20000
	$(PY) benchmarks/decode.py

clean:
	rm -rf $(BUILD)

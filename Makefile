# Two entry points that do all set-up on a fresh machine:
#   make demo   - create .venv, install hclg, compile the bundled AN4 example, decode it
#   make test   - create .venv, install hclg with its test oracles, run the tests
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
	touch $@

demo: $(VENV)/.installed
	$(HCLG) compile --lexicon $(EX)/lexicon.dic --lm $(EX)/lm_unigram.arpa --phones $(EX)/phones.txt \
	  --hmm-topology $(EX)/transitions.txt --pdf-map $(EX)/pdf_map.txt $(BUILD)/an4-hmm
	$(HCLG) info $(BUILD)/an4-hmm
	$(HCLG) decode --input-kind log-likelihoods -o $(BUILD)/an4-hyp.txt --ctm $(BUILD)/an4-hyp.ctm \
	  $(BUILD)/an4-hmm ark:$(EX)/loglikes_demo.ark
	$(HCLG) wer --show $(EX)/text_demo $(BUILD)/an4-hyp.txt

test: $(VENV)/.installed
	$(PY) -m pytest -q

bench: $(VENV)/.installed
	$(PY) -m pip install -q -e '.[bench]'
	$(PY) benchmarks/compile.py --sizes 5000,20000
	$(PY) benchmarks/decode.py

clean:
	rm -rf $(BUILD)

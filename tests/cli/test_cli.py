import json

from click.testing import CliRunner

from hclg.cli import main


def test_compile_and_info_on_the_bundled_example(an4_example, tmp_path):
    ex = an4_example
    r = CliRunner().invoke(main, ["compile", "--lexicon", str(ex / "lexicon.dic"), "--lm", str(ex / "lm_unigram.arpa"),
                                  "--phones", str(ex / "phones.txt"), "--hmm-topology", str(ex / "transitions.txt"),
                                  "--pdf-map", str(ex / "pdf_map.txt"), str(tmp_path / "g")])
    assert r.exit_code == 0, r.output
    assert "states" in r.output
    r = CliRunner().invoke(main, ["info", "--json", str(tmp_path / "g")])
    assert r.exit_code == 0, r.output
    info = json.loads(r.output)
    words = {line.split()[0].split("(")[0] for line in open(ex / "lexicon.dic") if line.strip()}
    assert info["posterior_columns"] == 102 and info["words"] == len(words)


def test_bad_lexicon_line_is_reported_with_file_and_line(tmp_path):
    lex = tmp_path / "lex.txt"
    lex.write_text("cat k ae t\nhat\n")
    lm = tmp_path / "g.txt"
    lm.write_text("cat\n")
    r = CliRunner().invoke(main, ["compile", "-l", str(lex), "-g", str(lm), str(tmp_path / "g")])
    assert r.exit_code != 0
    assert "lex.txt:2: word 'hat' has no pronunciation" in r.output


def test_determinization_memory_cap_is_an_option(an4_example, tmp_path):
    ex = an4_example
    r = CliRunner().invoke(main, ["compile", "--lexicon", str(ex / "lexicon.dic"), "--lm", str(ex / "lm_unigram.arpa"),
                                  "--phones", str(ex / "phones.txt"), "--max-determinize-mem", "1000", str(tmp_path / "g")])
    assert r.exit_code != 0
    assert "step 'LG: determinize (log)' ran out of its memory cap" in r.output


def test_version_and_options_made_from_the_option_dataclasses():
    import dataclasses

    from hclg import __version__
    from hclg.graph.compile_options import CompileOptions
    from hclg.search.options import DecoderOptions

    r = CliRunner().invoke(main, ["--version"])
    assert r.exit_code == 0 and r.output.strip() == f"hclg, version {__version__}"
    for command, cls, skip in (("decode", DecoderOptions, {"word_times", "alignment"}), ("compile", CompileOptions, set())):
        params = {p.name: p for p in main.commands[command].params}
        for f in dataclasses.fields(cls):
            if f.name in skip:
                assert f.name not in params
                continue
            p = params[f.name]  # one option per field, with the field's default, help and choices
            assert p.default == f.default and p.help == f.metadata["help"] and p.show_default
            if "choices" in f.metadata:
                assert tuple(p.type.choices) == tuple(f.metadata["choices"])
    r = CliRunner().invoke(main, ["decode", "--help"])
    assert "--beam FLOAT" in r.output and "[default: 16.0]" in r.output


def test_bad_options_fail_where_they_are_made():
    import pytest

    from hclg.graph.compile_options import CompileOptions
    from hclg.search.options import DecoderOptions

    with pytest.raises(ValueError, match="beam must be > 0"):
        DecoderOptions(beam=-1)
    with pytest.raises(ValueError, match="input_kind must be one of"):
        DecoderOptions(input_kind="probabilities")
    with pytest.raises(ValueError, match="lexicon_format must be one of"):
        CompileOptions(lexicon_format="xml")
    with pytest.raises(ValueError, match="topology must be 'hmm' or 'ctc'"):
        CompileOptions(topology="gmm")


def test_a_bad_option_value_is_a_message_not_a_traceback(tmp_path, an4_example):
    ex = an4_example
    r = CliRunner().invoke(main, ["compile", "--lexicon", str(ex / "lexicon.dic"), "--lm", str(ex / "lm_unigram.arpa"),
                                  "--sil-prob", "1.5", str(tmp_path / "g")])
    assert r.exit_code == 1 and "sil_prob must be in [0, 1), got 1.5" in r.output and "Traceback" not in r.output


def test_compile_verbose_adds_debug_lines(tmp_path):
    """compile logs its steps by default; -v used to change nothing (issue 13)."""
    lex = tmp_path / "lex.txt"
    lex.write_text("cat k ae t\nhat h ae t\n")
    lm = tmp_path / "g.txt"
    lm.write_text("cat\nhat\n")
    quiet = CliRunner().invoke(main, ["compile", "-l", str(lex), "-g", str(lm), str(tmp_path / "g1")])
    loud = CliRunner().invoke(main, ["compile", "-v", "-l", str(lex), "-g", str(lm), str(tmp_path / "g2")])
    assert quiet.exit_code == 0 and loud.exit_code == 0, loud.output
    assert "LG = L o G" in quiet.output and "DEBUG" not in quiet.output
    assert "DEBUG compile options" in loud.output and "peak memory" in loud.output


def test_compile_with_fillers_and_repeatable_silence(tmp_path):
    lex = tmp_path / "lex.txt"
    lex.write_text("cat k ae t\nhat h ae t\n")
    lm = tmp_path / "g.txt"
    lm.write_text("cat\nhat\n")
    fill = tmp_path / "fillers.dic"
    fill.write_text("<sil> SIL\n++NOISE++ NSN\n")
    phones = tmp_path / "phones.txt"
    phones.write_text("SIL\nNSN\nk\nae\nt\nh\n")
    r = CliRunner().invoke(main, ["compile", "-l", str(lex), "-g", str(lm), "--phones", str(phones), "--fillers", str(fill),
                                  "--sil-loop-prob", "0.5", str(tmp_path / "g")])
    assert r.exit_code == 0, r.output
    m = json.loads((tmp_path / "g" / "manifest.json").read_text())
    assert m["options"]["nonword_units"] == ["NSN", "SIL"] and m["inputs"]["fillers"]["path"] == str(fill.resolve())
    r = CliRunner().invoke(main, ["compile", "-l", str(lex), "-g", str(lm), "--topology", "ctc", "--fillers", str(fill),
                                  str(tmp_path / "g2")])
    assert r.exit_code != 0 and "for HMM graphs" in r.output


def test_verbose_is_hclgs_steps_not_other_libraries_debug_lines():
    """-v/-vv raise hclg's logger only: the root logger stays at WARNING, so numba's
    compiler passes (DEBUG lines on its own logger, thousands of them when a kernel
    compiles) stay out of `hclg compile -v`."""
    import logging

    from hclg.cli.options import setup_logging

    for v, level in ((0, logging.WARNING), (1, logging.INFO), (2, logging.DEBUG)):
        setup_logging(v)
        assert logging.getLogger("hclg").level == level
        assert logging.getLogger().level == logging.WARNING
        assert not logging.getLogger("numba").isEnabledFor(logging.DEBUG)
    setup_logging(0)

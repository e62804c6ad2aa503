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

"""``hclg --help`` and the command list load no numerics: each command imports what it runs
(the import of numba alone takes about 0.2 s, and hclg --help took 0.5-1 s when the lattice
commands imported their archives at the top)."""

import subprocess
import sys


def test_the_command_line_loads_no_numpy_or_numba_until_a_command_runs():
    code = ("import sys; from click.testing import CliRunner; from hclg.cli import main; "
            "r = CliRunner().invoke(main, ['--help']); assert r.exit_code == 0, r.output; "
            "print(sorted(m for m in ('numpy', 'numba', 'pywrapfst', 'kaldi_native_io') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"

"""``python -m hclg.cli``: the command line."""

from hclg.cli import main

main()

"""``hclg warm-up``: compile hclg's numba kernels now, once per install."""

from __future__ import annotations

import click

from hclg.cli.options import call, setup_logging, verbose_option


@click.command("warm-up")
@verbose_option(steps_by_default=True)
def warm_up_cmd(verbose):
    """Compile hclg's search and graph kernels now (numba keeps them in its cache beside
    the package), so that the first compile or decode after an install is as quick as the
    next ones. `make` runs it once; after `pip install hclg`, run it once."""
    from hclg.warm_up import warm_up_kernels

    setup_logging(1 + verbose)
    secs = call(warm_up_kernels)
    click.echo(f"hclg's kernels are compiled and cached ({secs:.1f}s)")

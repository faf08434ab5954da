"""irnoise: measure how label noise hurts deep image retrieval.

The package behind the Snakemake workflow: dataset adapters and sharding, noise
schemes, training, evaluation, tables and figures. Every stage is a subcommand of
the `irnoise` command-line tool (see `irnoise.cli`).
"""

__version__ = "0.1.0"

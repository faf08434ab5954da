"""Draw one of the study's figures: `irnoise figure NAME --out PNG [inputs...]`.

Each figure is a module of `irnoise.report.figures` with its own arguments (`irnoise figure NAME
--help`). Names: class_sizes (Figure 1, alias fig1), training_curves (Figure 2, fig2),
noise_patterns (Figure 3, fig3), retrieval_vs_classification, recovered_share (Table 3),
detection_pr (Table 4's curves).
"""

from __future__ import annotations

import argparse
import importlib

# The arguments this command writes (irnoise.outputs).
OUTPUTS = ("out",)

FIGURES = {
    "class_sizes": "irnoise.report.figures.class_sizes",
    "training_curves": "irnoise.report.figures.training_curves",
    "noise_patterns": "irnoise.report.figures.noise_patterns",
    "retrieval_vs_classification": "irnoise.report.figures.retrieval_vs_classification",
    "detection_pr": "irnoise.report.figures.detection_pr",
    "recovered_share": "irnoise.report.figures.recovered_share",
}
ALIASES = {"class_sizes": ["fig1"], "training_curves": ["fig2"], "noise_patterns": ["fig3"]}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    figures = parser.add_subparsers(dest="figure", required=True, metavar="NAME")
    for name, module_name in FIGURES.items():
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as error:
            # A figure missing from this install must not take the other figures down.
            if error.name != module_name:
                raise
            add_unavailable(figures, name, module_name)
            continue
        summary = (module.__doc__ or name).strip().splitlines()[0]
        sub = figures.add_parser(
            name, aliases=ALIASES.get(name, []), help=summary, description=module.__doc__
        )
        module.add_arguments(sub)
        sub.set_defaults(draw=module.draw)


def add_unavailable(figures: argparse._SubParsersAction, name: str, module_name: str) -> None:
    """A subcommand that accepts any arguments and fails with a clear message when run."""

    def draw(args: argparse.Namespace) -> None:
        from irnoise.errors import UserError

        raise UserError(
            f"figure {name!r} is not available: module {module_name} is missing; "
            "reinstall irnoise (pip install -e .)"
        )

    sub = figures.add_parser(name, help="(not available in this install)")
    # Its arguments are unknown, so swallow them all rather than report a usage error.
    sub.parse_known_args = lambda args=None, namespace=None: (argparse.Namespace(draw=draw), [])


def run(args: argparse.Namespace) -> None:
    args.draw(args)

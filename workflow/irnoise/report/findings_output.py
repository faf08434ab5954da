"""The findings as written: results/findings.csv (one row per claim, experiment and level)
and results/findings.md (the same as a table, with how the verdicts were reached)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, fields
from typing import TYPE_CHECKING

from irnoise.report.findings import VERDICTS, Finding
from irnoise.report.intervals import method_text, percent

if TYPE_CHECKING:
    import pandas as pd

COLUMNS = [f.name for f in fields(Finding)]


def findings_frame(findings: Sequence[Finding]) -> pd.DataFrame:
    import pandas as pd

    return pd.DataFrame([asdict(f) for f in findings], columns=COLUMNS)


def effect_text(effect: float, low: float, high: float) -> str:
    """An effect and its interval as the findings tables write them, '–' without one."""
    text = "–" if math.isnan(effect) else f"{effect:+.2f}"
    if not math.isnan(low):
        text += f" [{low:+.2f}, {high:+.2f}]"
    return text


def findings_markdown(
    findings: Sequence[Finding], seeds: Sequence[int], resamples: int, confidence: float
) -> str:
    counts = {v: sum(f.verdict == v for f in findings) for v in VERDICTS}
    lines = [
        "# Findings: the paper's claims tested on this run",
        "",
        f"{len(findings)} rows: " + ", ".join(f"{n} {v}" for v, n in counts.items()) + ".",
        f"Seeds: {', '.join(map(str, seeds))}. {method_text(resamples, confidence)}.",
        "Verdict: reproduced when the whole interval lies above the null, contradicted "
        "when it lies below, inconclusive when it contains the null or a needed run is "
        "missing; C3 by a permutation test within levels; a verdict stands only where the "
        "seed-level t interval from metrics.csv alone (Seed t) agrees; C4 outside the "
        "study's regime says 'not reproduced in this regime' (docs/findings.md).",
        "",
        "| Claim | Experiment | Level | Achieved noise | Paper | Effect "
        f"| Ours [{percent(confidence)} interval] | Seed t | Null | Verdict | Note |",
        "|---|---|---:|---|---|---|---:|---:|---:|---|---|",
    ]
    for f in findings:
        level = "all" if math.isnan(f.level) else f"{100 * f.level:g}%"
        paper = f.paper + ("" if math.isnan(f.paper_effect) else f" ({f.paper_effect:+.1f})")
        check = "–" if math.isnan(f.seed_t_low) else f"[{f.seed_t_low:+.2f}, {f.seed_t_high:+.2f}]"
        ours = effect_text(f.effect, f.low, f.high)
        cells = [f"{f.claim} {f.statement}", f.experiment, level, f.achieved or "–",
                 paper or "–", f.effect_measure, ours, check, f"{f.null:g}",
                 f"**{f.verdict}**", f.note]  # fmt: skip
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"

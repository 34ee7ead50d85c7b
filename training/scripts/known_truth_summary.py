"""Print the tables of the known-truth benchmark as Markdown.

Usage: known_truth_summary.py WORK_DIR

Reads WORK/cohort/manifest.csv, WORK/batch/predictions.csv, WORK/eval/metrics.json and,
when present, WORK/ablation/benchmark.json. Model and baseline MAE per subset come with
95 % percentile bootstrap intervals over scans (2000 resamples, numpy seed 0), and the
paired difference resamples the same scans for both.
"""

from __future__ import annotations

import csv
import json
import math
import os
import sys

import numpy as np

RESAMPLES = 2000
EMPHYSEMA = ("centrilobular", "panlobular", "paraseptal")


def bootstrap(values: np.ndarray, rng: np.random.Generator) -> tuple[float, float, float]:
    """Return the mean of ``values`` and its 95 % percentile bootstrap interval."""
    picks = rng.integers(0, len(values), size=(RESAMPLES, len(values)))
    means = values[picks].mean(axis=1)
    low, high = np.percentile(means, [2.5, 97.5])
    return float(values.mean()), float(low), float(high)


def cell(values) -> str:
    if values is None:
        return "n/a"
    estimate, low, high = values
    if estimate is None or (isinstance(estimate, float) and math.isnan(estimate)):
        return "n/a"
    if low is None or (isinstance(low, float) and math.isnan(low)):
        return f"{estimate:.2f}"
    return f"{estimate:.2f} ({low:.2f} to {high:.2f})"


def interval(value: dict) -> str:
    """Format an ``Interval`` of ``dlco eval`` (estimate, lower, upper)."""
    return cell((value["estimate"], value["lower"], value["upper"]))


def subset_table(manifest: list[dict], predictions: dict[str, dict]) -> list[str]:
    """Tabulate model and baseline MAE per subset.

    The baseline has no estimate where whole-lung QCT is missing, so its MAE and the paired
    difference use the scans with both estimates (``n paired``).
    """
    rng = np.random.default_rng(0)
    rows = [row for row in manifest if predictions.get(row["id"], {}).get("status") == "ok"]
    measured = np.array([float(row["dlco"]) for row in rows])
    model = np.array([float(predictions[row["id"]]["estimate"]) for row in rows])
    baseline = np.array(
        [float(predictions[row["id"]]["baseline_estimate"] or "nan") for row in rows]
    )
    paired = ~np.isnan(baseline)
    subsets = [("all scans", np.ones(len(rows), bool))]
    shift = np.array([row["scanner_shift"] == "1" for row in rows])
    subsets.append(("beta-thick-5.0 (no shift)", ~shift))
    subsets.append(("scanner shift", shift))
    for profile in sorted({row["scanner_profile"] for row in rows}):
        if profile != "beta-thick-5.0":
            mask = np.array([row["scanner_profile"] == profile for row in rows])
            subsets.append((f"shift: {profile}", mask))
    for phenotype in sorted({row["phenotype"] for row in rows}):
        mask = np.array([row["phenotype"] == phenotype for row in rows])
        subsets.append((f"phenotype: {phenotype}", mask))
    lines = [
        "| subset | n | model MAE | n paired | model MAE (paired) | baseline MAE "
        "| model − baseline | model / baseline | model bias | baseline bias |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, mask in subsets:
        model_error = np.abs(model[mask] - measured[mask])
        both = mask & paired
        model_paired = np.abs(model[both] - measured[both])
        baseline_error = np.abs(baseline[both] - measured[both])
        if both.sum() == 0:
            lines.append(
                f"| {name} | {int(mask.sum())} | {cell(bootstrap(model_error, rng))} | 0 "
                f"| n/a | n/a | n/a | n/a | {(model[mask] - measured[mask]).mean():+.2f} "
                "| n/a |"
            )
            continue
        lines.append(
            f"| {name} | {int(mask.sum())} | {cell(bootstrap(model_error, rng))} | "
            f"{int(both.sum())} | {cell(bootstrap(model_paired, rng))} | "
            f"{cell(bootstrap(baseline_error, rng))} | "
            f"{cell(bootstrap(model_paired - baseline_error, rng))} | "
            f"{model_paired.mean() / baseline_error.mean():.2f} | "
            f"{(model[mask] - measured[mask]).mean():+.2f} | "
            f"{(baseline[both] - measured[both]).mean():+.2f} |"
        )
    return lines


def faithfulness_tables(faithfulness: dict) -> list[str]:
    groups = faithfulness["groups"]
    methods = faithfulness["methods"]
    metrics = (
        "zoneSpearman",
        "patchSpearman",
        "pointingGame",
        "recoveryAuc",
        "zoneRecoveryAuc",
        "deletionAuc",
    )

    def metric(phenotype: str, method: str, name: str):
        for group in groups:
            if group["phenotype"] == phenotype and group["method"] == method:
                value = group["metrics"].get(name)
                if value is None:
                    return None
                return value
        return None

    def text(value) -> str:
        if value is None or value.get("estimate") is None:
            return "n/a"
        shown = cell((value["estimate"], value.get("lower"), value.get("upper")))
        return f"{shown} [n={value['n']}]"

    # The zone-level target is stated for emphysema and for fibrosis, so the three emphysema
    # phenotypes are pooled, and medians get a bootstrap interval over subjects.
    rng = np.random.default_rng(0)
    pools = {
        "emphysema (centrilobular, panlobular, paraseptal)": EMPHYSEMA,
        "fibrosis": ("fibrosis",),
    }
    lines = ["Median zone Spearman, pooled (target ≥ 0.8):", ""]
    lines.append("| method | " + " | ".join(pools) + " |")
    lines.append("|---" * (len(pools) + 1) + "|")
    for method in methods:
        cells = []
        for members in pools.values():
            values = np.array(
                [
                    entry["zoneSpearman"]
                    for entry in faithfulness["perSubject"]
                    if entry["method"] == method
                    and entry["phenotype"] in members
                    and entry.get("zoneSpearman") is not None
                ],
                dtype=float,
            )
            if len(values) == 0:
                cells.append("n/a")
                continue
            picks = rng.integers(0, len(values), size=(RESAMPLES, len(values)))
            low, high = np.percentile(np.median(values[picks], axis=1), [2.5, 97.5])
            verdict = "met" if np.median(values) >= 0.8 else "not met"
            cells.append(
                f"{cell((float(np.median(values)), low, high))} [n={len(values)}], {verdict}"
            )
        lines.append(f"| {method} | " + " | ".join(cells) + " |")
    lines += ["", "All phenotypes but vascular:", ""]
    lines.append("| method | " + " | ".join(metrics) + " |")
    lines.append("|---" * (len(metrics) + 1) + "|")
    for method in methods:
        lines.append(
            f"| {method} | "
            + " | ".join(text(metric("all", method, name)) for name in metrics)
            + " |"
        )
    phenotypes = sorted({group["phenotype"] for group in groups} - {"all"})
    for name in ("zoneSpearman", "pointingGame", "recoveryAuc"):
        lines += ["", f"{name} per phenotype (median; pointing game: mean):", ""]
        lines.append("| phenotype | " + " | ".join(methods) + " |")
        lines.append("|---" * (len(methods) + 1) + "|")
        for phenotype in phenotypes:
            lines.append(
                f"| {phenotype} | "
                + " | ".join(text(metric(phenotype, method, name)) for method in methods)
                + " |"
            )
    return lines


def main(work: str) -> int:
    with open(os.path.join(work, "cohort", "manifest.csv"), newline="") as f:
        manifest = list(csv.DictReader(f))
    with open(os.path.join(work, "batch", "predictions.csv"), newline="") as f:
        predictions = {row["id"]: row for row in csv.DictReader(f)}
    print("## Model and baseline by subset (ml/min/mmHg)\n")
    print("\n".join(subset_table(manifest, predictions)))

    metrics_path = os.path.join(work, "eval", "metrics.json")
    if os.path.exists(metrics_path):
        with open(metrics_path) as f:
            metrics = json.load(f)
        print("\n## dlco eval\n")
        overall = metrics["overall"]
        for name in ("mae", "rmse", "bias", "pearson", "spearman", "ccc"):
            if name in overall:
                print(f"- {name}: {interval(overall[name])}")
        for comparison in metrics.get("comparisons", []):
            print(
                f"- {comparison['name']} vs {comparison['against']} "
                f"(n={comparison['n']}): MAE {interval(comparison['mae'])} vs "
                f"{interval(comparison['maeAgainst'])}, difference "
                f"{interval(comparison['maeDifference'])}"
            )
        if "faithfulness" in metrics:
            print("\n## Explanation faithfulness\n")
            faithfulness = metrics["faithfulness"]
            print(json.dumps(faithfulness["subjects"], indent=None)[:600])
            print()
            print("\n".join(faithfulness_tables(faithfulness)))

    ablation_path = os.path.join(work, "ablation", "benchmark.json")
    if os.path.exists(ablation_path):
        with open(ablation_path) as f:
            ablation = json.load(f)
        print("\n## Ablation on the benchmark cohort\n")
        print("| variant | n | MAE | MAE − baseline | r | no shift | shift | vascular |")
        print("|---|---|---|---|---|---|---|---|")
        for row in ablation["rows"]:
            print(
                f"| {row['variant']} | {row['n']} | {cell(row['mae'])} | "
                f"{cell(row['mae_minus_baseline'])} | {row['r']:.3f} | "
                f"{cell(row['mae_in_distribution'])} | {cell(row['mae_scanner_shift'])} | "
                f"{cell(row['mae_vascular'])} |"
            )
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: known_truth_summary.py WORK_DIR")
    sys.exit(main(sys.argv[1]))

"""Ablation of metadata use: image only, metadata as input, metadata as auxiliary targets.

Usage::

    python -m dlco_train.ablation --config BASE.json --bags BAGS --manifest manifest.csv \\
        --out ABLATION_DIR [--seed N] [--variants image_only,image_metadata_input]

Each variant trains from the same base configuration and seed into ``OUT/<variant>/``,
and the held-out (test, else validation) metrics of every variant and of the linear
baseline go to ``OUT/ablation.csv`` and ``OUT/ablation.md``. Intervals are 95%
percentile bootstrap intervals over subjects.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import logging
import math
import os
import sys
from typing import Any, Sequence

from .config import AUX_TARGETS, TrainConfig, load_config
from .jsonio import write_json
from .train import CHECKPOINT_LAST, run_training

logger = logging.getLogger(__name__)

__all__ = ["VARIANTS", "run_ablation", "main"]

_AUX_WEIGHT = 0.1

#: Variant name to (config overrides, description).
VARIANTS: dict[str, tuple[dict[str, Any], str]] = {
    "image_only": (
        {"use_metadata": False, "aux_loss_weights": {}},
        "patches only; no metadata input, no auxiliary heads",
    ),
    "image_metadata_input": (
        {"use_metadata": True, "aux_loss_weights": {}},
        "patches plus age, sex, height, weight, BMI, smoking, pack-years, Hb, COHb and "
        "the GLI predicted DLCO as input",
    ),
    "image_metadata_aux": (
        {
            "use_metadata": False,
            "aux_loss_weights": {name: _AUX_WEIGHT for name in AUX_TARGETS},
        },
        "patches only as input; age, sex, BMI and pack-years as auxiliary targets",
    ),
}

TABLE_COLUMNS = (
    "variant",
    "split",
    "n",
    "mae",
    "mae_ci95_low",
    "mae_ci95_high",
    "rmse",
    "rmse_ci95_low",
    "rmse_ci95_high",
    "r",
    "r_ci95_low",
    "r_ci95_high",
    "coverage95",
    "description",
)


def _table_row(
    variant: str, split: str, metrics: dict[str, Any], description: str
) -> dict[str, Any]:
    row: dict[str, Any] = {
        "variant": variant,
        "split": split,
        "description": description,
    }
    row["n"] = metrics.get("n")
    for name in ("mae", "rmse", "r"):
        row[name] = metrics.get(name)
        low, high = metrics.get(f"{name}_ci95", [None, None])
        row[f"{name}_ci95_low"], row[f"{name}_ci95_high"] = low, high
    row["coverage95"] = metrics.get("coverage95")
    return row


def run_ablation(
    base: TrainConfig,
    bags_dir: str,
    manifest_path: str,
    out_dir: str,
    *,
    variants: Sequence[str] = tuple(VARIANTS),
    device: str | None = None,
) -> list[dict[str, Any]]:
    """Train every variant and write the comparison table.

    A variant whose folder already has a checkpoint is resumed, so an interrupted
    ablation can be restarted with the same command.

    Returns:
        The table rows: one per variant and one for the baseline.

    Raises:
        ValueError: If a variant name is unknown.
    """
    unknown = [name for name in variants if name not in VARIANTS]
    if unknown:
        raise ValueError(
            f"unknown ablation variant(s) {unknown}; valid: {list(VARIANTS)}"
        )
    os.makedirs(out_dir, exist_ok=True)

    rows = []
    baseline_row = None
    for name in variants:
        overrides, description = VARIANTS[name]
        config = dataclasses.replace(base, **overrides)
        variant_dir = os.path.join(out_dir, name)
        resume = os.path.exists(os.path.join(variant_dir, CHECKPOINT_LAST))
        logger.info("ablation variant %s (%s)", name, "resuming" if resume else "new")
        metrics = run_training(
            config, bags_dir, manifest_path, variant_dir, resume=resume, device=device
        )
        split = "test" if "test" in metrics else "val"
        if split not in metrics:
            raise ValueError(
                f"variant {name} has no validation or test subjects to compare on"
            )
        rows.append(_table_row(name, split, metrics[split]["model"], description))
        if baseline_row is None and "baseline" in metrics[split]:
            baseline_row = _table_row(
                "linear_baseline",
                split,
                metrics[split]["baseline"],
                "OLS on whole-lung QCT, age, sex, height",
            )
    if baseline_row is not None:
        rows.append(baseline_row)

    with open(
        os.path.join(out_dir, "ablation.csv"), "w", newline="", encoding="utf-8"
    ) as f:
        writer = csv.DictWriter(f, fieldnames=TABLE_COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    with open(os.path.join(out_dir, "ablation.md"), "w", encoding="utf-8") as f:
        f.write(format_markdown(rows, base.seed))
    write_json(
        os.path.join(out_dir, "ablation.json"), {"seed": base.seed, "rows": rows}
    )
    return rows


def _number(value: Any, digits: int = 2) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return f"{value:.{digits}f}"


def _with_interval(row: dict[str, Any], name: str, digits: int = 2) -> str:
    low, high = row.get(f"{name}_ci95_low"), row.get(f"{name}_ci95_high")
    text = _number(row.get(name), digits)
    if low is None or high is None:
        return text
    return f"{text} [{_number(low, digits)}, {_number(high, digits)}]"


def format_markdown(rows: Sequence[dict[str, Any]], seed: int) -> str:
    """Format the table as Markdown; MAE and RMSE in ml/min/mmHg with 95% intervals."""
    lines = [
        "# Ablation: use of metadata",
        "",
        f"Held-out metrics, seed {seed}. MAE and RMSE in ml/min/mmHg; brackets are 95% "
        "bootstrap intervals over subjects; coverage95 is the share of held-out DLCO "
        "values inside estimate +/- 1.96 sigma.",
        "",
        "| variant | split | n | MAE | RMSE | r | coverage95 |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        lines.append(
            f"| {row['variant']} | {row['split']} | {row['n']} | {_with_interval(row, 'mae')} | "
            f"{_with_interval(row, 'rmse')} | {_with_interval(row, 'r', 3)} | "
            f"{_number(row.get('coverage95'))} |"
        )
    lines += ["", "Variants:", ""]
    lines += [f"- `{row['variant']}`: {row['description']}" for row in rows]
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Compare image-only and metadata variants of the DLCO model."
    )
    parser.add_argument(
        "--config",
        help="base JSON config; each variant overrides its metadata settings",
    )
    parser.add_argument(
        "--bags", required=True, help="folder with one bag folder per manifest id"
    )
    parser.add_argument(
        "--manifest", required=True, help="manifest CSV (id, dlco, age, sex, ...)"
    )
    parser.add_argument(
        "--out", required=True, help="folder for one run per variant and the tables"
    )
    parser.add_argument(
        "--seed", type=int, help="seed for every variant; overrides the config"
    )
    parser.add_argument(
        "--epochs", type=int, help="epochs per variant; overrides the config"
    )
    parser.add_argument(
        "--variants",
        default=",".join(VARIANTS),
        help=f"comma-separated subset of {list(VARIANTS)}",
    )
    parser.add_argument(
        "--device", choices=["cpu", "cuda"], help="default: cuda when available"
    )
    args = parser.parse_args(argv)

    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        base = load_config(args.config, seed=args.seed, epochs=args.epochs)
        rows = run_ablation(
            base,
            args.bags,
            args.manifest,
            args.out,
            variants=[
                name.strip() for name in args.variants.split(",") if name.strip()
            ],
            device=args.device,
        )
    except (ValueError, OSError) as error:
        logger.error("ablation failed: %s", error)
        return 2
    print(format_markdown(rows, base.seed))
    return 0


if __name__ == "__main__":
    sys.exit(main())

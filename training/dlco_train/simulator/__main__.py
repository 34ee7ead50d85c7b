"""Command line: ``python3 -m dlco_train.simulator --out DIR --n 300 --seed 7``."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from .backgrounds import discover_backgrounds
from .cohort import DEFAULT_PHENOTYPE_MIX, CohortConfig, generate_cohort
from .pathology import PHENOTYPES
from .scanner import DEFAULT_TEST_PROFILES, PROFILES

logger = logging.getLogger("dlco_train.simulator")


def _parse_mix(text: str, option: str) -> dict[str, float]:
    mix = {}
    for item in text.split(","):
        name, separator, weight = item.partition("=")
        if not separator:
            raise ValueError(
                f"{option}: expected NAME=WEIGHT items, received {item!r}."
            )
        try:
            mix[name.strip()] = float(weight)
        except ValueError as error:
            raise ValueError(
                f"{option}: weight of {name!r} is not a number: {weight!r}."
            ) from error
    return mix


def _parse_backgrounds(values: list[str]) -> list[tuple[str, str]]:
    pairs = []
    for value in values:
        ct, separator, mask = value.partition("=")
        if separator:
            pairs.append((ct, mask))
        else:
            pairs.extend((str(a), str(b)) for a, b in discover_backgrounds(value))
    return pairs


def build_parser() -> argparse.ArgumentParser:
    """Build the argument parser of the simulator command."""
    parser = argparse.ArgumentParser(
        prog="python3 -m dlco_train.simulator",
        description=(
            "Write a synthetic chest CT cohort with DLCO and per-voxel conductance "
            "truth: ct/*.nii.gz, truth/<id>/{deficit,healthy,labels}.nii.gz, "
            "manifest.csv and cohort.json."
        ),
    )
    parser.add_argument("--out", required=True, type=Path, help="output folder")
    parser.add_argument(
        "--n", type=int, default=300, help="number of subjects (default 300)"
    )
    parser.add_argument("--seed", type=int, default=7, help="cohort seed (default 7)")

    subjects = parser.add_argument_group("subjects")
    subjects.add_argument(
        "--phenotype-mix",
        help=(
            "phenotype weights as NAME=WEIGHT,...; default "
            + ",".join(
                f"{name}={weight}" for name, weight in DEFAULT_PHENOTYPE_MIX.items()
            )
            + ". Phenotypes: "
            + ", ".join(sorted(PHENOTYPES))
        ),
    )
    subjects.add_argument(
        "--scans-per-subject",
        type=int,
        default=1,
        help="phantom scans per subject, each on a drawn profile (default 1)",
    )

    scanners = parser.add_argument_group("scanners")
    scanners.add_argument(
        "--profile-mix",
        help=(
            "scanner profile weights as NAME=WEIGHT,...; default all equal. Profiles: "
            + ", ".join(sorted(PROFILES))
        ),
    )
    scanners.add_argument(
        "--test-profiles",
        default=",".join(DEFAULT_TEST_PROFILES),
        help=(
            "comma-separated profiles used only in the test split (scanner shift); "
            "empty for none (default %(default)s)"
        ),
    )
    scanners.add_argument(
        "--shift-probability",
        type=float,
        default=0.5,
        help="chance that a test scan uses a held-out profile (default 0.5)",
    )

    real = parser.add_argument_group("real backgrounds")
    real.add_argument(
        "--real-backgrounds",
        action="append",
        default=[],
        metavar="DIR|CT=MASK",
        help=(
            "real CT backgrounds: a folder searched for ct* and wholeLung*/lung_mask* "
            "pairs, or one CT=MASK pair; repeatable"
        ),
    )
    real.add_argument(
        "--real-fraction",
        type=float,
        default=0.2,
        help="share of subjects rendered into a real background (default 0.2)",
    )

    run = parser.add_argument_group("run")
    run.add_argument(
        "--workers",
        type=int,
        default=min(os.cpu_count() or 1, 4),
        help="parallel worker processes (default: CPU count, at most 4)",
    )
    run.add_argument(
        "--gli-table",
        help=(
            "GLI 2017 DLCO JSON table "
            "(default libs/reference/data/gli-2017-tlco.json)"
        ),
    )
    run.add_argument("--log-level", default="INFO", help="logging level (default INFO)")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the simulator command and return the exit status."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        config = CohortConfig(
            subjects=args.n,
            seed=args.seed,
            phenotype_mix=(
                _parse_mix(args.phenotype_mix, "--phenotype-mix")
                if args.phenotype_mix
                else dict(DEFAULT_PHENOTYPE_MIX)
            ),
            profile_mix=(
                _parse_mix(args.profile_mix, "--profile-mix")
                if args.profile_mix
                else None
            ),
            test_profiles=tuple(name for name in args.test_profiles.split(",") if name),
            scans_per_subject=args.scans_per_subject,
            shift_probability=args.shift_probability,
            real_backgrounds=tuple(_parse_backgrounds(args.real_backgrounds)),
            real_fraction=args.real_fraction,
        )
        if args.real_backgrounds and not config.real_backgrounds:
            raise ValueError(
                f"no CT and lung-mask pair found in {args.real_backgrounds}; "
                "name files ct*.nrrd and wholeLung*.nrrd, or pass CT=MASK."
            )
        manifest = generate_cohort(config, args.out, args.workers, args.gli_table)
    except (ValueError, FileNotFoundError) as error:
        logger.error("%s", error)
        return 2
    print(manifest)
    return 0


if __name__ == "__main__":
    sys.exit(main())

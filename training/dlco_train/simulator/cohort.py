"""Cohort generation: subjects, scanner assignment, splits, files and the manifest.

Every random draw derives from one cohort seed through ``numpy.random.SeedSequence``
keyed by subject and scan index, so a cohort is reproducible scan by scan and does not
depend on the number of worker processes.
"""

from __future__ import annotations

import csv
import json
import logging
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from .backgrounds import RealBackground, load_background, render_real_scan
from .geometry import write_nifti
from .pathology import LABELS, PHENOTYPES
from .phantom import ScanResult, Subject, SubjectModel, render_scan
from .physiology import MEASUREMENT_CV
from .reference import GliDlcoTable, load_gli_table
from .scanner import DEFAULT_TEST_PROFILES, PROFILES

__all__ = [
    "DEFAULT_PHENOTYPE_MIX",
    "MANIFEST_COLUMNS",
    "CohortConfig",
    "ScanSpec",
    "draw_subject",
    "generate_cohort",
    "plan_cohort",
]

logger = logging.getLogger(__name__)

FORMAT_VERSION = 1

DEFAULT_PHENOTYPE_MIX = {
    "healthy": 0.25,
    "centrilobular": 0.2,
    "panlobular": 0.07,
    "paraseptal": 0.08,
    "fibrosis": 0.15,
    "vascular": 0.1,
    "cpfe": 0.07,
    "emphysema_vascular": 0.08,
}
"""Default share of each phenotype among subjects."""

MANIFEST_COLUMNS = [
    "id",
    "path",
    "dlco",
    "dlco_true_noiseless",
    "age",
    "sex",
    "height_cm",
    "weight_kg",
    "smoking",
    "pack_years",
    "hb_g_dl",
    "scanner_profile",
    "kernel",
    "slice_thickness_mm",
    "phenotype",
    "split",
    "truth_path",
    "subject_id",
    "severity",
    "scanner_shift",
    "dlco_predicted",
    "dlco_structural",
    "cohb_percent",
]
"""Columns of ``manifest.csv``; the first 17 are the contract, the rest are extras."""

_EMPHYSEMA_PHENOTYPES = {"centrilobular", "paraseptal", "cpfe", "emphysema_vascular"}
_SMOKING_PROBABILITIES = {
    "emphysema": (0.05, 0.55, 0.4),
    "panlobular": (0.4, 0.4, 0.2),
    "fibrosis": (0.35, 0.55, 0.1),
    "other": (0.6, 0.3, 0.1),
}
_AGE_RANGES_YEARS = {
    "healthy": (25.0, 80.0),
    "vascular": (30.0, 75.0),
    "fibrosis": (50.0, 85.0),
}


@dataclass(frozen=True)
class CohortConfig:
    """Settings of one cohort.

    Attributes:
        subjects: Number of subjects.
        seed: Cohort seed.
        phenotype_mix: Relative weight of each phenotype.
        profile_mix: Relative weight of each scanner profile; ``None`` weights all
            profiles equally.
        test_profiles: Profiles seen only by test subjects (scanner-shift subset).
        scans_per_subject: Scans of each phantom subject, each on a drawn profile.
        split_fractions: Shares of subjects in train, val and test.
        shift_probability: Chance that a test scan uses a held-out profile.
        real_backgrounds: ``(ct_path, mask_path)`` pairs of real backgrounds.
        real_fraction: Share of subjects rendered into a real background.
    """

    subjects: int
    seed: int
    phenotype_mix: Mapping[str, float] = field(
        default_factory=lambda: dict(DEFAULT_PHENOTYPE_MIX)
    )
    profile_mix: Mapping[str, float] | None = None
    test_profiles: Sequence[str] = DEFAULT_TEST_PROFILES
    scans_per_subject: int = 1
    split_fractions: tuple[float, float, float] = (0.7, 0.15, 0.15)
    shift_probability: float = 0.5
    real_backgrounds: Sequence[tuple[str, str]] = ()
    real_fraction: float = 0.2

    def validate(self) -> None:
        """Check names and ranges.

        Raises:
            ValueError: Naming the invalid setting and the valid choices.
        """
        if self.subjects < 1:
            raise ValueError(f"subjects must be at least 1, received {self.subjects}.")
        if self.scans_per_subject < 1:
            raise ValueError(
                "scans_per_subject must be at least 1, received "
                f"{self.scans_per_subject}."
            )
        _check_mix("phenotype", self.phenotype_mix, PHENOTYPES)
        profile_mix = self.resolved_profile_mix()
        _check_mix("scanner profile", profile_mix, PROFILES)
        unknown = [name for name in self.test_profiles if name not in PROFILES]
        if unknown:
            raise ValueError(
                f"unknown test profiles {unknown}; valid profiles: {sorted(PROFILES)}."
            )
        if not any(
            weight > 0 and name not in self.test_profiles
            for name, weight in profile_mix.items()
        ):
            raise ValueError(
                "every profile with a positive weight is a test profile, so train and "
                "validation scans have no scanner; keep at least one profile out of "
                "test_profiles."
            )
        if len(self.split_fractions) != 3 or any(f < 0 for f in self.split_fractions):
            raise ValueError(
                f"split_fractions must be three non-negative shares, received "
                f"{self.split_fractions}."
            )
        if not 0.0 <= self.real_fraction <= 1.0:
            raise ValueError(
                f"real_fraction must be in [0, 1], received {self.real_fraction}."
            )

    def resolved_profile_mix(self) -> dict[str, float]:
        """Return the profile weights, all profiles equal when none were given."""
        if self.profile_mix is None:
            return {name: 1.0 for name in PROFILES}
        return dict(self.profile_mix)


def _check_mix(kind: str, mix: Mapping[str, float], valid: Mapping) -> None:
    unknown = [name for name in mix if name not in valid]
    if unknown:
        raise ValueError(
            f"unknown {kind} names {unknown}; valid names: {sorted(valid)}."
        )
    if any(weight < 0 for weight in mix.values()) or sum(mix.values()) <= 0:
        raise ValueError(
            f"{kind} weights must be non-negative with a positive sum, "
            f"received {dict(mix)}."
        )


def _choose(rng: np.random.Generator, mix: Mapping[str, float]) -> str:
    names = sorted(mix)
    weights = np.array([mix[name] for name in names], dtype=float)
    return names[int(rng.choice(len(names), p=weights / weights.sum()))]


def draw_subject(index: int, phenotype: str, seed: int) -> Subject:
    """Draw one subject's demographics and physiology for a phenotype.

    Args:
        index: Subject index in the cohort.
        phenotype: Key of ``pathology.PHENOTYPES``.
        seed: Cohort seed.

    Returns:
        The subject; its own ``seed`` drives the phantom.
    """
    sequence = np.random.SeedSequence([seed, index, 0])
    rng = np.random.default_rng(sequence)
    group = (
        "emphysema"
        if phenotype in _EMPHYSEMA_PHENOTYPES
        else phenotype if phenotype in ("panlobular", "fibrosis") else "other"
    )
    low, high = _AGE_RANGES_YEARS.get(phenotype, (45.0, 82.0))
    age = float(rng.uniform(low, high))
    male_share = 0.7 if phenotype in ("fibrosis", "cpfe") else 0.5
    sex = "M" if rng.uniform() < male_share else "F"
    height = float(
        np.clip(
            rng.normal(176.0, 7.0) if sex == "M" else rng.normal(163.0, 6.5), 145, 205
        )
    )
    bmi = float(np.clip(rng.normal(26.5, 4.0), 17.0, 42.0))
    smoking = ("never", "former", "current")[
        int(rng.choice(3, p=_SMOKING_PROBABILITIES[group]))
    ]
    pack_years = 0.0
    if smoking != "never":
        high_exposure = group == "emphysema"
        pack_years = float(
            rng.uniform(10.0, 80.0) if high_exposure else rng.uniform(2.0, 40.0)
        )
    hb = rng.normal(14.8, 1.2) if sex == "M" else rng.normal(13.5, 1.1)
    hb += 0.4 if smoking == "current" else 0.0
    cohb = (
        float(np.clip(rng.normal(5.0, 1.5), 2.0, 10.0))
        if smoking == "current"
        else float(rng.uniform(0.5, 1.5))
    )
    severity = 0.0 if phenotype == "healthy" else float(rng.uniform(0.15, 1.0))
    return Subject(
        subject_id=f"sub{index:05d}",
        seed=int(sequence.generate_state(1)[0]),
        age_years=round(age, 1),
        sex=sex,
        height_cm=round(height, 1),
        weight_kg=round(bmi * (height / 100.0) ** 2, 1),
        smoking=smoking,
        pack_years=round(pack_years, 1),
        hb_g_dl=round(float(np.clip(hb, 8.0, 19.0)), 1),
        cohb_percent=round(cohb, 2),
        phenotype=phenotype,
        severity=round(severity, 3),
    )


@dataclass(frozen=True)
class ScanSpec:
    """One scan to render.

    Attributes:
        scan_id: File stem and manifest id.
        subject: The subject.
        scan_index: Index among the subject's scans.
        split: ``train``, ``val`` or ``test``.
        profile: Scanner profile name, or ``None`` for a real background.
        background_index: Index into ``CohortConfig.real_backgrounds`` or ``None``.
        scan_seed: Seed of the scan's noise and measurement.
    """

    scan_id: str
    subject: Subject
    scan_index: int
    split: str
    profile: str | None
    background_index: int | None
    scan_seed: int


def plan_cohort(config: CohortConfig) -> list[ScanSpec]:
    """Draw every subject, split and scanner assignment of a cohort.

    Subjects are split into train, val and test by a seeded permutation. Train and
    val scans use only profiles outside ``test_profiles``; each test scan uses a
    held-out profile with probability ``shift_probability``.

    Args:
        config: Cohort settings.

    Returns:
        Scan specifications in id order.

    Raises:
        ValueError: If the configuration is invalid.
    """
    config.validate()
    rng = np.random.default_rng(np.random.SeedSequence([config.seed, 2**31 - 1]))
    phenotypes = [_choose(rng, config.phenotype_mix) for _ in range(config.subjects)]
    order = rng.permutation(config.subjects)
    fractions = np.asarray(config.split_fractions, dtype=float)
    bounds = np.round(np.cumsum(fractions / fractions.sum()) * config.subjects).astype(
        int
    )
    split_of = np.empty(config.subjects, dtype=object)
    split_of[order[: bounds[0]]] = "train"
    split_of[order[bounds[0] : bounds[1]]] = "val"
    split_of[order[bounds[1] :]] = "test"

    profile_mix = config.resolved_profile_mix()
    in_distribution = {
        name: weight
        for name, weight in profile_mix.items()
        if name not in config.test_profiles
    }
    held_out = {
        name: weight
        for name, weight in profile_mix.items()
        if name in config.test_profiles and weight > 0
    }
    specs = []
    for index in range(config.subjects):
        subject = draw_subject(index, phenotypes[index], config.seed)
        scan_rng = np.random.default_rng(
            np.random.SeedSequence([config.seed, index, 1])
        )
        background = None
        if config.real_backgrounds and scan_rng.uniform() < config.real_fraction:
            background = int(scan_rng.integers(len(config.real_backgrounds)))
        scans = 1 if background is not None else config.scans_per_subject
        for scan_index in range(scans):
            profile = None
            if background is None:
                shifted = (
                    split_of[index] == "test"
                    and held_out
                    and scan_rng.uniform() < config.shift_probability
                )
                profile = _choose(scan_rng, held_out if shifted else in_distribution)
            specs.append(
                ScanSpec(
                    scan_id=f"{subject.subject_id}_scan{scan_index}",
                    subject=subject,
                    scan_index=scan_index,
                    split=str(split_of[index]),
                    profile=profile,
                    background_index=background,
                    scan_seed=int(
                        np.random.SeedSequence(
                            [config.seed, index, 2, scan_index]
                        ).generate_state(1)[0]
                    ),
                )
            )
    return specs


_GLI_TABLE: GliDlcoTable | None = None
_BACKGROUNDS: dict[int, RealBackground] = {}


def _gli_table(path: str | None) -> GliDlcoTable:
    global _GLI_TABLE
    if _GLI_TABLE is None:
        _GLI_TABLE = load_gli_table(path)
    return _GLI_TABLE


def _render_subject(
    specs: list[ScanSpec], config: CohortConfig, out_dir: str, gli_path: str | None
) -> list[dict[str, object]]:
    """Render and write all scans of one subject, and return their manifest rows.

    Each scan's row is also written to ``rows/<id>.json`` after its files, so a run that
    stops part way keeps the finished subjects. When every scan of the subject has a row
    with the planned subject, split and profile, the scans are not rendered again.
    """
    finished = _finished_rows(Path(out_dir), specs)
    if finished is not None:
        logger.info("Reused %s from an earlier run", ", ".join(s.scan_id for s in specs))
        return finished
    subject = specs[0].subject
    predicted = _gli_table(gli_path).predicted_dlco(
        subject.age_years, subject.sex, subject.height_cm
    )
    model = None
    rows = []
    for spec in specs:
        rng = np.random.default_rng(spec.scan_seed)
        if spec.background_index is not None:
            if spec.background_index not in _BACKGROUNDS:
                ct_path, mask_path = config.real_backgrounds[spec.background_index]
                _BACKGROUNDS[spec.background_index] = load_background(
                    ct_path, mask_path
                )
            background = _BACKGROUNDS[spec.background_index]
            result = render_real_scan(background, subject, predicted, rng)
            shift = False
        else:
            if model is None:
                model = SubjectModel(subject)
            result = render_scan(model, PROFILES[spec.profile], predicted, rng)
            shift = spec.profile in config.test_profiles
        row = _write_scan(Path(out_dir), spec, result, shift)
        _write_row(Path(out_dir), row)
        rows.append(row)
        logger.info(
            "Wrote %s (%s, %s): DLCO %.2f of predicted %.2f ml/min/mmHg",
            spec.scan_id,
            subject.phenotype,
            result.profile_name,
            result.dlco.measured,
            predicted,
        )
    return rows


def _row_path(out_dir: Path, scan_id: str) -> Path:
    return out_dir / "rows" / f"{scan_id}.json"


def _write_row(out_dir: Path, row: dict[str, object]) -> None:
    path = _row_path(out_dir, str(row["id"]))
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps(row), encoding="utf-8")
    os.replace(partial, path)


def _finished_rows(out_dir: Path, specs: list[ScanSpec]) -> list[dict] | None:
    """Return the rows of an earlier run if every scan of the subject is finished."""
    rows = []
    for spec in specs:
        path = _row_path(out_dir, spec.scan_id)
        if not path.is_file():
            return None
        try:
            row = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError:
            return None
        planned = (spec.subject.subject_id, spec.split)
        if (row.get("subject_id"), row.get("split")) != planned:
            return None
        if spec.profile is not None and row.get("scanner_profile") != spec.profile:
            return None
        if not (out_dir / str(row["path"])).is_file():
            return None
        rows.append(row)
    return rows


def _write_scan(
    out_dir: Path, spec: ScanSpec, result: ScanResult, shift: bool
) -> dict[str, object]:
    ct_path = Path("ct") / f"{spec.scan_id}.nii.gz"
    truth_path = Path("truth") / spec.scan_id
    (out_dir / truth_path).mkdir(parents=True, exist_ok=True)
    write_nifti(out_dir / ct_path, result.ct, result.affine_ras, unit_description="HU")
    write_nifti(
        out_dir / truth_path / "deficit.nii.gz",
        result.deficit,
        result.affine_ras,
        intent_name="dlco_deficit",
        unit_description="conductance deficit, ml/min/mmHg per voxel",
    )
    write_nifti(
        out_dir / truth_path / "healthy.nii.gz",
        result.healthy,
        result.affine_ras,
        intent_name="dlco_healthy",
        unit_description="healthy conductance, ml/min/mmHg per voxel",
    )
    write_nifti(
        out_dir / truth_path / "labels.nii.gz",
        result.labels,
        result.affine_ras,
        unit_description="lesion labels, codes in cohort.json",
    )
    subject = spec.subject
    dlco = result.dlco
    return {
        "id": spec.scan_id,
        "path": ct_path.as_posix(),
        "dlco": round(dlco.measured, 4),
        "dlco_true_noiseless": round(dlco.true_noiseless, 4),
        "age": subject.age_years,
        "sex": subject.sex,
        "height_cm": subject.height_cm,
        "weight_kg": subject.weight_kg,
        "smoking": subject.smoking,
        "pack_years": subject.pack_years,
        "hb_g_dl": subject.hb_g_dl,
        "scanner_profile": result.profile_name,
        "kernel": result.kernel,
        "slice_thickness_mm": round(result.slice_thickness_mm, 4),
        "phenotype": subject.phenotype,
        "split": spec.split,
        "truth_path": truth_path.as_posix(),
        "subject_id": subject.subject_id,
        "severity": subject.severity,
        "scanner_shift": int(shift),
        "dlco_predicted": round(dlco.predicted, 4),
        "dlco_structural": round(dlco.structural, 4),
        "cohb_percent": subject.cohb_percent,
    }


def generate_cohort(
    config: CohortConfig,
    out_dir: str | os.PathLike,
    workers: int = 1,
    gli_table_path: str | None = None,
) -> Path:
    """Render a cohort and write ``manifest.csv`` and ``cohort.json``.

    Args:
        config: Cohort settings.
        out_dir: Output folder; created if missing.
        workers: Processes that render subjects in parallel.
        gli_table_path: GLI JSON table; ``None`` uses the repository's copy.

    Returns:
        Path of the manifest.

    Raises:
        ValueError: If the configuration is invalid.
        FileNotFoundError: If the GLI table is missing.
    """
    out = Path(out_dir)
    specs = plan_cohort(config)
    _gli_table(gli_table_path)
    (out / "ct").mkdir(parents=True, exist_ok=True)
    _claim_rows(out, config, gli_table_path)
    by_subject: dict[str, list[ScanSpec]] = {}
    for spec in specs:
        by_subject.setdefault(spec.subject.subject_id, []).append(spec)
    groups = list(by_subject.values())
    logger.info(
        "Rendering %d scans of %d subjects with %d workers into %s",
        len(specs),
        len(groups),
        workers,
        out,
    )
    rows: list[dict[str, object]] = []
    if workers <= 1:
        for group in groups:
            rows.extend(_render_subject(group, config, str(out), gli_table_path))
    else:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            futures = [
                pool.submit(_render_subject, group, config, str(out), gli_table_path)
                for group in groups
            ]
            for future in futures:
                rows.extend(future.result())

    manifest = out / "manifest.csv"
    with manifest.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=MANIFEST_COLUMNS)
        writer.writeheader()
        writer.writerows(sorted(rows, key=lambda row: str(row["id"])))
    _write_description(out / "cohort.json", config, gli_table_path)
    logger.info("Wrote %s with %d scans", manifest, len(rows))
    return manifest


def _write_description(path: Path, config: CohortConfig, gli_path: str | None) -> None:
    description = _description(config, gli_path)
    path.write_text(json.dumps(description, indent=2) + "\n", encoding="utf-8")


def _claim_rows(out: Path, config: CohortConfig, gli_path: str | None) -> None:
    """Record the settings of the rows in ``out/rows`` and reject rows of other settings.

    Raises:
        ValueError: If ``rows/plan.json`` contains another seed, mix, profile table,
            phenotype table or GLI source than this run, naming what differs.
    """
    plan = out / "rows" / "plan.json"
    current = json.loads(json.dumps(_description(config, gli_path)))
    if plan.is_file():
        saved = json.loads(plan.read_text(encoding="utf-8"))
        differing = sorted(
            key for key in set(saved) | set(current) if saved.get(key) != current.get(key)
        )
        if differing:
            raise ValueError(
                f"{out} contains scans simulated with other settings (they differ in "
                f"{', '.join(differing)}); choose a new --out, or delete {out / 'rows'} "
                "to simulate every scan again"
            )
        return
    plan.parent.mkdir(parents=True, exist_ok=True)
    # Rows without a plan come from an unknown run and are not kept.
    for stale in plan.parent.glob("*.json"):
        stale.unlink()
    plan.write_text(json.dumps(current, indent=2) + "\n", encoding="utf-8")


def _description(config: CohortConfig, gli_path: str | None) -> dict:
    return {
        "formatVersion": FORMAT_VERSION,
        "seed": config.seed,
        "config": {
            **{
                key: value
                for key, value in asdict(config).items()
                if key != "real_backgrounds"
            },
            "profile_mix": config.resolved_profile_mix(),
            "real_backgrounds": [
                list(map(str, pair)) for pair in config.real_backgrounds
            ],
        },
        "labels": {str(code): name for code, name in LABELS.items()},
        "phenotypes": PHENOTYPES,
        "profiles": {name: asdict(profile) for name, profile in PROFILES.items()},
        "measurementCv": MEASUREMENT_CV,
        "gliSource": _gli_table(gli_path).source,
        "units": {
            "dlco": "ml/min/mmHg",
            "deficit": "ml/min/mmHg per voxel",
            "healthy": "ml/min/mmHg per voxel",
            "ct": "HU",
        },
    }

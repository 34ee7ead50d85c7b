"""Helpers shared by the simulator tests.

Tests import this module by name because pytest puts this folder on ``sys.path``.
"""

from __future__ import annotations

import copy
import dataclasses

from dlco_train.simulator.phantom import Subject, SubjectModel
from dlco_train.simulator.scanner import ScannerProfile

# 3 mm pixels keep a scan near one second; only the sampling is coarser than 1.5 mm.
COARSE_PROFILE = ScannerProfile("test-coarse-3.0", "standard", 3.0, 3.0, 128, 15.0)


def make_subject(
    phenotype: str = "healthy", severity: float = 0.0, **overrides
) -> Subject:
    """Return a 50-year-old male of 175 cm at standard Hb and baseline COHb."""
    values = dict(
        subject_id="test",
        seed=1234,
        age_years=50.0,
        sex="M",
        height_cm=175.0,
        weight_kg=75.0,
        smoking="never",
        pack_years=0.0,
        hb_g_dl=14.6,
        cohb_percent=1.0,
        phenotype=phenotype,
        severity=severity,
    )
    values.update(overrides)
    return Subject(**values)


def with_params(model: SubjectModel, **changes) -> SubjectModel:
    """Return a shallow copy of a subject model with anatomy parameters replaced."""
    changed = copy.copy(model)
    changed.params = dataclasses.replace(model.params, **changes)
    return changed

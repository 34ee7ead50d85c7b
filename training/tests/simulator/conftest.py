"""Fixtures for simulator tests: the GLI table and cached subject models and scans."""

from __future__ import annotations

import numpy as np
import pytest
from simulator_helpers import COARSE_PROFILE

from dlco_train.simulator.phantom import Subject, SubjectModel, render_scan
from dlco_train.simulator.reference import load_gli_table
from dlco_train.simulator.scanner import ScannerProfile


@pytest.fixture(scope="session")
def gli_table():
    """The repository's GLI 2017 DLCO table."""
    return load_gli_table()


@pytest.fixture(scope="session")
def subject_model():
    """Return a cached factory of subject models keyed by the subject's fields."""
    cache: dict[Subject, SubjectModel] = {}

    def factory(subject: Subject) -> SubjectModel:
        if subject not in cache:
            cache[subject] = SubjectModel(subject)
        return cache[subject]

    return factory


@pytest.fixture(scope="session")
def render(subject_model, gli_table):
    """Return a cached renderer ``render(subject, profile, scan_seed)``."""
    cache = {}

    def renderer(
        subject: Subject, profile: ScannerProfile = COARSE_PROFILE, scan_seed: int = 0
    ):
        key = (subject, profile, scan_seed)
        if key not in cache:
            predicted = gli_table.predicted_dlco(
                subject.age_years, subject.sex, subject.height_cm
            )
            cache[key] = render_scan(
                subject_model(subject),
                profile,
                predicted,
                np.random.default_rng(scan_seed),
            )
        return cache[key]

    return renderer

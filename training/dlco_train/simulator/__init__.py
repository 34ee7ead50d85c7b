"""Synthetic chest CT cohort with known regional DLCO truth.

No public cohort pairs CT with DLCO, so this simulator draws subjects and renders a
chest CT phantom per scan, or inserts lesions into a real CT given at run time. DLCO is
the sum of a per-voxel conductance. Every number it uses is an assumption of the
simulator, listed in ``docs/simulator.md``. For the command line, run
``python3 -m dlco_train.simulator --help``.
"""

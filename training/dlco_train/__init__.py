"""Training, ONNX export and baseline for the dlco-ct patch-based DLCO model.

The package reads the patch bags that ``dlco preprocess`` writes (see
``docs/patch-bag-format.md``) and never preprocesses CT itself.
"""

__version__ = "0.1.0"

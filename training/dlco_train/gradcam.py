"""Grad-CAM per patch for the DLCO model, from a training checkpoint and patch bags.

Usage::

    python -m dlco_train.gradcam --checkpoint RUN/checkpoint-best.pt --bags BAGS \\
        --manifest manifest.csv --out gradcam.csv

Target and sign. The differentiated output is the negated DLCO estimate of the whole
bag, ``-dlco`` (all patches, no volume scaling, as at inference). Grad-CAM (Selvaraju et
al., ICCV 2017) weights each channel k of the encoder's last convolution stage by its
mean gradient, ``alpha_k = mean_x d(-dlco)/dA_k(x)``, and keeps
``relu(sum_k alpha_k A_k(x))``. A positive map therefore marks features whose increase
would lower the estimate. The patch value is the mean of that map over the patch's
last-stage grid, so it is at least 0 and larger means more attributed deficit, the
convention of ``dlco eval --explanation``. Each bag is one backward pass, and every
patch gets its own map because the encoder embeds each patch on its own.

The ``signed`` value is the same mean without the ReLU. Because the encoder pools the
last stage globally, it equals ``(1/V) sum_k A_k-pooled * d(-dlco)/d(pooled_k)`` with V
the number of last-stage voxels. So V times it is the derivative of ``-dlco`` with
respect to one common factor on that patch's last-stage activations, which the tests
check by finite differences.

NOTE: with ``encoder_density_features`` the patch's mean HU, LAA-950 and HAA shares
enter the encoder's linear layer directly, after the last convolution, so their effect
on the estimate is not in the map.

Output: a CSV with columns ``id``, ``patch_index`` (the bag's patch order, which is the
``index`` of ``patches[]`` in a ``dlco predict`` result of the same scan with the same
preprocessing) and ``value``, plus ``signed`` when ``--signed`` is given.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import logging
import os
import sys
import tempfile
from typing import Any, Sequence

import numpy as np
import torch

from .bags import Bag, BagFormatError, read_bag
from .checkpoints import load_checkpoint, model_from_checkpoint
from .manifest import encode_metadata
from .model import DlcoModel

logger = logging.getLogger(__name__)

__all__ = [
    "GradCam",
    "gradcam_bag",
    "read_metadata_manifest",
    "write_gradcam_csv",
    "main",
]


@dataclasses.dataclass
class GradCam:
    """Grad-CAM of one bag.

    Attributes:
        values: float64 ``[N]``, mean of the ReLU Grad-CAM map per patch (>= 0; larger
            means more attributed deficit).
        signed: float64 ``[N]``, the same mean without the ReLU.
        estimate: The bag's DLCO estimate, ml/min/mmHg.
    """

    values: np.ndarray
    signed: np.ndarray
    estimate: float


def gradcam_bag(model: DlcoModel, bag: Bag, metadata: np.ndarray) -> GradCam:
    """Compute patch-level Grad-CAM of ``-dlco`` for one bag.

    Args:
        model: The trained model; it is put in evaluation mode.
        bag: The scan's patch bag.
        metadata: Raw metadata ``[M]`` in ``METADATA_FEATURES`` order (NaN = missing).

    Returns:
        The per-patch values in the bag's patch order.
    """
    model.eval()
    captured: list[torch.Tensor] = []

    def keep_activations(_module, _inputs, output):
        captured.append(output)

    handle = model.encoder.features.register_forward_hook(keep_activations)
    try:
        with torch.enable_grad():
            embeddings = model.encoder(
                torch.from_numpy(np.array(bag.hu)),
                torch.from_numpy(np.array(bag.mask)),
            )
            outputs = model.aggregate(
                embeddings,
                torch.from_numpy(np.asarray(bag.lung_ml, dtype=np.float32)),
                torch.from_numpy(np.asarray(bag.zone)),
                torch.from_numpy(np.asarray(bag.side)),
                [bag.patch_count],
                torch.from_numpy(np.asarray(metadata, dtype=np.float32)).reshape(1, -1),
            )
            estimate = outputs["dlco"][0]
            (activations,) = captured
            (gradients,) = torch.autograd.grad(-estimate, activations)
    finally:
        handle.remove()

    spatial = tuple(range(2, activations.dim()))
    weights = gradients.mean(dim=spatial, keepdim=True)
    cam = (weights * activations.detach()).sum(dim=1)
    cam_spatial = tuple(range(1, cam.dim()))
    return GradCam(
        values=torch.relu(cam).mean(dim=cam_spatial).double().numpy(),
        signed=cam.mean(dim=cam_spatial).double().numpy(),
        estimate=float(estimate.detach()),
    )


def read_metadata_manifest(path: str) -> list[tuple[str, np.ndarray]]:
    """Read ids and raw metadata from a manifest CSV; ``dlco`` is not needed.

    Raises:
        ValueError: If the file has no ``id`` column, an id is empty or repeats, or a
            metadata value is invalid; the message names the line.
    """
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        if "id" not in (reader.fieldnames or []):
            raise ValueError(
                f"manifest {path} has no 'id' column; found {reader.fieldnames}"
            )
        rows = []
        seen: set[str] = set()
        for line, raw in enumerate(reader, start=2):
            columns = {k: (v or "").strip() for k, v in raw.items() if k is not None}
            where = f"manifest {path} line {line}"
            scan_id = columns["id"]
            if not scan_id:
                raise ValueError(f"{where}: empty id")
            if scan_id in seen:
                raise ValueError(f"{where}: id {scan_id!r} appears more than once")
            seen.add(scan_id)
            rows.append((scan_id, encode_metadata(columns, where)))
    return rows


def write_gradcam_csv(
    path: str, results: Sequence[tuple[str, GradCam]], *, signed: bool = False
) -> None:
    """Write rows ``id, patch_index, value`` (and ``signed``) in one replace."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=".gradcam-", suffix=".csv", dir=folder)
    try:
        with os.fdopen(handle, "w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            header = ["id", "patch_index", "value"] + (["signed"] if signed else [])
            writer.writerow(header)
            for scan_id, result in results:
                for index, value in enumerate(result.values):
                    row: list[Any] = [scan_id, index, f"{value:.9g}"]
                    if signed:
                        row.append(f"{result.signed[index]:.9g}")
                    writer.writerow(row)
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise


def run(
    checkpoint_path: str,
    bags_dir: str,
    manifest_path: str,
    out_path: str,
    *,
    signed: bool = False,
    threads: int | None = None,
) -> list[tuple[str, GradCam]]:
    """Compute Grad-CAM for every manifest id and write the CSV.

    Raises:
        ValueError: If a bag is missing, was made with other preprocessing than the
            checkpoint's, or the manifest is invalid.
    """
    if threads:
        torch.set_num_threads(threads)
    checkpoint = load_checkpoint(checkpoint_path)
    model, _ = model_from_checkpoint(checkpoint)
    expected_hash = checkpoint["preprocessing"]["hash"]
    rows = read_metadata_manifest(manifest_path)
    missing = [
        scan_id
        for scan_id, _ in rows
        if not os.path.isfile(os.path.join(bags_dir, scan_id, "bag.json"))
    ]
    if missing:
        shown = ", ".join(missing[:5]) + (" ..." if len(missing) > 5 else "")
        raise ValueError(
            f"{len(missing)} manifest ids have no bag in {bags_dir} ({shown}); run "
            f"`dlco preprocess {manifest_path} --out {bags_dir}` first"
        )
    results = []
    for number, (scan_id, metadata) in enumerate(rows, start=1):
        try:
            bag = read_bag(os.path.join(bags_dir, scan_id), expected_hash=expected_hash)
        except BagFormatError as error:
            raise ValueError(str(error)) from None
        result = gradcam_bag(model, bag, metadata)
        if not np.all(np.isfinite(result.signed)):
            raise ValueError(f"{scan_id}: Grad-CAM is not finite; check the bag")
        results.append((scan_id, result))
        logger.info(
            "%d/%d %s: %d patches, estimate %.2f ml/min/mmHg",
            number,
            len(rows),
            scan_id,
            bag.patch_count,
            result.estimate,
        )
    write_gradcam_csv(out_path, results, signed=signed)
    return results


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=(
            "Patch-level Grad-CAM of the negated DLCO estimate from a training "
            "checkpoint. Writes id, patch_index, value (larger = more attributed "
            "deficit)."
        )
    )
    parser.add_argument(
        "--checkpoint", required=True, help="RUN_DIR/checkpoint-best.pt"
    )
    parser.add_argument(
        "--bags", required=True, help="folder with one bag folder per manifest id"
    )
    parser.add_argument(
        "--manifest",
        required=True,
        help="CSV with id and the metadata columns (age, sex, height_cm, ...)",
    )
    parser.add_argument("--out", required=True, help="CSV file to write")
    parser.add_argument(
        "--signed", action="store_true", help="also write the value before the ReLU"
    )
    parser.add_argument("--threads", type=int, help="torch CPU threads")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    if args.threads is not None and args.threads < 1:
        logger.error("--threads must be at least 1, received %d", args.threads)
        return 2
    try:
        results = run(
            args.checkpoint,
            args.bags,
            args.manifest,
            args.out,
            signed=args.signed,
            threads=args.threads,
        )
    except (ValueError, OSError) as error:
        logger.error("gradcam failed: %s", error)
        return 2
    patches = sum(len(result.values) for _, result in results)
    print(f"{args.out}: {len(results)} scans, {patches} patches")
    return 0


if __name__ == "__main__":
    sys.exit(main())

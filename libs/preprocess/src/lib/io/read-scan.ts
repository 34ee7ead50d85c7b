import { mkdtemp, realpath, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

import { silentLogger, type Logger } from '../logger.ts';
import type { Volume } from '../volume.ts';
import { identifyScanSource, type ScanFormat } from './formats.ts';
import type { MultipleSeriesPolicy } from './dicom-series.ts';
import { readDicomSeries, type DicomSeriesInfo } from './read-dicom.ts';
import { readVolumeFile } from './read-volume-file.ts';
import { DEFAULT_MAX_VOXELS } from './volume-checks.ts';
import { extractZip, type ZipLimits } from './zip.ts';

/** Options of `readScan`. */
export interface ReadScanOptions {
  /** Maximum voxel count accepted, checked from the header before pixel data is read. */
  maxVoxels?: number;
  logger?: Logger;
  /**
   * Largest deviation of a DICOM slice distance from the median, as a fraction of the median
   * (default 0.1). Series within it are resampled to even spacing; others are rejected.
   */
  unevenSpacingTolerance?: number;
  /** Folder for the temporary extraction of a .zip (default: the OS temp folder). */
  tempDirectory?: string;
  /**
   * DICOM input with more than one CT series: 'most-slices' (default) reads the series with
   * the most slices and warns, 'reject' raises `DICOM_MULTIPLE_SERIES`.
   */
  multipleSeries?: MultipleSeriesPolicy;
}

/** A scan read by `readScan`. */
export interface ReadScanResult {
  /** Intensities in HU on the file's native grid; not reoriented or resampled. */
  volume: Volume;
  format: ScanFormat;
  warnings: string[];
  /** Present for DICOM input. */
  dicom?: DicomSeriesInfo;
}

/**
 * Inflated bytes allowed per voxel of `maxVoxels` in a .zip. This leaves room for the int16
 * pixels, the DICOM headers and a second series of the same size.
 */
const ZIP_BYTES_PER_VOXEL = 8;
/** Entries allowed in a .zip, matching the file limit of a DICOM folder. */
const ZIP_MAX_ENTRIES = 20000;

/** Returns the limits that a .zip read by `readScan` with `maxVoxels` must keep. */
export function zipLimitsFor(maxVoxels: number = DEFAULT_MAX_VOXELS): ZipLimits {
  return { maxEntries: ZIP_MAX_ENTRIES, maxBytes: maxVoxels * ZIP_BYTES_PER_VOXEL };
}

function logWarnings(logger: Logger, warnings: string[]): void {
  for (const warning of warnings) logger.warn({}, warning);
}

/**
 * Reads a chest CT scan as HU in its native geometry and validates it.
 *
 * Accepts NIfTI (.nii, .nii.gz), NRRD (.nrrd, .nhdr), MetaImage (.mha, .mhd), a folder containing
 * a DICOM series or a .zip of one. Sizes are checked from the header before the pixel data is
 * read. A .zip is extracted to a temporary folder that is removed whether reading succeeds or
 * fails. Axial CT only: gantry-tilted DICOM series and multi-frame (Enhanced CT) objects are
 * rejected.
 *
 * @param scanPath - file or folder to read
 * @throws InputError with a stable `code`, such as `INPUT_NOT_FOUND`, `INPUT_TOO_LARGE`,
 *   `INPUT_NOT_HU` or `DICOM_MISSING_SLICES`; see `INPUT_ERROR_CODES`.
 * @example
 * const { volume, warnings } = await readScan('scans/chest.nii.gz');
 * console.log(volume.size, volume.spacingMm, warnings);
 */
export async function readScan(
  scanPath: string,
  options: ReadScanOptions = {},
): Promise<ReadScanResult> {
  const dicomOptions = resolveOptions(options);
  const source = await identifyScanSource(scanPath);
  dicomOptions.logger.debug({ format: source.format, layout: source.layout }, 'Reading scan');

  if (source.format !== 'dicom') {
    // ITK-wasm's readers fail on a path through a symbolic link, so they get the real path.
    const filePath = await realpath(scanPath);
    const volume = await readVolumeFile(filePath, source.format, dicomOptions.maxVoxels);
    return { volume, format: source.format, warnings: [] };
  }
  const result =
    source.layout === 'directory'
      ? await readDicomSeries(scanPath, dicomOptions)
      : await readZippedSeries(scanPath, dicomOptions, options.tempDirectory ?? os.tmpdir());
  logWarnings(dicomOptions.logger, result.warnings);
  return { format: 'dicom', ...result };
}

function resolveOptions(options: ReadScanOptions) {
  const maxVoxels = options.maxVoxels ?? DEFAULT_MAX_VOXELS;
  const unevenSpacingTolerance = options.unevenSpacingTolerance ?? 0.1;
  if (!(maxVoxels > 0)) {
    throw new RangeError(`maxVoxels must be a positive number of voxels, got ${maxVoxels}.`);
  }
  if (!(unevenSpacingTolerance >= 0)) {
    throw new RangeError(
      `unevenSpacingTolerance must be a fraction of at least 0, got ${unevenSpacingTolerance}.`,
    );
  }
  const logger = options.logger ?? silentLogger;
  return { maxVoxels, unevenSpacingTolerance, logger, multipleSeries: options.multipleSeries };
}

/** Extracts a .zip into a fresh folder under `tempDirectory`, reads it, and removes the folder. */
async function readZippedSeries(
  zipPath: string,
  options: ReturnType<typeof resolveOptions>,
  tempDirectory: string,
) {
  const folder = await mkdtemp(path.join(tempDirectory, 'dlco-scan-'));
  try {
    await extractZip(zipPath, folder, zipLimitsFor(options.maxVoxels));
    return await readDicomSeries(folder, { ...options, label: zipPath });
  } finally {
    await rm(folder, { recursive: true, force: true });
  }
}

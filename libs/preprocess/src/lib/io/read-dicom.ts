import { readdir } from 'node:fs/promises';
import path from 'node:path';

import { readImageDicomFileSeriesNode } from '@itk-wasm/dicom';
import type { Image } from 'itk-wasm';

import { InputError } from '../errors.ts';
import type { Logger } from '../logger.ts';
import type { Volume } from '../volume.ts';
import { readDicomHeader, type DicomHeader } from './dicom-header.ts';
import { selectCtSeries, type ExcludedFile, type MultipleSeriesPolicy } from './dicom-series.ts';
import { stackSlices, type SliceStack } from './dicom-slices.ts';
import { errorDetail } from './error-detail.ts';
import type { PixelArray } from './hu.ts';
import { imageToVolume } from './itk-volume.ts';
import { resampleSlicesEvenly } from './resample-slices.ts';
import { describeTransferSyntax } from './transfer-syntax.ts';
import { checkSliceCount, checkVoxelCount } from './volume-checks.ts';

/** DICOM facts reported with a volume read from a series. */
export interface DicomSeriesInfo {
  seriesInstanceUid: string;
  /** Number of CT series found in the folder. */
  seriesCount: number;
  /** Slices in the volume, after dropping identical duplicates. */
  sliceCount: number;
  excludedFiles: ExcludedFile[];
  transferSyntaxUid: string;
}

/** Most files a DICOM folder may contain, so a wrong path does not scan a whole disk. */
export const MAX_DICOM_FOLDER_FILES = 20000;

/** Files parsed at once; bounded so large folders do not exhaust file handles. */
const HEADER_CONCURRENCY = 16;

async function listFiles(root: string): Promise<string[]> {
  const entries = await readdir(root, { recursive: true, withFileTypes: true });
  const files = entries
    .filter((entry) => entry.isFile())
    .map((entry) => path.join(entry.parentPath ?? entry.path, entry.name))
    .sort();
  if (files.length > MAX_DICOM_FOLDER_FILES) {
    throw new InputError(
      'INPUT_TOO_LARGE',
      `Folder ${root} contains ${files.length} files, above the limit of ` +
        `${MAX_DICOM_FOLDER_FILES} for one DICOM series. Point to the folder of one series.`,
      { path: root, files: files.length },
    );
  }
  return files;
}

async function readHeaders(files: string[]) {
  const entries: Array<{ file: string; header: DicomHeader | undefined }> = [];
  for (let start = 0; start < files.length; start += HEADER_CONCURRENCY) {
    const batch = files.slice(start, start + HEADER_CONCURRENCY);
    const headers = await Promise.all(batch.map((file) => readDicomHeader(file)));
    batch.forEach((file, index) => entries.push({ file, header: headers[index] }));
  }
  return entries;
}

function checkTransferSyntax(uid: string): void {
  const syntax = describeTransferSyntax(uid);
  if (!syntax.decodable) {
    throw new InputError(
      'DICOM_TRANSFER_SYNTAX_UNSUPPORTED',
      `The series uses transfer syntax ${uid} (${syntax.name}), which this reader cannot ` +
        'decode. Convert it to Explicit VR Little Endian, JPEG lossless, JPEG-LS, JPEG 2000 or ' +
        'RLE (for example with dcmconv or gdcmconv).',
      { transferSyntaxUid: uid, transferSyntaxName: syntax.name },
    );
  }
}

async function readSeriesWithItk(files: string[], transferSyntaxUid: string): Promise<Image> {
  try {
    const { outputImage } = await readImageDicomFileSeriesNode({
      inputImages: files,
      singleSortedSeries: true,
    });
    return outputImage;
  } catch (error) {
    const syntax = describeTransferSyntax(transferSyntaxUid);
    if (!syntax.known) {
      throw new InputError(
        'DICOM_TRANSFER_SYNTAX_UNSUPPORTED',
        `The series uses transfer syntax ${transferSyntaxUid} (${syntax.name}), which could ` +
          'not be decoded. Convert it to Explicit VR Little Endian.',
        { transferSyntaxUid, transferSyntaxName: syntax.name },
      );
    }
    throw new InputError(
      'INPUT_CORRUPT',
      `The DICOM series (first file ${files[0]}) could not be decoded (${errorDetail(error)}). ` +
        'A slice is damaged or truncated. Export the series again.',
      { file: files[0] },
    );
  }
}

/**
 * Sets origin, direction and slice distance from ImagePositionPatient and
 * ImageOrientationPatient of the sorted slices. ITK-wasm (@itk-wasm/dicom 7.6.4) keeps the
 * slice order it is given but derives the slice direction from SpacingBetweenSlices, so a
 * negative value there (as in the POPI series) mirrors the volume along the slice normal.
 */
function withHeaderGeometry(volume: Volume, stack: SliceStack): Volume {
  const [r0, r1, r2, c0, c1, c2] = stack.slices[0].orientation!;
  const normal = [r1 * c2 - r2 * c1, r2 * c0 - r0 * c2, r0 * c1 - r1 * c0];
  const length = Math.hypot(...normal);
  const [n0, n1, n2] = normal.map((value) => value / length);
  const count = stack.positionsMm.length;
  const step = (stack.positionsMm[count - 1] - stack.positionsMm[0]) / (count - 1);
  return {
    ...volume,
    originMm: [...stack.slices[0].positionMm!],
    direction: Float64Array.from([r0, c0, n0, r1, c1, n1, r2, c2, n2], (value) => value + 0),
    spacingMm: [volume.spacingMm[0], volume.spacingMm[1], step],
  };
}

/**
 * Reads the CT series of a DICOM folder as a `Volume` in its native geometry, with slices in
 * ascending order along the slice normal. Messages name the scan by `label` (default: `root`).
 *
 * ITK's GDCM reader applies RescaleSlope and RescaleIntercept itself (and widens the pixel type
 * when needed), so the values it returns are already HU and are only saturated into int16 here.
 *
 * @throws InputError with the codes of `selectCtSeries`, `stackSlices` and `imageToVolume`,
 *   plus `INPUT_TOO_LARGE` and `DICOM_TRANSFER_SYNTAX_UNSUPPORTED`.
 */
export async function readDicomSeries(
  root: string,
  options: {
    maxVoxels: number;
    unevenSpacingTolerance: number;
    logger: Logger;
    label?: string;
    multipleSeries?: MultipleSeriesPolicy;
  },
): Promise<{ volume: Volume; dicom: DicomSeriesInfo; warnings: string[] }> {
  const label = options.label ?? root;
  const files = await listFiles(root);
  const headers = await readHeaders(files);
  const selection = selectCtSeries(root, headers, label, options.multipleSeries);
  const first = selection.slices[0];
  const sizeBeforeChecks = [first.columns, first.rows, selection.slices.length];
  checkSliceCount(sizeBeforeChecks, label);
  checkVoxelCount(sizeBeforeChecks, options.maxVoxels, label);
  checkTransferSyntax(first.transferSyntaxUid);

  const truncated = selection.slices.find((slice) => slice.pixelDataTruncated);
  if (truncated !== undefined) {
    throw new InputError(
      'INPUT_CORRUPT',
      `DICOM file ${path.relative(root, truncated.file)} in ${label} ends inside its pixel data. ` +
        'Copy or export the series again.',
      { file: path.relative(root, truncated.file) },
    );
  }
  const stack = await stackSlices(root, selection.slices, options.unevenSpacingTolerance);
  checkSliceCount([first.columns, first.rows, stack.slices.length], label);
  const warnings = [...selection.warnings, ...stack.warnings];
  const syntax = describeTransferSyntax(first.transferSyntaxUid);
  if (syntax.lossy) {
    warnings.push(`The series is stored with lossy compression (${syntax.name}).`);
  }
  options.logger.debug(
    { slices: stack.slices.length, excluded: selection.excludedFiles.length },
    'Reading DICOM series',
  );

  const sortedFiles = stack.slices.map((slice) => slice.file);
  const image = await readSeriesWithItk(sortedFiles, first.transferSyntaxUid);
  let volume = withHeaderGeometry(imageToVolume(image, label), stack);
  if (stack.needsResampling) volume = resampleSlicesEvenly(volume, stack.positionsMm);

  return {
    volume,
    warnings,
    dicom: {
      seriesInstanceUid: selection.seriesInstanceUid,
      seriesCount: selection.seriesCount,
      sliceCount: stack.slices.length,
      excludedFiles: selection.excludedFiles,
      transferSyntaxUid: first.transferSyntaxUid,
    },
  };
}

/**
 * Decodes the pixels of one DICOM file with rescale slope and intercept applied, without the
 * validation, saturation or padding of `readScan`.
 *
 * @internal For tests that compare transfer syntaxes slice by slice.
 */
export async function readDicomSlicePixels(
  file: string,
): Promise<{ size: [number, number]; data: Float64Array }> {
  const { outputImage } = await readImageDicomFileSeriesNode({
    inputImages: [file],
    singleSortedSeries: true,
  });
  return {
    size: [outputImage.size[0], outputImage.size[1]],
    data: Float64Array.from(outputImage.data as PixelArray, Number),
  };
}

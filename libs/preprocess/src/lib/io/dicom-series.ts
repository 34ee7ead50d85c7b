import path from 'node:path';

import { InputError } from '../errors.ts';
import { MEDIA_STORAGE_DIRECTORY_SOP_CLASS, type DicomHeader } from './dicom-header.ts';

/** A file left out of the volume, with the reason. */
export interface ExcludedFile {
  file: string;
  reason: string;
}

/** The CT series chosen from a folder, before its slice positions are validated. */
export interface SeriesSelection {
  seriesInstanceUid: string;
  /** Number of CT series found after exclusions. */
  seriesCount: number;
  slices: DicomHeader[];
  excludedFiles: ExcludedFile[];
  warnings: string[];
}

/** SOP class of Enhanced CT Image Storage, whose frames share one file. */
/**
 * Policy of `selectCtSeries` for more than one CT series: read the one with the most slices and
 * warn, or reject the input.
 */
export type MultipleSeriesPolicy = 'most-slices' | 'reject';

export const ENHANCED_CT_SOP_CLASS = '1.2.840.10008.5.1.4.1.1.2.1';

const ORIENTATION_TOLERANCE = 1e-3;

function isMultiframe(header: DicomHeader): boolean {
  return header.sopClassUid === ENHANCED_CT_SOP_CLASS || header.numberOfFrames > 1;
}

/** Names a file relative to the scan folder, so messages do not repeat temp paths. */
function relative(root: string, file: string): string {
  return path.relative(root, file) || path.basename(file);
}

/**
 * Sorts files into images and excluded files: non-DICOM files (hidden files such as .DS_Store
 * are skipped silently), DICOMDIR indexes, objects without pixel data and localizers.
 */
function excludeNonImages(
  root: string,
  entries: Array<{ file: string; header: DicomHeader | undefined }>,
): { images: DicomHeader[]; excludedFiles: ExcludedFile[] } {
  const images: DicomHeader[] = [];
  const excludedFiles: ExcludedFile[] = [];
  const exclude = (file: string, reason: string) =>
    excludedFiles.push({ file: relative(root, file), reason });

  for (const { file, header } of entries) {
    if (header === undefined) {
      if (!path.basename(file).startsWith('.')) exclude(file, 'not a DICOM Part 10 file');
    } else if (header.sopClassUid === MEDIA_STORAGE_DIRECTORY_SOP_CLASS) {
      exclude(file, 'DICOMDIR index, not an image');
    } else if (!header.hasPixelData) {
      exclude(file, 'no pixel data');
    } else if (header.imageType.includes('LOCALIZER')) {
      exclude(file, 'localizer image (ImageType contains LOCALIZER)');
    } else {
      images.push(header);
    }
  }
  return { images, excludedFiles };
}

function groupBySeries(images: DicomHeader[]): Map<string, DicomHeader[]> {
  const groups = new Map<string, DicomHeader[]>();
  for (const image of images) {
    const group = groups.get(image.seriesInstanceUid) ?? [];
    group.push(image);
    groups.set(image.seriesInstanceUid, group);
  }
  return groups;
}

function mostCommon<T>(values: T[], key: (value: T) => string): string {
  const counts = new Map<string, number>();
  for (const value of values) counts.set(key(value), (counts.get(key(value)) ?? 0) + 1);
  return [...counts.entries()].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))[0][0];
}

/**
 * Removes slices whose Rows × Columns or orientation differ from the majority of their
 * series: such slices are localizers or reformats stored under the same series.
 */
function dropOddSlices(root: string, slices: DicomHeader[], excludedFiles: ExcludedFile[]) {
  const matrix = mostCommon(slices, (slice) => `${slice.rows}x${slice.columns}`);
  const orientation = mostCommon(slices, (slice) => (slice.orientation ?? []).join('\\'))
    .split('\\')
    .map(Number);
  return slices.filter((slice) => {
    if (`${slice.rows}x${slice.columns}` !== matrix) {
      excludedFiles.push({
        file: relative(root, slice.file),
        reason: `Rows × Columns ${slice.rows} × ${slice.columns} differ from the series' ${matrix.replace('x', ' × ')} (localizer or reformat)`,
      });
      return false;
    }
    const sliceOrientation = slice.orientation ?? [];
    const differs =
      sliceOrientation.length !== orientation.length ||
      sliceOrientation.some(
        (value, index) => Math.abs(value - orientation[index]) > ORIENTATION_TOLERANCE,
      );
    if (differs) {
      excludedFiles.push({
        file: relative(root, slice.file),
        reason: `orientation ${sliceOrientation.join('\\')} differs from the series' majority (localizer or reformat)`,
      });
    }
    return !differs;
  });
}

/** Median distance between neighbouring slices along the slice normal; ranks series by thinness. */
function medianSliceDistance(slices: DicomHeader[]): number {
  const orientation = slices[0]?.orientation;
  if (slices.length < 2 || orientation?.length !== 6) return Infinity;
  const [r0, r1, r2, c0, c1, c2] = orientation;
  const normal = [r1 * c2 - r2 * c1, r2 * c0 - r0 * c2, r0 * c1 - r1 * c0];
  const positions = slices
    .map((slice) => slice.positionMm)
    .filter((position) => position !== undefined)
    .map((position) => position[0] * normal[0] + position[1] * normal[1] + position[2] * normal[2])
    .sort((a, b) => a - b);
  const gaps = positions.slice(1).map((value, index) => value - positions[index]);
  gaps.sort((a, b) => a - b);
  return gaps.length === 0 ? Infinity : gaps[Math.floor(gaps.length / 2)];
}

/**
 * Chooses the CT series to read from the DICOM files of a folder.
 *
 * Rule: the series with the most slices; ties go to the thinnest median slice distance, then
 * to the smallest SeriesInstanceUID in string order. Non-CT series, multi-frame objects next to
 * a single-frame series, localizers and slices with an odd matrix or orientation are listed in
 * `excludedFiles`. A missing Modality element is accepted as CT with a warning.
 *
 * @throws InputError `DICOM_NO_IMAGES`, `DICOM_NOT_CT` or `DICOM_MULTIFRAME`, and
 *   `DICOM_MULTIPLE_SERIES` for more than one CT series when `multipleSeries` is 'reject'.
 */
export function selectCtSeries(
  root: string,
  entries: Array<{ file: string; header: DicomHeader | undefined }>,
  label = root,
  multipleSeries: MultipleSeriesPolicy = 'most-slices',
): SeriesSelection {
  const { images, excludedFiles } = excludeNonImages(root, entries);
  const warnings: string[] = [];
  if (images.length === 0) {
    throw new InputError(
      'DICOM_NO_IMAGES',
      `No DICOM images found in ${label} (${entries.length} files checked). Point to the folder ` +
        'or .zip that contains the CT series.',
      { path: label, excludedFiles },
    );
  }

  const ctGroups: DicomHeader[][] = [];
  const otherModalities = new Set<string>();
  for (const group of groupBySeries(images).values()) {
    const modality = group[0].modality;
    if (modality === 'CT' || modality === '') {
      ctGroups.push(group);
      continue;
    }
    otherModalities.add(modality);
    for (const image of group) {
      excludedFiles.push({
        file: relative(root, image.file),
        reason: `modality ${modality}, not CT`,
      });
    }
  }
  if (ctGroups.length === 0) {
    const found = [...otherModalities].join(', ');
    throw new InputError(
      'DICOM_NOT_CT',
      `The DICOM series in ${label} have modality ${found}, not CT. Provide a CT series.`,
      { path: label, modalities: [...otherModalities] },
    );
  }

  const singleFrameGroups = ctGroups
    .map((group) => group.filter((image) => !isMultiframe(image)))
    .filter((group) => group.length > 0);
  if (singleFrameGroups.length === 0) {
    // NOTE: whether ITK-wasm places the frames of Enhanced CT correctly is unverified (no test
    // file), so such objects are rejected rather than read with possibly wrong spacing.
    throw new InputError(
      'DICOM_MULTIFRAME',
      `The CT images in ${label} are multi-frame (Enhanced CT or NumberOfFrames > 1), which this ` +
        'reader does not support. Export the series as one single-frame file per slice.',
      { path: label },
    );
  }
  for (const image of ctGroups.flat().filter(isMultiframe)) {
    excludedFiles.push({ file: relative(root, image.file), reason: 'multi-frame image' });
  }

  const candidates = singleFrameGroups.map((group) => dropOddSlices(root, group, excludedFiles));
  candidates.sort(
    (a, b) =>
      b.length - a.length ||
      medianSliceDistance(a) - medianSliceDistance(b) ||
      a[0].seriesInstanceUid.localeCompare(b[0].seriesInstanceUid),
  );
  if (candidates.length > 1 && multipleSeries === 'reject') {
    const sizes = candidates.map((group) => group.length).join(', ');
    throw new InputError(
      'DICOM_MULTIPLE_SERIES',
      `Found ${candidates.length} CT series in ${label} (${sizes} slices). Send the files of ` +
        'one series only, for example the one with the thinnest slices covering both lungs.',
      { path: label, seriesCount: candidates.length },
    );
  }
  const slices = candidates[0];
  const seriesInstanceUid = slices[0].seriesInstanceUid;
  if (candidates.length > 1) {
    warnings.push(
      `Found ${candidates.length} CT series; read ${seriesInstanceUid} with ${slices.length} ` +
        'slices, the series with the most slices.',
    );
  }
  if (slices[0].modality === '') {
    warnings.push(`Series ${seriesInstanceUid} has no Modality element; read it as CT.`);
  }
  return { seriesInstanceUid, seriesCount: candidates.length, slices, excludedFiles, warnings };
}

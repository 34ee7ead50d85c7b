import { describe, expect, it } from 'vitest';

import { InputError } from '../errors.ts';
import type { DicomHeader } from './dicom-header.ts';
import { ENHANCED_CT_SOP_CLASS, selectCtSeries } from './dicom-series.ts';

const ROOT = '/scan';
const CT_SOP_CLASS = '1.2.840.10008.5.1.4.1.1.2';

/** Builds the header of an axial CT slice at height `z` (mm) in series `series`. */
function slice(series: string, z: number, overrides: Partial<DicomHeader> = {}): DicomHeader {
  return {
    file: `${ROOT}/${series}-${z}.dcm`,
    sopClassUid: CT_SOP_CLASS,
    transferSyntaxUid: '1.2.840.10008.1.2.1',
    modality: 'CT',
    imageType: ['ORIGINAL', 'PRIMARY', 'AXIAL'],
    seriesInstanceUid: series,
    rows: 8,
    columns: 8,
    numberOfFrames: 1,
    positionMm: [0, 0, z],
    orientation: [1, 0, 0, 0, 1, 0],
    pixelSpacingMm: [1, 1],
    hasPixelData: true,
    pixelDataTruncated: false,
    ...overrides,
  };
}

function stack(series: string, count: number, stepMm: number): DicomHeader[] {
  return Array.from({ length: count }, (_, index) => slice(series, index * stepMm));
}

const entries = (headers: DicomHeader[]) =>
  headers.map((header) => ({ file: header.file, header }));

describe('selectCtSeries', () => {
  it('breaks a slice-count tie by thinner slices', () => {
    const selection = selectCtSeries(
      ROOT,
      entries([...stack('1.2.9', 5, 2), ...stack('1.2.10', 5, 1)]),
    );
    expect(selection.seriesInstanceUid).toBe('1.2.10');
    expect(selection.seriesCount).toBe(2);
  });

  it('BAD CALL - two series with reject policy', () => {
    const headers = entries([...stack('1.2.9', 5, 2), ...stack('1.2.10', 3, 1)]);
    let caught: unknown;
    try {
      selectCtSeries(ROOT, headers, 'the upload', 'reject');
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(InputError);
    expect((caught as InputError).code).toBe('DICOM_MULTIPLE_SERIES');
    expect((caught as InputError).message).toContain('Found 2 CT series in the upload');
  });

  it('breaks a full tie by the smaller UID', () => {
    const selection = selectCtSeries(
      ROOT,
      entries([...stack('1.2.9', 5, 1), ...stack('1.2.10', 5, 1)]),
    );
    expect(selection.seriesInstanceUid).toBe('1.2.10');
  });

  it('excludes a slice with another matrix', () => {
    const headers = [...stack('1.2.3', 5, 1), slice('1.2.3', 10, { rows: 4 })];
    const selection = selectCtSeries(ROOT, entries(headers));
    expect(selection.slices).toHaveLength(5);
    expect(selection.excludedFiles.map((entry) => entry.file)).toEqual(['1.2.3-10.dcm']);
  });

  it('excludes a multi-frame object beside a series', () => {
    const headers = [...stack('1.2.3', 5, 1), slice('1.2.4', 0, { numberOfFrames: 40 })];
    const selection = selectCtSeries(ROOT, entries(headers));
    expect(selection.seriesInstanceUid).toBe('1.2.3');
    expect(selection.excludedFiles.map((entry) => entry.reason)).toEqual(['multi-frame image']);
  });

  it('excludes other modalities beside CT', () => {
    const headers = [...stack('1.2.3', 5, 1), slice('1.2.4', 0, { modality: 'SR' })];
    const selection = selectCtSeries(ROOT, entries(headers));
    expect(selection.excludedFiles.map((entry) => entry.reason)).toEqual(['modality SR, not CT']);
  });

  it('accepts a missing Modality with a warning', () => {
    const headers = stack('1.2.3', 5, 1).map((header) => ({ ...header, modality: '' }));
    const selection = selectCtSeries(ROOT, entries(headers));
    expect(selection.slices).toHaveLength(5);
    expect(selection.warnings.join('\n')).toContain('no Modality');
  });

  it('BAD CALL - only enhanced CT objects', () => {
    const headers = [slice('1.2.3', 0, { sopClassUid: ENHANCED_CT_SOP_CLASS })];
    expect(() => selectCtSeries(ROOT, entries(headers))).toThrow(
      expect.objectContaining({ code: 'DICOM_MULTIFRAME' }),
    );
  });

  it('BAD CALL - no DICOM files', () => {
    const call = () => selectCtSeries(ROOT, [{ file: `${ROOT}/notes.txt`, header: undefined }]);
    expect(call).toThrow(InputError);
    expect(call).toThrow(expect.objectContaining({ code: 'DICOM_NO_IMAGES' }));
  });
});

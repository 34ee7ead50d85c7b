export {
  readScan,
  zipLimitsFor,
  type ReadScanOptions,
  type ReadScanResult,
} from './read-scan.ts';
export { checkZipArchive, type ZipArchiveSummary, type ZipLimits } from './zip.ts';
export type { ScanFormat } from './formats.ts';
export type { DicomSeriesInfo } from './read-dicom.ts';
export type { ExcludedFile } from './dicom-series.ts';
export { writeFloatVolume, writeLabelVolume, type VolumeGeometry } from './write-volume.ts';
export { DEFAULT_MAX_VOXELS, MAX_SPACING_MM, MIN_SLICES } from './volume-checks.ts';

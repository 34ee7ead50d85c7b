import {
  geometryJson,
  qctByRegion,
  type GridGeometryJson,
  type PreprocessScanResult,
  type QctMetrics,
} from '@dlco/preprocess';

/** The report `dlco inspect` prints, as one object with `--json`. */
export interface InspectReport {
  scan: { path: string; format: string; seriesInstanceUid?: string };
  /** Geometry of the scan as read (LPS, mm). */
  geometry: GridGeometryJson;
  /** Geometry of the isotropic working grid the measures come from. */
  workingGeometry: GridGeometryJson;
  warnings: string[];
  coverage: Record<string, unknown>;
  /**
   * Lung volume of the segmentation on the isotropic working grid, in mL. It is the volume in
   * predictions.csv (`lung_volume_ml`) and differs from `qct.whole.volumeMl`, which counts the
   * scan's native voxels.
   */
  lungVolumeMl: number;
  patchCount: number;
  droppedLungFraction: number;
  /** QCT measures on the scan's own grid, keyed by region (`whole`, `right`, `left`, zones). */
  qct: Record<string, QctMetrics>;
  /** Absolute path of the lung label file, when `--mask-out` was given. */
  maskOut?: string;
  timingsMs: Record<string, number>;
}

/** Collects the facts `dlco inspect` reports about a preprocessed scan. */
export function inspectReport(
  result: PreprocessScanResult,
  scanPath: string,
  maskOut: string | undefined,
): InspectReport {
  const scan: InspectReport['scan'] = { path: scanPath, format: result.read.format };
  if (result.read.dicom !== undefined) scan.seriesInstanceUid = result.read.dicom.seriesInstanceUid;
  const timingsMs = Object.fromEntries(
    Object.entries(result.timings).map(([step, ms]) => [step, Math.round(ms)]),
  );
  return {
    scan,
    geometry: geometryJson(result.working.source),
    workingGeometry: geometryJson(result.working.volume),
    warnings: result.warnings,
    coverage: { ...result.coverage },
    lungVolumeMl: result.patches.lungVolumeMl,
    patchCount: result.patches.count,
    droppedLungFraction: result.patches.droppedLungFraction,
    qct: qctByRegion(result.qct),
    ...(maskOut === undefined ? {} : { maskOut }),
    timingsMs,
  };
}

/** Formats the report as aligned text for a terminal. */
export function formatInspectText(report: InspectReport): string {
  const lines: string[] = [];
  const { geometry } = report;
  lines.push(`scan          ${report.scan.path} (${report.scan.format})`);
  if (report.scan.seriesInstanceUid !== undefined) {
    lines.push(`series UID    ${report.scan.seriesInstanceUid}`);
  }
  lines.push(`size          ${geometry.size.join(' x ')} voxels`);
  lines.push(
    `spacing       ${geometry.spacingMm.map((value) => formatNumber(value, 3)).join(' x ')} mm`,
  );
  lines.push(
    `origin        ${geometry.originMm.map((value) => formatNumber(value, 2)).join(', ')} mm (LPS)`,
  );
  lines.push(`direction     ${formatDirection(geometry.direction)}`);
  // The working grid is isotropic, so one spacing describes it.
  const workingSpacing = report.workingGeometry.spacingMm[0];
  lines.push(
    `lung volume   ${formatNumber(report.lungVolumeMl, 0)} mL (segmented on the ` +
      `${workingSpacing} mm working grid)`,
  );
  lines.push(`coverage      ${formatCoverage(report.coverage)}`);
  lines.push(
    `patches       ${report.patchCount} (${formatNumber(100 * report.droppedLungFraction, 1)}% of lung left out)`,
  );
  if (report.warnings.length === 0) lines.push('warnings      none');
  else lines.push('warnings');
  for (const warning of report.warnings) lines.push(`  - ${warning}`);
  if (report.maskOut !== undefined) lines.push(`lung labels   ${report.maskOut}`);
  lines.push('');
  lines.push(
    "QCT on the scan's own grid: each native voxel takes the label of the nearest working-grid",
    'voxel, so the volumes differ slightly from the lung volume above.',
  );
  lines.push(...formatQctTable(report.qct));
  return `${lines.join('\n')}\n`;
}

function formatCoverage(coverage: Record<string, unknown>): string {
  if (coverage.complete === true) return 'complete';
  const reasons = Array.isArray(coverage.reasons) ? coverage.reasons.join('; ') : '';
  return `INCOMPLETE${reasons === '' ? '' : `: ${reasons}`}`;
}

function formatDirection(direction: number[]): string {
  const rows = [0, 1, 2].map((row) =>
    direction
      .slice(3 * row, 3 * row + 3)
      .map((value) => formatNumber(value, 3))
      .join(' '),
  );
  return `[${rows.join(' | ')}]`;
}

/** Formats a number with fixed decimals, or `-` when it is missing or not finite. */
export function formatNumber(value: unknown, decimals: number): string {
  return typeof value === 'number' && Number.isFinite(value) ? value.toFixed(decimals) : '-';
}

/** QCT measure columns: header, field of `QctMetrics` and decimals. */
const QCT_COLUMNS = [
  { header: 'volume mL', field: 'volumeMl', decimals: 0 },
  { header: 'MLD HU', field: 'meanHu', decimals: 0 },
  { header: '%LAA-950', field: 'laa950Percent', decimals: 1 },
  { header: 'Perc15 HU', field: 'perc15Hu', decimals: 0 },
  { header: '%HAA', field: 'haaPercent', decimals: 1 },
] as const;

/**
 * Formats QCT regions as an aligned table, one row per region in the order given: whole lung,
 * right, left, then thirds, rind and core, and zones.
 */
export function formatQctTable(regions: Record<string, QctMetrics>): string[] {
  const table = [
    ['region', ...QCT_COLUMNS.map((column) => column.header)],
    ...Object.entries(regions).map(([name, metrics]) => [
      name === 'whole' ? 'whole lung' : name,
      ...QCT_COLUMNS.map((column) => formatNumber(metrics[column.field], column.decimals)),
    ]),
  ];
  const widths = table[0].map((_, column) => Math.max(...table.map((row) => row[column].length)));
  return table.map((row) =>
    row
      .map((cell, column) =>
        column === 0 ? cell.padEnd(widths[0]) : cell.padStart(widths[column]),
      )
      .join('  '),
  );
}

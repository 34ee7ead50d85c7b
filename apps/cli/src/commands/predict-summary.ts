import { RESEARCH_USE_NOTICE, type PredictionResult } from '@dlco/model';

const UNIT = 'ml/min/mmHg';

/**
 * Formats a prediction as the readable summary `dlco predict` prints: the estimate with its
 * interval, the GLI reference values, the zone table, the baseline and the model.
 *
 * @param outDir - folder the files were written to, or undefined when nothing was written
 */
export function formatPredictionSummary(result: PredictionResult, outDir?: string): string {
  const lines = [
    `DLCO from chest CT (${RESEARCH_USE_NOTICE.replace(/\.$/, '').toLowerCase()})`,
    `  Scan          ${result.input.fileName}`,
    ...estimateLines(result),
    '',
    ...zoneTable(result),
    '',
    ...lungVolumeLines(result),
    '',
    `Model: ${result.model.id} ${result.model.version}, trained on ${result.model.trainedOn}`,
  ];
  if (result.warnings.length > 0) {
    lines.push('', 'Warnings:', ...result.warnings.map((warning) => `  - ${warning}`));
  }
  if (outDir !== undefined) {
    const files = ['result.json', ...Object.values(result.maps).map((map) => map.file)];
    lines.push('', `Written to ${outDir}: ${files.join(', ')}`);
  }
  lines.push('', RESEARCH_USE_NOTICE);
  return `${lines.join('\n')}\n`;
}

function estimateLines(result: PredictionResult): string[] {
  const { dlco, baseline } = result;
  const coverage = Math.round(100 * dlco.intervalCoverage);
  const reference = referenceLabel(result);
  const lines = [
    `  Estimate      ${fixed(dlco.estimate)} ${UNIT} (${coverage} % interval ${fixed(dlco.lower)} to ${fixed(dlco.upper)})`,
    `  Predicted     ${orDash(dlco.predicted)} ${UNIT} (${reference})`,
    `  LLN           ${orDash(dlco.lln)} ${UNIT}`,
    `  % predicted   ${orDash(dlco.percentPredicted, 1)} %`,
    `  z-score       ${orDash(dlco.zScore)}${belowLln(result) ? ' (below the lower limit of normal)' : ''}`,
  ];
  if (baseline !== null) {
    const value =
      baseline.estimateMlMinMmHg === null
        ? `not available (missing ${baseline.missing.join(', ')})`
        : `${fixed(baseline.estimateMlMinMmHg)} ${UNIT}`;
    lines.push(`  Baseline      ${value} (linear model on whole-lung QCT and demographics)`);
  }
  return lines;
}

function referenceLabel(result: PredictionResult): string {
  const { predicted, reference } = result.dlco;
  if (predicted === null) return 'no GLI 2017 reference for this subject, see Warnings';
  if (reference.hbCorrected) return `GLI 2017, Hb-corrected for ${reference.hbGdl} g/dL`;
  return 'GLI 2017, not Hb-corrected: no --hb given';
}

function zoneTable(result: PredictionResult): string[] {
  const withShapley = result.regions.some((region) => region.shapleyMlMinMmHg !== undefined);
  const header = ['Zone', 'Lung mL', 'Contribution', 'Expected', 'Deficit'];
  if (withShapley) header.push('Shapley');
  const rows = result.regions.map((region) => {
    const row = [
      region.zone,
      region.lungVolumeMl.toFixed(0),
      fixed(region.contributionMlMinMmHg),
      orDash(region.expectedMlMinMmHg),
      orDash(region.deficitMlMinMmHg),
    ];
    if (withShapley) row.push(orDash(region.shapleyMlMinMmHg ?? null));
    return row;
  });
  const total = ['total', sumOf(result, 'lungVolumeMl').toFixed(0), fixed(result.dlco.estimate)];
  total.push(orDash(result.dlco.predicted), orDash(result.deficit.totalMlMinMmHg));
  if (withShapley) total.push('');

  const table = [header, ...rows, total];
  const widths = header.map((_, column) => Math.max(...table.map((row) => row[column].length)));
  const format = (row: string[]) =>
    row
      .map((cell, column) =>
        column === 0 ? cell.padEnd(widths[column]) : cell.padStart(widths[column]),
      )
      .join('  ')
      .trimEnd();
  return [
    `Zones (${UNIT}; deficit = expected share of predicted - contribution;`,
    "  Lung mL = lung inside the zone's patches on the working grid)",
    ...table.map(format),
  ];
}

/**
 * Labels the lung volumes a user meets for one scan, which differ because each counts another
 * thing on another grid.
 */
function lungVolumeLines(result: PredictionResult): string[] {
  const { preprocessing, qct } = result;
  const spacing = preprocessing.params.workingSpacingMm;
  const inPatches = sumOf(result, 'lungVolumeMl');
  const outside = formatPercent(100 * preprocessing.droppedLungFraction);
  const rows = [
    [
      `segmented, ${spacing} mm working grid`,
      preprocessing.lungVolumeMl.toFixed(0),
      'inspect "lung volume", predictions.csv lung_volume_ml',
    ],
    [`inside patches`, inPatches.toFixed(0), `zone total above; ${outside} % lies in no patch`],
  ];
  if (qct?.wholeLung != null) {
    rows.push([
      'QCT, scan grid',
      qct.wholeLung.volumeMl.toFixed(0),
      'inspect QCT "whole lung", same labels on the native voxels',
    ]);
  }
  const labelWidth = Math.max(...rows.map((row) => row[0].length));
  const valueWidth = Math.max(...rows.map((row) => row[1].length));
  return [
    'Lung volume (mL)',
    ...rows.map(
      ([label, value, note]) =>
        `  ${label.padEnd(labelWidth)}  ${value.padStart(valueWidth)}  (${note})`,
    ),
  ];
}

function formatPercent(value: number): string {
  return value.toFixed(1);
}

function belowLln(result: PredictionResult): boolean {
  return result.dlco.lln !== null && result.dlco.estimate < result.dlco.lln;
}

function sumOf(result: PredictionResult, field: 'lungVolumeMl'): number {
  return result.regions.reduce((total, region) => total + region[field], 0);
}

function fixed(value: number, digits = 2): string {
  return value.toFixed(digits);
}

function orDash(value: number | null, digits = 2): string {
  return value === null ? '-' : fixed(value, digits);
}

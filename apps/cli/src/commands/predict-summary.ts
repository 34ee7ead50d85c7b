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
  const reference = dlco.reference.hbCorrected
    ? `GLI 2017, Hb-corrected for ${dlco.reference.hbGdl} g/dL`
    : 'GLI 2017, not Hb-corrected';
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
    `Zones (${UNIT}; deficit = expected share of predicted - contribution)`,
    ...table.map(format),
  ];
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

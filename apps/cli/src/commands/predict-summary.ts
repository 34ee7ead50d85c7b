import { MODEL_DEFICIT_DEFINITION, RESEARCH_USE_NOTICE, type PredictionResult } from '@dlco/model';

const UNIT = 'ml/min/mmHg';

/** Explains why the Shapley column differs from the deficit in sign and size. */
const SHAPLEY_FOOTNOTE = [
  "Shapley = the zone's Shapley value against the healthy reference patch: how much the zone's",
  '  patches change the estimate compared with the reference patch in their place (negative =',
  '  the zone lowers the estimate). A loss shows as a positive deficit and a negative Shapley',
  '  value. Their sizes differ because the deficit counts every difference from the healthy',
  '  expectation, not only the change against healthy-looking tissue.',
];

/** Returns whether the result's expected and deficit come from the model's `expected` output. */
function hasModelDeficits(result: PredictionResult): boolean {
  return result.deficit.definition === MODEL_DEFICIT_DEFINITION;
}

/**
 * Formats a prediction as the readable summary `dlco predict` prints: the estimate with its
 * interval, the GLI reference values, the zone table, the baseline and the model.
 *
 * @param outDir - folder the files were written to, or undefined when nothing was written
 * @param extraFiles - files written besides result.json and the maps, such as overlay.png
 */
export function formatPredictionSummary(
  result: PredictionResult,
  outDir?: string,
  extraFiles: readonly string[] = [],
): string {
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
    const files = [
      'result.json',
      ...Object.values(result.maps).map((map) => map.file),
      ...extraFiles,
    ];
    lines.push('', `Written to ${outDir}: ${files.join(', ')}`);
  }
  lines.push('', RESEARCH_USE_NOTICE);
  return `${lines.join('\n')}\n`;
}

function estimateLines(result: PredictionResult): string[] {
  const { dlco, baseline } = result;
  const coverage = Math.round(100 * dlco.intervalCoverage);
  const reference = referenceLabel(result);
  const heldOut = heldOutLabel(result);
  const lines = [
    `  Estimate      ${fixed(dlco.estimate)} ${UNIT} (nominal ${coverage} % interval ` +
      `${fixed(dlco.lower)} to ${fixed(dlco.upper)}${heldOut.coverage})`,
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
  if (heldOut.mae !== '') lines.push(`  ${heldOut.mae}`);
  return lines;
}

/**
 * Labels the held-out coverage of the interval and the held-out MAEs of the model and the
 * baseline, from the model card's test split (the val split when the card has no test split).
 */
function heldOutLabel(result: PredictionResult): { coverage: string; mae: string } {
  const metrics = result.model.heldOutMetrics;
  const split = metrics?.test !== undefined ? 'test' : 'val';
  const entry = metrics?.[split];
  if (entry === undefined) {
    return { coverage: '; held-out coverage not reported in the model card', mae: '' };
  }
  const coverage =
    entry.coverage95 === null
      ? '; held-out coverage not reported in the model card'
      : `; held-out coverage ${Math.round(100 * entry.coverage95)} %`;
  const maes: string[] = [];
  if (entry.modelMaeMlMinMmHg !== null) maes.push(`model ${fixed(entry.modelMaeMlMinMmHg)}`);
  if (entry.baselineMaeMlMinMmHg !== null) {
    maes.push(`baseline ${fixed(entry.baselineMaeMlMinMmHg)}`);
  }
  const scans = entry.n === null ? '' : `, ${entry.n} ${split} scans`;
  const mae =
    maes.length === 0 ? '' : `Held-out MAE: ${maes.join(', ')} ${UNIT} (model card${scans})`;
  return { coverage, mae };
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
  total.push(orDash(totalExpected(result)), orDash(result.deficit.totalMlMinMmHg));
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
  const expected = hasModelDeficits(result)
    ? "expected = the model's healthy contribution of the zone's patches"
    : "expected = the zone's lung-volume share of predicted";
  const lines = [
    `Zones (${UNIT}; deficit = expected - contribution;`,
    `  ${expected};`,
    "  Lung mL = lung inside the zone's patches on the working grid)",
    ...table.map(format),
  ];
  if (withShapley) lines.push(...SHAPLEY_FOOTNOTE);
  return lines;
}

/**
 * Returns the expected total of the zone table: the predicted DLCO for lung-volume shares, and the
 * sum of the zones' expected values when they come from the model, whose sum differs from it.
 */
function totalExpected(result: PredictionResult): number | null {
  if (!hasModelDeficits(result)) return result.dlco.predicted;
  let total = 0;
  for (const region of result.regions) {
    if (region.expectedMlMinMmHg === null) return null;
    total += region.expectedMlMinMmHg;
  }
  return total;
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

import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

import type { EvaluationReport } from '../evaluate.ts';
import type { ExampleMap } from './example-map.ts';
import { escapeHtml, formatNumber } from './html-format.ts';
import { reportCharts } from './report-charts.ts';
import { faithfulnessTablesHtml } from './report-faithfulness.ts';
import {
  calibrationTables,
  classificationTable,
  comparisonsTable,
  overallTable,
  strataTable,
} from './report-tables.ts';

/** Notice at the top of every report and in its title. */
export const RESEARCH_USE_NOTICE = 'Research use, not diagnosis.';

/** A UMD build that the report inlines, with its package version for the footer. */
interface InlineScript {
  readonly name: string;
  readonly version: string;
  readonly source: string;
}

let cachedScripts: readonly InlineScript[] | null = null;

/**
 * Reads the minified UMD builds of vega and vega-embed from node_modules. The packages export
 * only their ES modules, so the build folder is found from the resolved main entry.
 */
function inlineScripts(): readonly InlineScript[] {
  if (cachedScripts !== null) return cachedScripts;
  const require = createRequire(import.meta.url);
  const read = (name: string, file: string): InlineScript => {
    const buildDir = dirname(require.resolve(name));
    const manifest = JSON.parse(readFileSync(join(buildDir, '..', 'package.json'), 'utf8'));
    const source = readFileSync(join(buildDir, file), 'utf8');
    // A closing script tag inside the source would end the inline script early.
    if (/<\/script/i.test(source)) {
      throw new Error(`${name}/build/${file} contains a closing script tag and cannot be inlined`);
    }
    return { name, version: manifest.version as string, source };
  };
  cachedScripts = [read('vega', 'vega.min.js'), read('vega-embed', 'vega-embed.min.js')];
  return cachedScripts;
}

/** Serialises JSON for a script element, escaping `<` so that no text can close the element. */
function scriptJson(value: unknown): string {
  const json = JSON.stringify(value, (_key, item) =>
    typeof item === 'number' && !Number.isFinite(item) ? null : item,
  );
  return json.replace(/</g, '\\u003c');
}

/** Only inline scripts, styles and data: images may load, so the page reaches no network. */
const CONTENT_SECURITY_POLICY =
  "default-src 'none'; script-src 'unsafe-inline' 'unsafe-eval'; " +
  "style-src 'unsafe-inline'; img-src data: blob:";

const STYLE = `
body { font: 14px/1.45 system-ui, sans-serif; color: #222; margin: 0 auto; max-width: 1100px; padding: 0 24px 48px; }
header { border-bottom: 2px solid #ddd; margin-bottom: 16px; }
.notice { display: inline-block; background: #fff3cd; border: 1px solid #e0c36b; padding: 4px 10px; font-weight: 600; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: 2px 16px; }
dl.facts dt { font-weight: 600; }
dl.facts dd { margin: 0; }
nav a { margin-right: 12px; }
table { border-collapse: collapse; margin: 8px 0 16px; font-variant-numeric: tabular-nums; }
.table-scroll { overflow-x: auto; max-width: 100%; }
th, td { border: 1px solid #ddd; padding: 3px 8px; text-align: left; vertical-align: top; }
thead th { background: #f4f4f4; }
.plots { display: flex; flex-wrap: wrap; gap: 24px; }
.plot { min-height: 120px; }
figure img { max-width: 100%; border: 1px solid #ddd; }
figcaption { color: #444; margin-top: 4px; }
.missing { color: #8a5a00; }
footer { margin-top: 32px; color: #666; font-size: 12px; }
`;

/** Options of {@link renderReportHtml}. */
export interface ReportHtmlOptions {
  /**
   * Regional map of one subject, or the reason that none is shown. Without it, the report
   * states that no example map was requested.
   */
  readonly example?: ExampleMap;
}

function modelsText(report: EvaluationReport): string {
  const named = report.models.filter((model) => model.id !== '' || model.version !== '');
  if (named.length === 0) return 'not named (predictions.csv has no model_id or model_version)';
  return named
    .map(
      (model) =>
        `${model.id} ${model.version}`.trim() +
        (report.models.length > 1 ? ` (${model.n} subjects)` : ''),
    )
    .join('; ');
}

function headerHtml(report: EvaluationReport): string {
  const { subjects } = report;
  const facts: [string, string][] = [
    ['Model', modelsText(report)],
    [
      'Subjects',
      `${report.n} evaluated; ${subjects.failed.length} failed predictions, ` +
        `${subjects.labelsOnly.length} labels without prediction, ` +
        `${subjects.predictionsOnly.length} predictions without label`,
    ],
    [
      'Bootstrap',
      `95 % percentile intervals from ${report.resamples} resamples of subjects, seed ${report.seed}`,
    ],
    ['Minimum stratum size', String(report.minStratumSize)],
    ['Predictions', report.inputs.predictions],
    ['Labels', report.inputs.labels],
  ];
  if (report.inputs.other !== undefined) facts.push(['Compared file', report.inputs.other]);
  const list = facts
    .map(([term, text]) => `<dt>${escapeHtml(term)}</dt><dd>${escapeHtml(text)}</dd>`)
    .join('\n');
  return (
    `<header>\n<h1>DLCO evaluation report</h1>\n<p class="notice">${RESEARCH_USE_NOTICE}</p>\n` +
    `<dl class="facts">\n${list}\n</dl>\n</header>`
  );
}

function exampleHtml(example: ExampleMap | undefined): string {
  if (example === undefined) {
    return '<p class="missing">No example map was requested.</p>';
  }
  if (example.kind === 'missing') {
    return `<p class="missing">${escapeHtml(example.message)}</p>`;
  }
  const { point } = example;
  const model = example.model === '' ? 'model not named' : `model ${example.model}`;
  const reference = point.predicted === null ? '' : `, reference ${formatNumber(point.predicted)}`;
  const imageSource = example.rendered
    ? `Rendered from the map.nii.gz of ${example.path}, which has no overlay.png`
    : `Image: ${example.path}`;
  const caption =
    `Subject ${example.id}, ${model} (${example.reason}): estimate ${formatNumber(point.estimate)}, ` +
    `measured ${formatNumber(point.measured)}${reference} ml/min/mmHg. ${imageSource}.`;
  const source = `data:image/png;base64,${example.png.toString('base64')}`;
  return (
    `<figure>\n<img id="example-map" alt="${escapeHtml(`Regional DLCO map of subject ${example.id}`)}" ` +
    `src="${source}">\n<figcaption>${escapeHtml(caption)}</figcaption>\n</figure>`
  );
}

function faithfulnessHtml(report: EvaluationReport, hasPlot: boolean): string {
  if (report.faithfulness === undefined) return '';
  const figure = hasPlot
    ? plot('plot-faithfulness', 'Faithfulness per phenotype and explanation method')
    : '';
  return (
    '<section id="faithfulness">\n<h2>Explanation faithfulness</h2>\n' +
    `${faithfulnessTablesHtml(report.faithfulness)}\n${figure}\n</section>`
  );
}

function subjectsHtml(report: EvaluationReport): string {
  const { failed, labelsOnly, predictionsOnly, duplicatePredictionIds } = report.subjects;
  const list = (title: string, ids: readonly string[]) =>
    ids.length === 0 ? '' : `<p>${escapeHtml(title)}: ${escapeHtml(ids.join(', '))}</p>`;
  const failedList =
    failed.length === 0
      ? '<p>No failed predictions.</p>'
      : `<ul>${failed.map((subject) => `<li>${escapeHtml(`${subject.id}: ${subject.error}`)}</li>`).join('')}</ul>`;
  const warnings =
    report.warnings.length === 0
      ? ''
      : `<h3>Input warnings</h3>\n<ul class="warnings">${report.warnings
          .map((warning) => `<li>${escapeHtml(warning)}</li>`)
          .join('')}</ul>`;
  return [
    failedList,
    warnings,
    list('Labels without prediction', labelsOnly),
    list('Predictions without label', predictionsOnly),
    list('Ids with several prediction rows (the last was used)', duplicatePredictionIds),
  ].join('\n');
}

function plot(id: string, title: string): string {
  return `<div class="plot-box"><h3>${escapeHtml(title)}</h3><div class="plot" id="${id}"></div></div>`;
}

/**
 * Renders the evaluation as one self-contained HTML page: header, tables and plots drawn by
 * Vega from specs compiled with Vega-Lite. Vega and vega-embed are inlined and the page's
 * content security policy allows no network request, so it opens offline from a single file.
 * When the plots have rendered, the body gets `data-plots="rendered"`, or `"failed"` with the
 * error in the console.
 */
export function renderReportHtml(
  report: EvaluationReport,
  options: ReportHtmlOptions = {},
): string {
  const charts = reportCharts(report);
  const scripts = inlineScripts();
  const hasFaithfulness = report.faithfulness !== undefined;
  const navigation = [
    ['overall', 'Overall'],
    ['agreement', 'Agreement'],
    ['calibration', 'Calibration'],
    ['classification', 'Impairment'],
    ['strata', 'Strata'],
    ['comparisons', 'Comparisons'],
    ...(hasFaithfulness ? [['faithfulness', 'Faithfulness']] : []),
    ['example', 'Example map'],
    ['subjects', 'Subjects'],
  ]
    .map(([id, title]) => `<a href="#${id}">${title}</a>`)
    .join('');
  const forest = 'plot-forest' in charts ? plot('plot-forest', 'MAE per stratum level') : '';
  const libraries = scripts.map((script) => `${script.name} ${script.version}`).join(', ');
  const title = `DLCO evaluation, ${modelsText(report)}. ${RESEARCH_USE_NOTICE}`;

  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="${CONTENT_SECURITY_POLICY}">
<title>${escapeHtml(title)}</title>
<style>${STYLE}</style>
</head>
<body>
${headerHtml(report)}
<nav>${navigation}</nav>
<section id="overall">
<h2>Overall agreement</h2>
<p>Errors are estimate minus measured, in ml/min/mmHg.</p>
${overallTable(report)}
</section>
<section id="agreement">
<h2>Estimated against measured</h2>
<div class="plots">
${plot('plot-scatter', 'Estimated against measured (dashed: identity)')}
${plot('plot-bland-altman', 'Bland-Altman: bias and 95 % limits of agreement')}
</div>
</section>
<section id="calibration">
<h2>Calibration</h2>
<p>Least-squares line of measured DLCO on the estimate (slope 1 and intercept 0 when
calibrated), and mean measured against mean estimate in equal-count bins of the estimate.</p>
<div class="plots">
${plot('plot-calibration', 'Binned calibration (dashed: identity, orange: fitted line)')}
<div>${calibrationTables(report)}</div>
</div>
</section>
<section id="classification">
<h2>Impairment classification</h2>
${classificationTable(report)}
</section>
<section id="strata">
<h2>Strata</h2>
${forest}
${strataTable(report)}
</section>
<section id="comparisons">
<h2>Comparisons (MAE, ml/min/mmHg)</h2>
${comparisonsTable(report)}
</section>
${faithfulnessHtml(report, 'plot-faithfulness' in charts)}
<section id="example">
<h2>Example map</h2>
${exampleHtml(options.example)}
</section>
<section id="subjects">
<h2>Subjects left out</h2>
${subjectsHtml(report)}
</section>
<footer>Written by dlco eval. Plots: ${escapeHtml(libraries)}, inlined. ${RESEARCH_USE_NOTICE}</footer>
<script id="dlco-charts" type="application/json">${scriptJson(charts)}</script>
${scripts.map((script) => `<script>${script.source}</script>`).join('\n')}
<script>
(function () {
  var charts = JSON.parse(document.getElementById('dlco-charts').textContent);
  var options = {
    mode: 'vega',
    renderer: 'svg',
    actions: { export: true, source: false, compiled: false, editor: false }
  };
  Promise.all(Object.keys(charts).map(function (id) {
    return vegaEmbed('#' + id, charts[id], options);
  })).then(function () {
    document.body.setAttribute('data-plots', 'rendered');
  }, function (error) {
    document.body.setAttribute('data-plots', 'failed');
    console.error(error);
  });
})();
</script>
</body>
</html>
`;
}

import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

import { launchChromium, type Browser, type Page } from '@dlco/browser-testing';
import { writeFloatVolume, writeLabelVolume } from '@dlco/preprocess';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { evaluatePredictions, type EvaluationReport } from '../evaluate.ts';
import type { FaithfulnessReport } from '../faithfulness.ts';
import { createRandom } from '../random.ts';
import { readLabelsFile } from '../read-labels.ts';
import { readPredictionsFile } from '../read-predictions.ts';
import { EVALUATION_FILES, writeEvaluation } from '../write-evaluation.ts';
import { exampleCandidates, findExampleMap, type ExampleMap } from './example-map.ts';
import { CHART_MARKS } from './report-charts.ts';
import { renderReportHtml } from './report-html.ts';
import { faithfulnessPointsMark } from './report-faithfulness.ts';
import { RESULT_MAP_UNIT } from './render-result-map.ts';

const workDir = mkdtempSync(join(tmpdir(), 'dlco-eval-report-'));
const SUBJECTS = 36;
const PHENOTYPES = ['normal', 'emphysema', 'fibrosis'];
/** The subject with the largest reference-minus-estimate deficit in the cohort below. */
const DEFICIT_ID = 's7';
const EXAMPLE_SIZE = { width: 48, height: 32 };

/**
 * Writes a batch-like output folder: predictions.csv with intervals and model columns, a label
 * manifest with phenotype, sex, age, height and a site column whose level B has 4 subjects, and
 * the map image of DEFICIT_ID in its result folder.
 */
function writeCohort(dir: string, overlay: Buffer | null): { predictions: string; labels: string } {
  const random = createRandom(31);
  const predictions = [
    'id,estimate,lower,upper,predicted,baseline_estimate,unit,model_id,model_version,status,error',
  ];
  const labels = ['id,dlco,age,sex,height_cm,phenotype,site'];
  for (let i = 0; i < SUBJECTS; i++) {
    const id = `s${i}`;
    const measured = 12 + 18 * random();
    const estimate = i === 7 ? 6 : measured + 5 * (random() - 0.5);
    predictions.push(
      `${id},${estimate.toFixed(2)},${(estimate - 4).toFixed(2)},${(estimate + 4).toFixed(2)},` +
        `28,${(measured + 8 * (random() - 0.5)).toFixed(2)},ml/min/mmHg,dlco-test,1.2.3,ok,`,
    );
    labels.push(
      `${id},${measured.toFixed(2)},${40 + (i % 30)},${i % 2 === 0 ? 'F' : 'M'},170,` +
        `${PHENOTYPES[i % 3]},${i < 4 ? 'B' : 'A'}`,
    );
  }
  mkdirSync(dir, { recursive: true });
  const paths = { predictions: join(dir, 'predictions.csv'), labels: join(dir, 'labels.csv') };
  writeFileSync(paths.predictions, `${predictions.join('\n')}\n`);
  writeFileSync(paths.labels, `${labels.join('\n')}\n`);
  if (overlay !== null) {
    mkdirSync(join(dir, DEFICIT_ID));
    writeFileSync(join(dir, DEFICIT_ID, 'overlay.png'), overlay);
  }
  return paths;
}

const FAITHFULNESS: FaithfulnessReport = {
  resultsDir: 'results',
  methods: ['occlusion', 'gradient'],
  lesionLabels: [2, 3],
  overallExcludes: ['vascular'],
  subjects: { evaluated: 12, missingResults: ['s3'], missingTruth: [], withoutTruthPath: [] },
  warnings: [],
  // Every group has its own estimates, so a panel that draws another panel's or another
  // group's points is caught.
  groups: ['emphysema', 'all'].flatMap((phenotype, phenotypeIndex) =>
    ['occlusion', 'gradient'].map((method, methodIndex) => ({
      phenotype,
      method,
      metrics: {
        zoneSpearman: {
          estimate: 0.6 + 0.02 * phenotypeIndex + 0.01 * methodIndex,
          lower: 0.4,
          upper: 0.8,
          undefinedResamples: 0,
          statistic: 'median' as const,
          n: 6,
          nUndefined: 0,
          nMissing: 0,
        },
        pointingGame: {
          estimate: 0.3 + 0.02 * phenotypeIndex + 0.01 * methodIndex,
          lower: 0.2,
          upper: 0.8,
          undefinedResamples: 0,
          statistic: 'mean' as const,
          n: 6,
          nUndefined: 0,
          nMissing: 0,
        },
      },
    })),
  ),
  perSubject: [],
};

interface OpenedReport {
  page: Page;
  /** Every URL the page requested, the report itself included. */
  requests: string[];
  consoleErrors: string[];
}

let browser: Browser;
beforeAll(async () => {
  browser = await launchChromium();
});
afterAll(async () => {
  await browser?.close();
  rmSync(workDir, { recursive: true, force: true });
});

/** Opens report.html, aborting any request but the file itself, and waits for the plots. */
async function openReport(path: string): Promise<OpenedReport> {
  const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
  const opened: OpenedReport = { page, requests: [], consoleErrors: [] };
  const ownUrl = pathToFileURL(path).href;
  await page.route('**/*', (route) => {
    const url = route.request().url();
    opened.requests.push(url);
    return url === ownUrl ? route.continue() : route.abort();
  });
  page.on('console', (message) => {
    if (message.type() === 'error') opened.consoleErrors.push(message.text());
  });
  page.on('pageerror', (error) => opened.consoleErrors.push(error.message));
  await page.goto(ownUrl);
  await page.waitForSelector('body[data-plots]', { timeout: 30_000 });
  return opened;
}

/** Renders a solid PNG of EXAMPLE_SIZE in the browser, standing in for a batch overlay. */
async function overlayPng(): Promise<Buffer> {
  const page = await browser.newPage({ viewport: EXAMPLE_SIZE });
  await page.setContent('<body style="margin:0;background:#c33"></body>');
  const png = await page.screenshot({ type: 'png' });
  await page.close();
  return png;
}

describe('report.html', () => {
  const batchDir = join(workDir, 'batch');
  const outDir = join(workDir, 'eval');
  let report: EvaluationReport;
  let opened: OpenedReport;

  beforeAll(async () => {
    const paths = writeCohort(batchDir, await overlayPng());
    const predictions = await readPredictionsFile(paths.predictions);
    const labels = await readLabelsFile(paths.labels);
    report = evaluatePredictions(predictions, labels, {
      resamples: 200,
      seed: 3,
      strata: ['site'],
    });
    report = { ...report, faithfulness: FAITHFULNESS };
    const example = await findExampleMap(batchDir, report);
    await writeEvaluation(report, outDir, { example });
    opened = await openReport(join(outDir, EVALUATION_FILES.report));
    const screenshot = process.env.DLCO_REPORT_SCREENSHOT;
    if (screenshot) await opened.page.screenshot({ path: screenshot, fullPage: true });
  });

  it('plots render without errors', async () => {
    expect(await opened.page.getAttribute('body', 'data-plots')).toBe('rendered');
    expect(opened.consoleErrors).toEqual([]);
  });

  it('makes no request but the file', () => {
    expect(opened.requests).toEqual([pathToFileURL(join(outDir, EVALUATION_FILES.report)).href]);
  });

  it('scatter has one point per subject', async () => {
    const points = opened.page.locator(`#plot-scatter g.${CHART_MARKS.scatterPoints} path`);
    expect(await points.count()).toBe(SUBJECTS);
    expect(
      await opened.page.locator(`#plot-scatter g.${CHART_MARKS.identityLine} path`).count(),
    ).toBe(1);
    // Three phenotypes give a colour legend with three entries.
    const legend = await opened.page.locator('#plot-scatter g.role-legend').innerHTML();
    for (const phenotype of PHENOTYPES) expect(legend).toContain(phenotype);
  });

  it('Bland-Altman has points and three lines', async () => {
    const page = opened.page;
    expect(await page.locator(`g.${CHART_MARKS.blandAltmanPoints} path`).count()).toBe(SUBJECTS);
    expect(await page.locator(`g.${CHART_MARKS.blandAltmanLines} line`).count()).toBe(3);
    const text = await page.locator('#plot-bland-altman').innerHTML();
    expect(text).toContain(`bias ${report.overall.bias.estimate.toFixed(2)}`);
  });

  it('forest plot has every stratum level', async () => {
    const levels = report.strata.flatMap((stratum) => stratum.levels);
    const page = opened.page;
    expect(levels.length).toBeGreaterThan(4);
    expect(await page.locator(`g.${CHART_MARKS.forestPoints} path`).count()).toBe(levels.length);
    expect(await page.locator(`g.${CHART_MARKS.forestIntervals} line`).count()).toBe(levels.length);
    // Site B has 4 subjects, under the minimum of 10, so the legend names the flag.
    const legend = page.locator('#plot-forest g.role-legend');
    expect(await legend.count()).toBe(1);
    expect(await legend.innerHTML()).toContain('too small (n &lt; 10)');
  });

  it('calibration plot has a point per bin', async () => {
    expect(report.calibration.bins).toHaveLength(10);
    const bins = opened.page.locator(`#plot-calibration g.${CHART_MARKS.calibrationBins} path`);
    expect(await bins.count()).toBe(10);
  });

  it('faithfulness table and plot', async () => {
    const page = opened.page;
    const panels = ['zoneSpearman', 'pointingGame'] as const;
    for (const [panel, metric] of panels.entries()) {
      const points = page.locator(`g.${faithfulnessPointsMark(panel)} path`);
      expect(await points.count()).toBe(4);
      const labels = await points.evaluateAll((paths) =>
        paths.map((path) => path.getAttribute('aria-label') ?? ''),
      );
      const drawn = labels.map((label) => ({
        metric: /Metric: ([^;]+)/.exec(label)?.[1],
        group: `${/Method: ([^;]+)/.exec(label)?.[1]}/${/Phenotype: ([^;]+)/.exec(label)?.[1]}`,
        estimate: Number(/Estimate: ([^;]+)/.exec(label)?.[1]),
      }));
      const expected = FAITHFULNESS.groups.map((group) => ({
        metric: `${metric} (${group.metrics[metric]!.statistic})`,
        group: `${group.method}/${group.phenotype}`,
        estimate: Number(group.metrics[metric]!.estimate.toFixed(3)),
      }));
      const byGroup = (a: { group: string }, b: { group: string }) =>
        a.group.localeCompare(b.group);
      expect(drawn.sort(byGroup)).toEqual(expected.sort(byGroup));
    }

    const section = await page.locator('#faithfulness').innerText();
    expect(section).toContain('zoneSpearman');
    expect(section).toContain('0.600 [0.400, 0.800] (median, n 6)');
    expect(section).toContain('0.330 [0.200, 0.800] (mean, n 6)');
    expect(section).toContain('Left out without result.json: s3');
    const tableBox = page.locator('#faithfulness table').locator('xpath=..');
    expect(await tableBox.evaluate((element) => getComputedStyle(element).overflowX)).toBe('auto');
    const pageWidth = await page.evaluate(() => document.documentElement.scrollWidth);
    expect(pageWidth).toBeLessThanOrEqual(1200);
  });

  it('lists input warnings escaped', () => {
    const html = renderReportHtml({ ...report, warnings: ['labels.csv: <b>odd</b> values'] });
    expect(html).toContain('<h3>Input warnings</h3>');
    expect(html).toContain('<li>labels.csv: &lt;b&gt;odd&lt;/b&gt; values</li>');
  });

  it('header names model, subjects and bootstrap', async () => {
    const header = await opened.page.locator('header').innerText();
    expect(header).toContain('Research use, not diagnosis.');
    expect(header).toContain('dlco-test 1.2.3');
    expect(header).toContain(`${SUBJECTS} evaluated`);
    expect(header).toContain('200 resamples of subjects, seed 3');
  });

  it('example map is the largest deficit', async () => {
    const image = opened.page.locator('#example-map');
    const size = await image.evaluate((element: HTMLImageElement) => [
      element.naturalWidth,
      element.naturalHeight,
    ]);
    expect(size).toEqual([EXAMPLE_SIZE.width, EXAMPLE_SIZE.height]);
    expect(await image.getAttribute('src')).toMatch(/^data:image\/png;base64,/);
    const caption = await opened.page.locator('#example figcaption').innerText();
    expect(caption).toContain(`Subject ${DEFICIT_ID}, model dlco-test 1.2.3`);
  });

  it('tables show calibration and strata', async () => {
    const calibration = await opened.page.locator('#calibration').innerText();
    expect(calibration).toContain('Slope of measured on estimate');
    expect(calibration).toContain('Coverage of the lower-upper prediction interval');
    const strata = await opened.page.locator('#strata').innerText();
    expect(strata).toMatch(/site\s+B\s+4/);
    expect(strata).toContain('too small (n < 10)');
    const comparisons = await opened.page.locator('#comparisons').innerText();
    expect(comparisons).toContain('baseline_estimate');
  });

  it('metrics.json leaves out per-subject points', () => {
    const metrics = JSON.parse(readFileSync(join(outDir, EVALUATION_FILES.metrics), 'utf8'));
    expect(metrics.points).toBeUndefined();
    expect(metrics.calibration.slope.estimate).toBeCloseTo(report.calibration.slope.estimate, 12);
    const subjects = readFileSync(join(outDir, EVALUATION_FILES.subjects), 'utf8')
      .trim()
      .split('\n');
    expect(subjects).toHaveLength(SUBJECTS + 1);
  });
});

describe('report.html without result folders', () => {
  it('says no example map exists', async () => {
    const dir = join(workDir, 'bare');
    const paths = writeCohort(dir, null);
    const report = evaluatePredictions(
      await readPredictionsFile(paths.predictions),
      await readLabelsFile(paths.labels),
      { resamples: 50, seed: 1 },
    );
    const example = await findExampleMap(dir, report);
    expect(example.kind).toBe('missing');
    const outDir = join(dir, 'eval');
    await writeEvaluation(report, outDir, { example });
    const { page, consoleErrors } = await openReport(join(outDir, EVALUATION_FILES.report));
    expect(await page.getAttribute('body', 'data-plots')).toBe('rendered');
    expect(consoleErrors).toEqual([]);
    expect(await page.locator('#example-map').count()).toBe(0);
    expect(await page.locator('#example').innerText()).toContain('has an overlay.png');
    await page.close();
  });

  it('damaged result folder is named', async () => {
    const dir = join(workDir, 'damaged');
    const paths = writeCohort(dir, null);
    mkdirSync(join(dir, DEFICIT_ID));
    writeFileSync(join(dir, DEFICIT_ID, 'result.json'), '{"maps": ');
    const report = evaluatePredictions(
      await readPredictionsFile(paths.predictions),
      await readLabelsFile(paths.labels),
      { resamples: 10 },
    );
    const example = await findExampleMap(dir, report);
    expect(example.kind).toBe('missing');
    if (example.kind !== 'missing') return;
    expect(example.message).toContain(`Unreadable result folders: ${join(dir, DEFICIT_ID)}: `);
  });

  it('damaged top candidate is skipped aloud', async () => {
    const dir = join(workDir, 'damaged-top');
    const paths = writeCohort(dir, await overlayPng());
    writeFileSync(join(dir, DEFICIT_ID, 'overlay.png'), 'not a png');
    writeFileSync(join(dir, DEFICIT_ID, 'result.json'), '{"maps": ');
    const report = evaluatePredictions(
      await readPredictionsFile(paths.predictions),
      await readLabelsFile(paths.labels),
      { resamples: 10 },
    );
    const [top, next] = exampleCandidates(report.points);
    expect(top.id).toBe(DEFICIT_ID);
    mkdirSync(join(dir, next.id));
    writeFileSync(join(dir, next.id, 'overlay.png'), await overlayPng());
    const example = await findExampleMap(dir, report);
    expect(example.kind).toBe('image');
    if (example.kind !== 'image') return;
    expect(example.id).toBe(next.id);
    expect(example.reason).toBe('largest estimated deficit with a readable map');
    expect(example.unreadable).toHaveLength(1);
    expect(example.unreadable![0]).toContain(join(dir, DEFICIT_ID));
  });

  it('failed render keeps the old folder', async () => {
    const dir = join(workDir, 'bare');
    const report = evaluatePredictions(
      await readPredictionsFile(join(dir, 'predictions.csv')),
      await readLabelsFile(join(dir, 'labels.csv')),
      { resamples: 10 },
    );
    const outDir = join(dir, 'kept');
    mkdirSync(outDir);
    writeFileSync(join(outDir, EVALUATION_FILES.metrics), 'previous evaluation');
    // An image entry without PNG bytes makes report.html fail after metrics.json is staged.
    const broken = { kind: 'image', id: 's1', point: report.points[1] } as unknown as ExampleMap;
    await expect(writeEvaluation(report, outDir, { example: broken })).rejects.toThrow();
    expect(readdirSync(outDir)).toEqual([EVALUATION_FILES.metrics]);
    const previous = readFileSync(join(outDir, EVALUATION_FILES.metrics), 'utf8');
    expect(previous).toBe('previous evaluation');
    expect(readdirSync(dir).filter((name) => name.startsWith('.'))).toEqual([]);
  });

  it('BAD CALL - example id not evaluated', async () => {
    const dir = join(workDir, 'bare');
    const report = evaluatePredictions(
      await readPredictionsFile(join(dir, 'predictions.csv')),
      await readLabelsFile(join(dir, 'labels.csv')),
      { resamples: 10 },
    );
    await expect(findExampleMap(dir, report, 'nobody')).rejects.toMatchObject({
      code: 'EVAL_INPUT_INVALID',
    });
  });
});

/**
 * Writes the result folder that `dlco batch` leaves for one subject, without overlay.png: a
 * 24 × 20 × 16 grid at 2 mm stored with its first two axes reversed (as RAS-ordered files are),
 * two lung blocks, and a deficit map that is positive in the upper half of the left lung
 * (label 2, at low i because the i axis runs towards the patient's right).
 */
async function writeBatchResult(dir: string): Promise<void> {
  mkdirSync(dir, { recursive: true });
  const size: [number, number, number] = [24, 20, 16];
  const geometry = {
    size,
    spacingMm: [2, 2, 2] as [number, number, number],
    originMm: [46, 38, 0] as [number, number, number],
    direction: Float64Array.of(-1, 0, 0, 0, -1, 0, 0, 0, 1),
  };
  const count = size[0] * size[1] * size[2];
  const mask = new Uint8Array(count);
  const map = new Float32Array(count);
  for (let k = 2; k < 14; k++) {
    for (let j = 4; j < 16; j++) {
      for (let i = 2; i < 22; i++) {
        if (i >= 11 && i <= 12) continue;
        const index = i + size[0] * (j + size[1] * k);
        mask[index] = i < 11 ? 2 : 1;
        if (i < 11 && k >= 8) map[index] = 0.02;
      }
    }
  }
  await writeFloatVolume(join(dir, 'map.nii.gz'), geometry, map);
  await writeLabelVolume(join(dir, 'lung-mask.nii.gz'), { ...geometry, data: mask });
  const result = {
    model: { id: 'dlco-test', version: '1.2.3' },
    dlco: { estimate: 6 },
    maps: {
      map: {
        file: 'map.nii.gz',
        quantity: 'deficit (expected - contribution)',
        unit: RESULT_MAP_UNIT,
      },
      lungMask: { file: 'lung-mask.nii.gz', quantity: 'lung labels', unit: 'label' },
    },
  };
  writeFileSync(join(dir, 'result.json'), JSON.stringify(result));
}

describe('report.html from a batch map', () => {
  it('renders map.nii.gz without overlay', async () => {
    const dir = join(workDir, 'batch-map');
    const paths = writeCohort(dir, null);
    await writeBatchResult(join(dir, DEFICIT_ID));
    const report = evaluatePredictions(
      await readPredictionsFile(paths.predictions),
      await readLabelsFile(paths.labels),
      { resamples: 50, seed: 1 },
    );
    const example = await findExampleMap(dir, report);
    expect(example.kind).toBe('image');
    if (example.kind !== 'image') return;
    expect(example.id).toBe(DEFICIT_ID);
    expect(example.rendered).toBe(true);
    const screenshot = process.env.DLCO_REPORT_SCREENSHOT;
    if (screenshot) writeFileSync(screenshot.replace(/\.png$/, '-map.png'), example.png);

    const outDir = join(dir, 'eval');
    await writeEvaluation(report, outDir, { example });
    const { page, consoleErrors } = await openReport(join(outDir, EVALUATION_FILES.report));
    expect(consoleErrors).toEqual([]);
    const width = await page
      .locator('#example-map')
      .evaluate((element: HTMLImageElement) => element.naturalWidth);
    expect(width).toBeGreaterThan(100);
    const caption = await page.locator('#example figcaption').innerText();
    expect(caption).toContain(`Rendered from the map.nii.gz of ${join(dir, DEFICIT_ID)}`);
    await page.close();
  });
});

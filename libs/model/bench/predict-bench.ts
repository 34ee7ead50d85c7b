/**
 * Prediction benchmark: times each stage of `dlco predict` on the demo scan and on a generated
 * 512 x 512 x 400 chest CT phantom (the preprocessing benchmark's), and compares the cost of the
 * patch-occlusion and sliding-window occlusion maps with the cost of one prediction.
 *
 * Usage: npm run bench:predict -- [--runs N] [--model DIR] [--no-phantom]
 * Uses models/demo when it exists, otherwise the untrained tiny fixture model; the ratios depend
 * on the encoder's size, so the model is printed with the figures.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

import { preprocessScan } from '@dlco/preprocess';

import {
  BENCH_PHANTOM,
  buildChestPhantom,
  encodeNiftiGz,
} from '../../preprocess/bench/chest-phantom.ts';
import {
  loadModel,
  predictScan,
  writePrediction,
  type DlcoModel,
  type SubjectMetadata,
} from '../src/index.ts';

const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const DEMO_SCAN = join(REPO_ROOT, 'demo/scan.nii.gz');
const DEMO_SUBJECT = join(REPO_ROOT, 'demo/subject.json');
/** Target for the patch-occlusion map: at most this many times one model evaluation. */
const MAX_OCCLUSION_RATIO = 2;

/** Wall time of each stage of one prediction, in ms. */
interface StageTimes {
  read: number;
  /** Preprocessing after reading: resampling, segmentation, zones, QCT, patches. */
  preprocess: number;
  encode: number;
  aggregate: number;
  /** Re-encoding every patch as the reference patch, shared by occlusion, Shapley and deletion. */
  referenceEncode: number;
  occlusion: number;
  shapley: number;
  deletion: number;
  slidingWindow: number;
  maps: number;
  write: number;
  patchCount: number;
  slidingWindowEvaluations: number;
}

async function measure(model: DlcoModel, file: string, subject: SubjectMetadata, outDir: string) {
  const preprocessed = await preprocessScan(file);
  const prediction = await predictScan(file, subject, {
    model,
    preprocessed,
    explain: ['contributions', 'occlusion', 'shapley', 'deletion', 'sliding-window'],
  });
  const writeStarted = performance.now();
  await writePrediction(outDir, prediction);
  const write = performance.now() - writeStarted;

  const { timingsMs, explanations } = prediction.result;
  const slidingSummary = explanations.slidingWindow as { evaluations?: number } | undefined;
  const times: StageTimes = {
    read: preprocessed.timings.read,
    preprocess: preprocessed.timings.total - preprocessed.timings.read,
    encode: timingsMs.encode,
    aggregate: timingsMs.aggregate,
    referenceEncode: timingsMs.referenceEncode,
    occlusion: timingsMs.explain.occlusion ?? NaN,
    shapley: timingsMs.explain.shapley ?? NaN,
    deletion: timingsMs.explain.deletion ?? NaN,
    slidingWindow: timingsMs.explain['sliding-window'] ?? NaN,
    maps: timingsMs.maps,
    write,
    patchCount: preprocessed.patches.count,
    slidingWindowEvaluations: slidingSummary?.evaluations ?? NaN,
  };
  return times;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

function medianTimes(runs: StageTimes[]): StageTimes {
  const keys = Object.keys(runs[0]) as (keyof StageTimes)[];
  return Object.fromEntries(keys.map((key) => [key, median(runs.map((run) => run[key]))])) as
    unknown as StageTimes;
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(2)} s`;
}

function report(name: string, times: StageTimes, runs: number): void {
  // One prediction as the model sees it: encode every patch, then aggregate the bag once.
  const inference = times.encode + times.aggregate;
  // One prediction as `dlco predict --explain contributions` runs it, from file to maps.
  const wholePrediction = times.read + times.preprocess + inference + times.maps;
  const occlusionMap = times.referenceEncode + times.occlusion;
  const lines = [
    `${name} (${times.patchCount} patches, median of ${runs})`,
    `  read             ${seconds(times.read)}`,
    `  preprocess       ${seconds(times.preprocess)} (after reading)`,
    `  encode           ${seconds(times.encode)}`,
    `  aggregate        ${seconds(times.aggregate)}`,
    `  reference encode ${seconds(times.referenceEncode)} (shared by occlusion, shapley, deletion)`,
    `  occlusion        ${seconds(times.occlusion)}`,
    `  shapley          ${seconds(times.shapley)}`,
    `  deletion         ${seconds(times.deletion)}`,
    `  sliding-window   ${seconds(times.slidingWindow)} ` +
      `(${times.slidingWindowEvaluations} evaluations)`,
    `  maps             ${seconds(times.maps)}`,
    `  write            ${seconds(times.write)}`,
    `  patch-occlusion map / model inference (encode + aggregate): ` +
      `${(occlusionMap / inference).toFixed(2)} (target <= ${MAX_OCCLUSION_RATIO})`,
    `  sliding-window map / model inference: ${(times.slidingWindow / inference).toFixed(2)}`,
    `  patch-occlusion map / whole prediction (read to maps): ` +
      `${(occlusionMap / wholePrediction).toFixed(2)}`,
    `  sliding-window map / whole prediction: ` +
      `${(times.slidingWindow / wholePrediction).toFixed(2)}`,
  ];
  console.log(lines.join('\n'));
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      runs: { type: 'string', default: '1' },
      model: { type: 'string' },
      'no-phantom': { type: 'boolean', default: false },
    },
  });
  const runs = Number(values.runs);
  if (!Number.isInteger(runs) || runs < 1) {
    throw new Error(`invalid --runs '${values.runs}': expected a positive integer`);
  }
  const demoModel = join(REPO_ROOT, 'models/demo');
  const modelDir =
    values.model ??
    (existsSync(join(demoModel, 'model-card.json'))
      ? demoModel
      : join(REPO_ROOT, 'libs/model/testdata/tiny-model'));
  const model = await loadModel(resolve(modelDir));
  const subject = JSON.parse(readFileSync(DEMO_SUBJECT, 'utf8')).subject as SubjectMetadata;

  console.log(`load         1-minute load average ${loadavg()[0].toFixed(2)} at the start`);
  console.log(
    `machine      ${cpus().length} CPUs (${cpus()[0]?.model ?? 'unknown'}), ` +
      `${(totalmem() / 1e9).toFixed(0)} GB RAM, Node ${process.version}`,
  );
  console.log(
    `model        ${model.card.modelId} ${model.card.modelVersion} (${modelDir}), ` +
      `${model.executionProvider} execution provider`,
  );

  const workDir = mkdtempSync(join(tmpdir(), 'dlco-predict-bench-'));
  try {
    const scans: { name: string; file: string }[] = [{ name: 'demo scan', file: DEMO_SCAN }];
    if (!values['no-phantom']) {
      const file = join(workDir, 'chest-phantom.nii.gz');
      const started = performance.now();
      const data = buildChestPhantom(BENCH_PHANTOM);
      writeFileSync(file, encodeNiftiGz(data, BENCH_PHANTOM.size, BENCH_PHANTOM.spacingMm));
      const generationMs = performance.now() - started;
      console.log(
        `phantom      ${BENCH_PHANTOM.size.join(' x ')} int16 at ` +
          `${BENCH_PHANTOM.spacingMm.join(' x ')} mm, seed ${BENCH_PHANTOM.seed}, ` +
          `${(statSync(file).size / 1e6).toFixed(0)} MB, generated in ${seconds(generationMs)}`,
      );
      scans.push({ name: `phantom ${BENCH_PHANTOM.size.join(' x ')}`, file });
    }
    for (const scan of scans) {
      const measured: StageTimes[] = [];
      for (let run = 0; run < runs; run++) {
        measured.push(await measure(model, scan.file, subject, join(workDir, `out-${run}`)));
      }
      report(scan.name, medianTimes(measured), runs);
    }
  } finally {
    rmSync(workDir, { recursive: true, force: true });
  }
  // Other processes slow every stage, so the load is printed with the figures.
  console.log(`load         1-minute load average ${loadavg()[0].toFixed(2)} at the end`);
}

await main();

import { access, readFile } from 'node:fs/promises';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import {
  checkPredictionOutDir,
  isModelError,
  loadModel,
  MODEL_CARD_FILE,
  ModelError,
  OVERLAY_FILE,
  predictScan,
  writePrediction,
  writePredictionOverlay,
  type Prediction,
  type SubjectMetadata,
} from '@dlco/model';
import { InputError } from '@dlco/preprocess';
import { Command } from 'commander';

import { EXIT_FAILURE, runAction } from '../errors.ts';
import { holdWarnings, loggerFromOptions, type LogOptions } from '../logger.ts';
import { checkOutputFolder, describeWriteError } from '../output-path.ts';
import { formatPredictionSummary } from './predict-summary.ts';

const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../../..');

/** Files of the demo, relative to the repository root. */
export const DEMO_PATHS = {
  model: 'models/demo',
  scan: 'demo/scan.nii.gz',
  subject: 'demo/subject.json',
  out: 'out/demo',
} as const;

/** Explanations the demo runs: everything but the slow sliding-window occlusion. */
const DEMO_EXPLANATIONS = ['contributions', 'occlusion', 'shapley', 'deletion'] as const;

interface DemoCommandOptions extends LogOptions {
  out?: string;
  model?: string;
}

/** Builds `dlco demo`, which runs predict on the bundled demo scan with the demo model. */
export function demoCommand(): Command {
  return new Command('demo')
    .description(
      'Run predict on the simulated demo scan (demo/scan.nii.gz, subject data from ' +
        'demo/subject.json) with the demo model (models/demo) and write every output. ' +
        'Research use, not diagnosis.',
    )
    .option('--out <dir>', `folder for the outputs (default: ${DEMO_PATHS.out} in the repository)`)
    .option('--model <dir>', `model folder (default: ${DEMO_PATHS.model} in the repository)`)
    .action(
      runAction(async (_options: unknown, command: Command) => {
        const options = command.optsWithGlobals<DemoCommandOptions>();
        try {
          return await runDemo(options);
        } catch (error) {
          if (!isModelError(error)) throw error;
          process.stderr.write(`error [${error.code}]: ${error.message}\n`);
          return EXIT_FAILURE;
        }
      }),
    );
}

async function runDemo(options: DemoCommandOptions): Promise<number> {
  const logger = loggerFromOptions(options);
  const modelDir = resolve(options.model ?? join(REPO_ROOT, DEMO_PATHS.model));
  const modelName = options.model ?? DEMO_PATHS.model;
  const scanPath = join(REPO_ROOT, DEMO_PATHS.scan);
  const subjectPath = join(REPO_ROOT, DEMO_PATHS.subject);
  const outDir = resolve(options.out ?? join(REPO_ROOT, DEMO_PATHS.out));
  try {
    await access(join(modelDir, MODEL_CARD_FILE));
  } catch {
    throw new ModelError(
      'MODEL_NOT_FOUND',
      `${join(modelDir, MODEL_CARD_FILE)} not found: the model ${modelName} is missing. Train ` +
        'the demo model with `npx nx run training:train-demo`, or pass another with --model.',
      { modelDir },
    );
  }
  await requireDemoFile(scanPath, `the demo scan ${DEMO_PATHS.scan} is missing from the checkout.`);
  await checkOutputFolder(outDir, '--out');
  await checkPredictionOutDir(outDir);
  const subject = await readDemoSubject(subjectPath);

  process.stderr.write(`Running the demo on ${DEMO_PATHS.scan} with ${modelName} ...\n`);
  // The summary lists the result's warnings, so they are not logged to stderr as well.
  const heldWarnings = holdWarnings(logger);
  let prediction: Prediction;
  try {
    const model = await loadModel(modelDir, { logger: heldWarnings.logger });
    prediction = await predictScan(scanPath, subject, {
      model,
      explain: [...DEMO_EXPLANATIONS],
      logger: heldWarnings.logger,
    });
  } catch (error) {
    heldWarnings.flush();
    throw error;
  }
  heldWarnings.flush(prediction.result.warnings);
  try {
    await writePrediction(outDir, prediction, {
      // The demo scan's name is fixed, so showing it identifies no one.
      writeExtraFiles: (dir, written) =>
        writePredictionOverlay(dir, written, { showFileName: true }),
    });
  } catch (error) {
    throw describeWriteError(error, outDir, '--out');
  }

  process.stdout.write(formatPredictionSummary(prediction.result, outDir, [OVERLAY_FILE]));
  process.stdout.write(nextSteps(outDir, subject, prediction.result.maps.map));
  return 0;
}

async function requireDemoFile(path: string, message: string): Promise<void> {
  try {
    await access(path);
  } catch {
    throw new InputError('INPUT_NOT_FOUND', `${path} not found: ${message}`);
  }
}

/** Reads the `subject` object of demo/subject.json; its range checks run in `predictScan`. */
async function readDemoSubject(path: string): Promise<SubjectMetadata> {
  await requireDemoFile(path, `the demo subject data ${DEMO_PATHS.subject} is missing.`);
  const parsed = JSON.parse(await readFile(path, 'utf8')) as { subject?: SubjectMetadata };
  if (parsed.subject === undefined) {
    throw new InputError('INPUT_CORRUPT', `${path} has no "subject" object with age, sex, ...`);
  }
  return parsed.subject;
}

function nextSteps(
  outDir: string,
  subject: SubjectMetadata,
  map: { quantity: string; unit: string },
): string {
  const fromCwd = relative(process.cwd(), outDir);
  const shown = fromCwd === '' ? '.' : fromCwd.startsWith('..') ? outDir : fromCwd;
  return [
    '',
    `Outputs in ${shown}/:`,
    '  result.json       estimate, reference values, zones, patches, explanations',
    `  map.nii.gz        ${map.quantity} in ${map.unit} on the scan grid (open over the scan ` +
      'in a viewer)',
    '  lung-mask.nii.gz  lung labels on the scan grid: 1 right, 2 left',
    `  ${OVERLAY_FILE.padEnd(17)} axial and coronal slices with the same map overlaid, in ${map.unit}`,
    '',
    'On your own scan (a chest CT covering both lungs: NIfTI, NRRD, a DICOM folder or a .zip):',
    `  npx dlco predict scan.nii.gz --age ${subject.ageYears} --sex ${subject.sex} ` +
      `--height ${subject.heightCm} --weight ${subject.weightKg} --out out/my-scan`,
    '  npx dlco predict --help    (optional: --smoking, --pack-years, --hb, --cohb)',
    '',
  ].join('\n');
}

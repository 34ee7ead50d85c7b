import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import {
  checkPredictionOutDir,
  checkSubjectMetadata,
  EXPLANATION_NAMES,
  isModelError,
  loadModel,
  ModelError,
  predictScan,
  SMOKING_STATUSES,
  SUBJECT_FIELD_FLAGS,
  writePrediction,
  type ExplanationName,
  type MapQuantity,
  type ModelErrorCode,
  type Prediction,
  type SubjectMetadata,
} from '@dlco/model';
import type { Logger } from '@dlco/preprocess';
import { Command, Option } from 'commander';

import { EXIT_FAILURE, EXIT_INPUT_ERROR, runAction } from '../errors.ts';
import { holdWarnings, loggerFromOptions, type LogOptions } from '../logger.ts';
import { checkOutputFolder, describeWriteError } from '../output-path.ts';
import { formatPredictionSummary } from './predict-summary.ts';

/** Model used when `--model` is not given: `models/demo` at the repository root. */
export const DEFAULT_MODEL_DIR = resolve(
  dirname(fileURLToPath(import.meta.url)),
  '../../../../models/demo',
);

/** Default `--explain`; `attention` is added for models that pool by attention. */
const DEFAULT_EXPLANATIONS = 'contributions,occlusion,shapley,deletion';

/** Model errors caused by the command line rather than by the model or the machine. */
const USAGE_ERROR_CODES: readonly ModelErrorCode[] = [
  'METADATA_INVALID',
  'MODEL_INPUT_INVALID',
  'MODEL_NOT_FOUND',
  'OUTPUT_EXISTS',
];

/** `input.fileName` of a result written with `--no-file-name`. */
export const FILE_NAME_NOT_RECORDED = 'not recorded';

interface PredictCommandOptions extends LogOptions {
  age?: string;
  sex?: string;
  height?: string;
  weight?: string;
  smoking?: string;
  packYears?: string;
  hb?: string;
  cohb?: string;
  model: string;
  out?: string;
  explain: string;
  map: MapQuantity;
  threads?: string;
  json?: boolean;
  /** False with `--no-file-name`. */
  fileName: boolean;
}

/** Builds `dlco predict`, which estimates DLCO for one scan and explains where it comes from. */
export function predictCommand(): Command {
  return (
    new Command('predict')
      .description(
        'Estimate DLCO (ml/min/mmHg) from one chest CT with the GLI 2017 reference, zone ' +
          'contributions and a deficit map. Prints a summary (estimate, reference values, ' +
          'zone table, lung volumes, warnings) to stdout, or result.json with --json. Files ' +
          'are written only with --out. Research use, not diagnosis.',
      )
      .argument('<scan>', 'scan file, DICOM folder or .zip')
      .option('--age <years>', 'age in years (required)')
      // Sex and smoking are checked with the other subject data, so that an invalid value exits
      // with status 2 and METADATA_INVALID like a missing one, not with commander's status 1.
      .option('--sex <sex>', 'sex, M or F (required)')
      .option('--height <cm>', 'standing height in cm (required)')
      .option('--weight <kg>', 'body weight in kg (required)')
      .option('--smoking <status>', `smoking status: ${SMOKING_STATUSES.join(', ')}`)
      .option(
        '--pack-years <n>',
        'cumulative smoking in pack-years (0 for a never-smoker if omitted)',
      )
      .option('--hb <g/dL>', 'haemoglobin in g/dL; the reference values are then Hb-corrected')
      .option('--cohb <percent>', 'carboxyhaemoglobin as a percentage of haemoglobin')
      .addOption(
        new Option('--model <dir>', 'model folder with model-card.json').default(
          DEFAULT_MODEL_DIR,
          'models/demo in the repository',
        ),
      )
      .option(
        '--out <dir>',
        'folder for result.json, map.nii.gz and lung-mask.nii.gz; without it nothing is ' +
          'written and only the summary (or result.json with --json) is printed',
      )
      .option(
        '--no-file-name',
        `record the scan's file name in result.json as '${FILE_NAME_NOT_RECORDED}' instead of ` +
          'its base name (file names often carry patient names)',
      )
      .option(
        '--explain <list>',
        `comma-separated explanations: ${EXPLANATION_NAMES.join(', ')} (default adds attention ` +
          'for attention models; sliding-window is slow)',
        DEFAULT_EXPLANATIONS,
      )
      .addOption(
        new Option('--map <quantity>', 'quantity of map.nii.gz, per mL of lung')
          .choices(['deficit', 'contribution'])
          .default('deficit'),
      )
      .option('--threads <n>', 'ONNX Runtime threads per operator (default: one per core)')
      .option('--json', 'print result.json to stdout instead of the summary')
      .action(
        runAction(async (scan: string, _options: unknown, command: Command) => {
          const options = command.optsWithGlobals<PredictCommandOptions>();
          const explainIsDefault = command.getOptionValueSource('explain') === 'default';
          try {
            return await runPredict(scan, options, explainIsDefault);
          } catch (error) {
            if (!isModelError(error)) throw error;
            process.stderr.write(`error [${error.code}]: ${error.message}\n`);
            return USAGE_ERROR_CODES.includes(error.code) ? EXIT_INPUT_ERROR : EXIT_FAILURE;
          }
        }),
      )
  );
}

async function runPredict(
  scan: string,
  options: PredictCommandOptions,
  explainIsDefault: boolean,
): Promise<number> {
  const logger = loggerFromOptions(options);
  // Checked before the model loads, so a mistyped flag fails at once.
  const subject = checkSubjectMetadata(subjectFromOptions(options), SUBJECT_FIELD_FLAGS);
  const explain = options.explain
    .split(',')
    .map((name) => name.trim())
    .filter((name) => name !== '') as ExplanationName[];
  const threads =
    options.threads === undefined
      ? undefined
      : parseNumber(options.threads, '--threads', 'MODEL_INPUT_INVALID');

  const outDir = options.out === undefined ? undefined : resolve(options.out);
  if (outDir !== undefined) {
    // Checked before the computation, so a bad --out fails in a second and not after minutes.
    await checkOutputFolder(outDir, '--out');
    await checkPredictionOutDir(outDir);
  }

  // The summary lists the result's warnings, so they are not logged to stderr as well.
  const heldWarnings = holdWarnings(logger);
  let prediction: Prediction;
  try {
    prediction = await computePrediction(scan, subject, explain, explainIsDefault, {
      ...options,
      threads,
      logger: options.json === true ? logger : heldWarnings.logger,
    });
  } catch (error) {
    heldWarnings.flush();
    throw error;
  }
  heldWarnings.flush(prediction.result.warnings);
  if (!options.fileName) omitFileName(prediction);
  // An overlay image writer can be passed here as writeExtraFiles, so that it lands in the same
  // staging folder and appears together with result.json or not at all.
  if (outDir !== undefined) {
    try {
      await writePrediction(outDir, prediction);
    } catch (error) {
      throw describeWriteError(error, outDir, '--out');
    }
  }

  process.stdout.write(
    options.json === true
      ? `${JSON.stringify(prediction.result, null, 2)}\n`
      : formatPredictionSummary(prediction.result, outDir),
  );
  return 0;
}

/**
 * Replaces the scan's base name in the result with {@link FILE_NAME_NOT_RECORDED}, for scans
 * whose file or folder name may identify the patient.
 */
export function omitFileName(prediction: Prediction): void {
  prediction.result.input.fileName = FILE_NAME_NOT_RECORDED;
}

async function computePrediction(
  scan: string,
  subject: SubjectMetadata,
  explain: ExplanationName[],
  explainIsDefault: boolean,
  options: { model: string; map: MapQuantity; threads?: number; logger: Logger },
): Promise<Prediction> {
  const { threads, logger } = options;
  const model = await loadModel(options.model, { threads, logger });
  if (explainIsDefault && model.card.aggregator.pooling === 'attention') explain.push('attention');
  return predictScan(resolve(scan), subject, {
    model,
    explain,
    mapQuantity: options.map,
    logger,
  });
}

/** Reads the subject flags; a missing or non-numeric required flag is a METADATA_INVALID error. */
function subjectFromOptions(options: PredictCommandOptions): SubjectMetadata {
  const required = {
    '--age': options.age,
    '--sex': options.sex,
    '--height': options.height,
    '--weight': options.weight,
  };
  const missing = Object.entries(required)
    .filter(([, value]) => value === undefined)
    .map(([flag]) => flag);
  if (missing.length > 0) {
    throw new ModelError(
      'METADATA_INVALID',
      `missing ${missing.join(', ')}: dlco predict needs --age (years), --sex (M or F), ` +
        '--height (cm) and --weight (kg) for the model and the GLI reference.',
      { flags: missing },
    );
  }
  return {
    ageYears: parseNumber(options.age!, '--age'),
    sex: options.sex as SubjectMetadata['sex'],
    heightCm: parseNumber(options.height!, '--height'),
    weightKg: parseNumber(options.weight!, '--weight'),
    smoking: options.smoking as SubjectMetadata['smoking'],
    packYears:
      options.packYears === undefined ? undefined : parseNumber(options.packYears, '--pack-years'),
    hbGdl: options.hb === undefined ? undefined : parseNumber(options.hb, '--hb'),
    cohbPercent: options.cohb === undefined ? undefined : parseNumber(options.cohb, '--cohb'),
  };
}

function parseNumber(
  text: string,
  flag: string,
  code: ModelErrorCode = 'METADATA_INVALID',
): number {
  const value = Number(text);
  if (text.trim() === '' || !Number.isFinite(value)) {
    throw new ModelError(code, `invalid ${flag} '${text}': expected a number.`, { flag });
  }
  return value;
}

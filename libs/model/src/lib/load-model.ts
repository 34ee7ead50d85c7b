import { readFile, realpath } from 'node:fs/promises';
import { join, resolve } from 'node:path';

import { decodeNpy, silentLogger, type Logger } from '@dlco/preprocess';
import ort from 'onnxruntime-node';

import { parseBaseline, type LinearBaseline } from './baseline.ts';
import { checkModelCompatibility, checkNormalisationContract } from './compatibility.ts';
import { ModelError } from './errors.ts';
import { intervalZ, parseModelCard, type ModelCard } from './model-card.ts';
import type { DlcoModel, ExecutionProviderName, LoadModelOptions } from './model.ts';
import { OnnxDlcoModel } from './onnx-model.ts';

export const MODEL_CARD_FILE = 'model-card.json';
const DEFAULT_EXECUTION_PROVIDERS: readonly ExecutionProviderName[] = ['cuda', 'cpu'];

/** Models loaded in this process by absolute folder, so each graph gets one session. */
const loadedModels = new Map<string, Promise<DlcoModel>>();

/**
 * Loads a model folder written by `dlco_train.export`: `model-card.json`, `encoder.onnx`,
 * `aggregator.onnx`, and the reference patch and `baseline.json` when the card names them.
 *
 * The model is rejected unless it was trained on the running preprocessing (see
 * `checkModelCompatibility`). Each folder is loaded once per process: later calls return the same
 * object with the same two sessions until `release` is called, and their options are ignored.
 * Providers are tried in order and the one that runs is logged.
 *
 * @param dir - model folder
 * @throws ModelError `MODEL_NOT_FOUND`, `MODEL_CARD_INVALID`, `MODEL_INCOMPATIBLE` or
 *   `MODEL_RUNTIME_FAILED` when no provider can create the sessions.
 * @example
 * const model = await loadModel('models/demo', { threads: 4, logger });
 * const embeddings = await model.encodePatches(bag.patches);
 */
export async function loadModel(dir: string, options: LoadModelOptions = {}): Promise<DlcoModel> {
  const logger = options.logger ?? silentLogger;
  const absolute = await resolveModelDir(dir);
  const cached = loadedModels.get(absolute);
  if (cached !== undefined) {
    logger.debug({ dir: absolute }, 'model already loaded in this process; reusing its sessions');
    return cached;
  }
  const loading = readModel(absolute, options, logger);
  loadedModels.set(absolute, loading);
  // A failed load leaves no cache entry, so a corrected folder can be loaded again.
  loading.catch(() => loadedModels.delete(absolute));
  return loading;
}

async function resolveModelDir(dir: string): Promise<string> {
  try {
    return await realpath(resolve(dir));
  } catch (error) {
    throw new ModelError(
      'MODEL_NOT_FOUND',
      `Model folder ${resolve(dir)} not found. Pass the folder that contains ${MODEL_CARD_FILE} ` +
        '(dlco predict --model DIR).',
      { dir: resolve(dir) },
      { cause: error },
    );
  }
}

async function readModel(
  dir: string,
  options: LoadModelOptions,
  logger: Logger,
): Promise<DlcoModel> {
  const card = parseModelCard(
    await readJson(join(dir, MODEL_CARD_FILE)),
    join(dir, MODEL_CARD_FILE),
  );
  checkModelCompatibility(card, dir);
  checkNormalisationContract(card, dir);
  const z = intervalZ(card);
  const referencePatchHu = await readReferencePatch(dir, card);
  const baseline = await readBaseline(dir, card);
  const { encoder, aggregator, provider } = await createSessions(dir, card, options, logger);
  try {
    requirePoolingOutputs(card, aggregator.outputNames, dir);
  } catch (error) {
    await Promise.all([encoder.release(), aggregator.release()]);
    throw error;
  }
  logger.info(
    {
      modelId: card.modelId,
      modelVersion: card.modelVersion,
      executionProvider: provider,
      threads: options.threads ?? 'default',
    },
    `model loaded; ONNX Runtime runs it on the ${provider} execution provider`,
  );
  return new OnnxDlcoModel({
    dir,
    card,
    encoder,
    aggregator,
    executionProvider: provider,
    referencePatchHu,
    baseline,
    intervalZ: z,
    onRelease: () => loadedModels.delete(dir),
  });
}

/**
 * Checks that the aggregator graph has the outputs its pooling needs, so a card that does not
 * match its graph fails at load time instead of after every patch is encoded.
 */
function requirePoolingOutputs(card: ModelCard, outputNames: readonly string[], dir: string): void {
  if (card.aggregator.pooling !== 'retained_fraction' || outputNames.includes('expected')) return;
  throw new ModelError(
    'MODEL_INCOMPATIBLE',
    `${join(dir, card.files.aggregator)} has the outputs ${outputNames.join(', ')}, but its card ` +
      "states retained_fraction pooling, whose deficits need the output 'expected'. Export the " +
      'model again with dlco_train so that the card and the graph match.',
    { field: 'aggregator.outputs', received: [...outputNames], required: 'expected' },
  );
}

async function createSessions(
  dir: string,
  card: ModelCard,
  options: LoadModelOptions,
  logger: Logger,
) {
  const providers = options.executionProviders ?? DEFAULT_EXECUTION_PROVIDERS;
  if (
    options.threads !== undefined &&
    !(Number.isInteger(options.threads) && options.threads >= 1)
  ) {
    throw new ModelError(
      'MODEL_INPUT_INVALID',
      `threads must be an integer of 1 or more, received ${options.threads}.`,
      {
        field: 'threads',
        received: options.threads,
      },
    );
  }
  // A failed CUDA probe is reported through `logger`; ONNX Runtime's own error lines on stderr
  // would repeat it, so its process-wide log level is raised to fatal.
  ort.env.logLevel = 'fatal';
  const failures: string[] = [];
  for (const provider of providers) {
    const sessionOptions: ort.InferenceSession.SessionOptions = {
      executionProviders: [provider],
      graphOptimizationLevel: 'all',
      // onnxruntime-node rejects an undefined thread count, so the key is left out instead.
      ...(options.threads === undefined ? {} : { intraOpNumThreads: options.threads }),
    };
    let encoder: ort.InferenceSession | undefined;
    try {
      encoder = await ort.InferenceSession.create(
        await readGraph(dir, card.files.encoder),
        sessionOptions,
      );
      const aggregator = await ort.InferenceSession.create(
        await readGraph(dir, card.files.aggregator),
        sessionOptions,
      );
      return { encoder, aggregator, provider };
    } catch (error) {
      if (error instanceof ModelError) throw error;
      await encoder?.release();
      failures.push(`${provider}: ${(error as Error).message}`);
      logger.info(
        { executionProvider: provider, error },
        'execution provider unavailable; trying the next one',
      );
    }
  }
  throw new ModelError(
    'MODEL_RUNTIME_FAILED',
    `ONNX Runtime could not create sessions for model ${dir} with any of the execution providers ` +
      `${providers.join(', ')}: ${failures.join('; ')}`,
    { dir, providers },
  );
}

async function readGraph(dir: string, file: string): Promise<Uint8Array> {
  return new Uint8Array(await readModelFile(join(dir, file)));
}

async function readReferencePatch(dir: string, card: ModelCard): Promise<Int16Array | null> {
  const file = card.referencePatch?.file ?? card.files.referencePatch;
  if (file === undefined) return null;
  const size = card.encoder.patchSizeVoxels;
  let array;
  try {
    array = decodeNpy(new Uint8Array(await readModelFile(join(dir, file))));
  } catch (error) {
    if (error instanceof ModelError) throw error;
    throw new ModelError(
      'MODEL_CARD_INVALID',
      `${join(dir, file)} is not a readable .npy file: ${(error as Error).message}`,
      {
        file,
      },
    );
  }
  if (array.dtype !== '<i2' || array.shape.join() !== [size, size, size].join()) {
    throw new ModelError(
      'MODEL_CARD_INVALID',
      `${join(dir, file)} must be int16 of shape [${size}, ${size}, ${size}], found ${array.dtype} ` +
        `[${array.shape.join(', ')}]. Export the model again.`,
      { file },
    );
  }
  return array.data as Int16Array;
}

async function readBaseline(dir: string, card: ModelCard): Promise<LinearBaseline | null> {
  const file = card.files.baseline;
  if (file === undefined) return null;
  return parseBaseline(await readJson(join(dir, file)), join(dir, file));
}

async function readJson(path: string): Promise<unknown> {
  const text = (await readModelFile(path)).toString('utf8');
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new ModelError(
      'MODEL_CARD_INVALID',
      `${path} is not valid JSON: ${(error as Error).message}`,
      {
        file: path,
      },
    );
  }
}

async function readModelFile(path: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (error) {
    throw new ModelError(
      'MODEL_NOT_FOUND',
      `${path} not found or unreadable (${(error as NodeJS.ErrnoException).code ?? 'error'}). ` +
        'A model folder needs every file its model-card.json names; export the model again.',
      { file: path },
      { cause: error },
    );
  }
}

import type { EmbeddingBag } from '@dlco/explain';
import ort from 'onnxruntime-node';

import type { LinearBaseline } from './baseline.ts';
import { ModelError } from './errors.ts';
import type { ModelCard } from './model-card.ts';
import type {
  AggregateInput,
  AggregateResult,
  DlcoModel,
  EncodeOptions,
  ExecutionProviderName,
  PatchInput,
} from './model.ts';

const DEFAULT_BATCH_SIZE = 32;

/** Everything an `OnnxDlcoModel` is built from; `loadModel` reads it from the model folder. */
export interface OnnxDlcoModelParts {
  dir: string;
  card: ModelCard;
  encoder: ort.InferenceSession;
  aggregator: ort.InferenceSession;
  executionProvider: ExecutionProviderName;
  referencePatchHu: Int16Array | null;
  baseline: LinearBaseline | null;
  intervalZ: number;
  /** Called once by `release`, after both sessions are released. */
  onRelease: () => void;
}

/** `DlcoModel` on two ONNX Runtime sessions. */
export class OnnxDlcoModel implements DlcoModel {
  readonly dir: string;
  readonly card: ModelCard;
  readonly executionProvider: ExecutionProviderName;
  readonly referencePatchHu: Int16Array | null;
  readonly baseline: LinearBaseline | null;
  readonly intervalZ: number;
  readonly #encoder: ort.InferenceSession;
  readonly #aggregator: ort.InferenceSession;
  readonly #onRelease: () => void;
  readonly #patchVoxels: number;
  #released = false;

  constructor(parts: OnnxDlcoModelParts) {
    this.dir = parts.dir;
    this.card = parts.card;
    this.executionProvider = parts.executionProvider;
    this.referencePatchHu = parts.referencePatchHu;
    this.baseline = parts.baseline;
    this.intervalZ = parts.intervalZ;
    this.#encoder = parts.encoder;
    this.#aggregator = parts.aggregator;
    this.#onRelease = parts.onRelease;
    this.#patchVoxels = parts.card.encoder.patchSizeVoxels ** 3;
  }

  async encodePatches(patches: PatchInput, options: EncodeOptions = {}): Promise<EmbeddingBag> {
    this.#requireOpen();
    const { count } = patches;
    const size = this.card.encoder.patchSizeVoxels;
    const voxels = this.#patchVoxels;
    requireLength('patches.hu', patches.hu, count * voxels, `${count} patches of ${size}³ voxels`);
    requireLength(
      'patches.mask',
      patches.mask,
      count * voxels,
      `${count} patches of ${size}³ voxels`,
    );
    const batchSize = options.batchSize ?? DEFAULT_BATCH_SIZE;
    if (!Number.isInteger(batchSize) || batchSize < 1) {
      throw new ModelError(
        'MODEL_INPUT_INVALID',
        `batchSize must be an integer of 1 or more, received ${batchSize}.`,
        {
          field: 'batchSize',
          received: batchSize,
        },
      );
    }

    const dimension = this.card.encoder.embeddingDim;
    const data = new Float32Array(count * dimension);
    for (let start = 0; start < count; start += batchSize) {
      options.signal?.throwIfAborted();
      const batch = Math.min(batchSize, count - start);
      const shape = [batch, size, size, size];
      const range = [start * voxels, (start + batch) * voxels] as const;
      const feeds = {
        hu: new ort.Tensor('int16', patches.hu.slice(...range), shape),
        mask: new ort.Tensor('uint8', patches.mask.slice(...range), shape),
      };
      const output = await this.#run(this.#encoder, 'encoder', feeds);
      const embedding = output.embedding;
      requireLength(
        'encoder output embedding',
        embedding.data as Float32Array,
        batch * dimension,
        `${batch} × ${dimension}`,
      );
      data.set(embedding.data as Float32Array, start * dimension);
    }
    return { data, count, dimension };
  }

  async aggregate(input: AggregateInput): Promise<AggregateResult> {
    this.#requireOpen();
    const { embeddings, lungMl, zone, side, metadata } = input;
    const count = embeddings.count;
    const dimension = this.card.encoder.embeddingDim;
    if (embeddings.dimension !== dimension) {
      throw new ModelError(
        'MODEL_INPUT_INVALID',
        `embeddings have dimension ${embeddings.dimension}, but the model's is ${dimension}.`,
        { field: 'embeddings.dimension', received: embeddings.dimension },
      );
    }
    requireLength('embeddings.data', embeddings.data, count * dimension, `${count} × ${dimension}`);
    requireLength('lungMl', lungMl, count, 'one per patch');
    requireLength('zone', zone, count, 'one per patch');
    requireLength('side', side, count, 'one per patch');
    requireLength(
      'metadata',
      metadata,
      this.card.normalisation.metadata.length,
      'one per card metadata feature',
    );

    const available: Record<string, ort.Tensor> = {
      embeddings: new ort.Tensor('float32', embeddings.data, [count, dimension]),
      lung_ml: new ort.Tensor('float32', lungMl, [count]),
      zone: new ort.Tensor('uint8', zone, [count]),
      side: new ort.Tensor('uint8', side, [count]),
      metadata: new ort.Tensor('float32', metadata, [metadata.length]),
    };
    // A graph exported without zone, side or metadata inputs lists fewer input names.
    const feeds = Object.fromEntries(
      this.#aggregator.inputNames.map((name) => [name, available[name]]),
    );
    const outputs = await this.#run(this.#aggregator, 'aggregator', feeds);
    return this.#aggregateResult(outputs, count);
  }

  async release(): Promise<void> {
    if (this.#released) return;
    this.#released = true;
    this.#onRelease();
    await Promise.all([this.#encoder.release(), this.#aggregator.release()]);
  }

  #aggregateResult(outputs: ort.InferenceSession.OnnxValueMapType, count: number): AggregateResult {
    const estimate = scalarOutput(outputs, 'dlco');
    const sigma = scalarOutput(outputs, 'sigma');
    const contributions = vectorOutput(outputs, 'contributions', count);
    const patchWeights = vectorOutput(outputs, 'patch_weights', count);
    const optionalVector = (name: string): Float32Array | null =>
      outputs[name] ? vectorOutput(outputs, name, count) : null;
    const margin = this.intervalZ * sigma;
    return {
      estimate,
      sigma,
      lower: Math.max(0, estimate - margin),
      upper: estimate + margin,
      contributions,
      patchWeights,
      attentionWeights: this.card.aggregator.pooling === 'attention' ? patchWeights : null,
      conductancePerMl: optionalVector('conductance_per_ml'),
      // Retained-fraction deficits come from `expected`, so that graph must output it.
      expected:
        this.card.aggregator.pooling === 'retained_fraction'
          ? vectorOutput(outputs, 'expected', count)
          : optionalVector('expected'),
      retainedFraction: optionalVector('retained_fraction'),
      globalFactor: outputs.global_factor ? scalarOutput(outputs, 'global_factor') : null,
    };
  }

  async #run(
    session: ort.InferenceSession,
    graph: 'encoder' | 'aggregator',
    feeds: Record<string, ort.Tensor>,
  ): Promise<ort.InferenceSession.OnnxValueMapType> {
    try {
      return await session.run(feeds);
    } catch (error) {
      throw new ModelError(
        'MODEL_RUNTIME_FAILED',
        `ONNX Runtime failed to run the ${graph} of model ${this.dir}: ${(error as Error).message}`,
        { graph },
        { cause: error },
      );
    }
  }

  #requireOpen(): void {
    if (this.#released) {
      throw new ModelError(
        'MODEL_INPUT_INVALID',
        `Model ${this.dir} was released; load it again with loadModel.`,
        { dir: this.dir },
      );
    }
  }
}

function requireLength(
  field: string,
  array: ArrayLike<number>,
  expected: number,
  meaning: string,
): void {
  if (array.length !== expected) {
    throw new ModelError(
      'MODEL_INPUT_INVALID',
      `${field} has ${array.length} values, expected ${expected} (${meaning}).`,
      { field, received: array.length, expected },
    );
  }
}

function scalarOutput(outputs: ort.InferenceSession.OnnxValueMapType, name: string): number {
  const value = outputs[name]?.data as Float32Array | undefined;
  if (value === undefined || value.length !== 1 || !Number.isFinite(value[0])) {
    throw new ModelError(
      'MODEL_RUNTIME_FAILED',
      `The aggregator output ${name} is missing or not one finite number.`,
      { output: name },
    );
  }
  return value[0];
}

function vectorOutput(
  outputs: ort.InferenceSession.OnnxValueMapType,
  name: string,
  count: number,
): Float32Array {
  const value = outputs[name]?.data as Float32Array | undefined;
  if (value === undefined || value.length !== count) {
    throw new ModelError(
      'MODEL_RUNTIME_FAILED',
      `The aggregator output ${name} is missing or does not have one value per patch (${count}).`,
      { output: name },
    );
  }
  return value;
}

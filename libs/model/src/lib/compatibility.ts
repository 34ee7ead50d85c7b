import {
  BAG_FORMAT_VERSION,
  DEFAULT_PREPROCESS_PARAMS,
  PADDING_HU,
  preprocessParamsHash,
} from '@dlco/preprocess';

import { ModelError } from './errors.ts';
import type { ModelCard } from './model-card.ts';

/** Preprocessing facts a model must share to accept the patches this preprocessing cuts. */
export interface PreprocessingContract {
  /** `preprocessParamsHash` of the running parameters. */
  hash: string;
  bagFormatVersion: number;
  /** Patch edge length S, in working-grid voxels. */
  patchSizeVoxels: number;
}

/** Returns the contract of `DEFAULT_PREPROCESS_PARAMS`, the preprocessing `dlco predict` runs. */
export function runningPreprocessing(): PreprocessingContract {
  return {
    hash: preprocessParamsHash(DEFAULT_PREPROCESS_PARAMS),
    bagFormatVersion: BAG_FORMAT_VERSION,
    patchSizeVoxels: DEFAULT_PREPROCESS_PARAMS.patchSizeVoxels,
  };
}

/**
 * Rejects a model trained on patches other than those the running preprocessing cuts: a
 * different preprocessing hash, bag format version or patch size would feed the model inputs it
 * never saw, and its estimates would be meaningless.
 *
 * @param dir - model folder, named in the message
 * @throws ModelError `MODEL_INCOMPATIBLE` naming both values and the fix.
 */
export function checkModelCompatibility(
  card: ModelCard,
  dir: string,
  running: PreprocessingContract = runningPreprocessing(),
): void {
  if (card.preprocessingHash !== running.hash) {
    throw new ModelError(
      'MODEL_INCOMPATIBLE',
      `Model ${dir} was trained on preprocessing hash ${card.preprocessingHash}, but this ` +
        `preprocessing has hash ${running.hash}. Use a model exported from bags made by this ` +
        'version of dlco preprocess, or run the dlco version the model was trained with.',
      { modelHash: card.preprocessingHash, runningHash: running.hash },
    );
  }
  if (!card.bagFormatVersions.includes(running.bagFormatVersion)) {
    throw new ModelError(
      'MODEL_INCOMPATIBLE',
      `Model ${dir} accepts bag format versions ${card.bagFormatVersions.join(', ')}, but this ` +
        `preprocessing writes version ${running.bagFormatVersion}. Export the model again with a ` +
        'dlco_train that reads this version.',
      {
        modelBagFormatVersions: card.bagFormatVersions,
        runningBagFormatVersion: running.bagFormatVersion,
      },
    );
  }
  if (card.encoder.patchSizeVoxels !== running.patchSizeVoxels) {
    throw new ModelError(
      'MODEL_INCOMPATIBLE',
      `Model ${dir} expects patches of ${card.encoder.patchSizeVoxels} voxels, but this ` +
        `preprocessing cuts ${running.patchSizeVoxels}. Export the model again from its checkpoint.`,
      {
        modelPatchSizeVoxels: card.encoder.patchSizeVoxels,
        runningPatchSizeVoxels: running.patchSizeVoxels,
      },
    );
  }
}

/** Dtypes the runtime feeds to the encoder, as the patch bag stores them. */
const ENCODER_INPUT_DTYPES: Record<string, string> = { hu: 'int16', mask: 'uint8' };

/**
 * Rejects a card whose graphs expect inputs the runtime does not send. The runtime passes raw
 * int16 HU, uint8 labels and raw metadata with NaN for missing values. HU scaling, mask
 * binarisation and metadata standardisation must therefore happen inside the graphs.
 *
 * @throws ModelError `MODEL_INCOMPATIBLE` naming the card field.
 */
export function checkNormalisationContract(card: ModelCard, dir: string): void {
  const { normalisation } = card as unknown as { normalisation: Record<string, unknown> };
  const inside: [string, string][] = [
    ['huScaling', 'encoder.onnx'],
    ['mask', 'encoder.onnx'],
  ];
  for (const [field, graph] of inside) {
    const text = normalisation[field];
    if (typeof text !== 'string' || !text.includes(`inside ${graph}`)) {
      throw incompatible(dir, `normalisation.${field}`, text, `applied inside ${graph}`);
    }
  }
  // Cards before the no-data channel have no noData entry; their bags used the same marker.
  const noData = normalisation.noData;
  if (
    noData !== undefined &&
    !(typeof noData === 'string' && noData.includes(String(PADDING_HU)))
  ) {
    throw incompatible(dir, 'normalisation.noData', noData, `hu == ${PADDING_HU} marks no data`);
  }
  const missing = normalisation.metadataMissing;
  if (typeof missing !== 'string' || !missing.includes('NaN')) {
    throw incompatible(dir, 'normalisation.metadataMissing', missing, 'pass NaN');
  }
  for (const input of card.encoder.inputs) {
    const expected = ENCODER_INPUT_DTYPES[input.name];
    if (expected === undefined || input.dtype !== expected) {
      throw incompatible(dir, `encoder input ${input.name}`, input.dtype, expected ?? 'hu or mask');
    }
  }
}

function incompatible(dir: string, field: string, received: unknown, expected: string): ModelError {
  return new ModelError(
    'MODEL_INCOMPATIBLE',
    `Model ${dir}: ${field} is ${JSON.stringify(received) ?? 'missing'}, but this runtime needs ` +
      `'${expected}' because it feeds raw bag values to the graphs. Export the model again with ` +
      'dlco_train.export, or update @dlco/model.',
    { field, received },
  );
}

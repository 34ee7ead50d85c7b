import {
  BAG_FORMAT_VERSION,
  DEFAULT_PREPROCESS_PARAMS,
  preprocessParamsHash,
} from '@dlco/preprocess';

import { ModelError } from './errors.ts';
import type { ModelCard } from './model-card.ts';

/** What a model must have been trained on to accept the patches this preprocessing makes. */
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

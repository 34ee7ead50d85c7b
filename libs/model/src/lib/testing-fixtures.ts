import { cp, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import { readPatchBag, type Logger, type PatchBag } from '@dlco/preprocess';

/** Folder of the tiny test models that `scripts/make-tiny-model.sh` writes. */
export const TESTDATA_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '../../testdata');
export const TINY_MODEL_DIR = join(TESTDATA_DIR, 'tiny-model');
export const TINY_ATTENTION_MODEL_DIR = join(TESTDATA_DIR, 'tiny-model-attention');
export const TINY_RETAINED_FRACTION_MODEL_DIR = join(TESTDATA_DIR, 'tiny-model-retained-fraction');

/** PyTorch outputs stored next to a tiny model, for the bag in `<model>-bag`. */
export interface ExpectedOutputs {
  modelId: string;
  bag: string;
  /** Raw metadata vector; null where the value is missing (NaN). */
  metadata: (number | null)[];
  metadataNames: string[];
  embeddings: number[][];
  referenceEmbeddingAllLung: number[];
  outputs: Record<string, number[]>;
}

/** Reads a tiny model's `expected.json` and its fixed bag. */
export async function readExpected(
  modelDir: string,
): Promise<{ expected: ExpectedOutputs; bag: PatchBag }> {
  const expected = JSON.parse(
    await readFile(join(modelDir, 'expected.json'), 'utf8'),
  ) as ExpectedOutputs;
  const bag = await readPatchBag(join(dirname(modelDir), expected.bag));
  return { expected, bag };
}

/** Copies a model folder to a new temporary folder and applies `edit` to its card. */
export async function copyModelWithCard(
  modelDir: string,
  edit: (card: Record<string, unknown>) => void,
): Promise<string> {
  const copy = join(await mkdtemp(join(tmpdir(), 'dlco-model-')), 'model');
  await cp(modelDir, copy, { recursive: true });
  const cardPath = join(copy, 'model-card.json');
  const card = JSON.parse(await readFile(cardPath, 'utf8')) as Record<string, unknown>;
  edit(card);
  await writeFile(cardPath, JSON.stringify(card));
  return copy;
}

/** One captured log call. */
export interface LogRecord {
  level: 'debug' | 'info' | 'warn' | 'error';
  fields: Record<string, unknown>;
  message: string;
}

/** A logger that stores every call in `records`. */
export function recordingLogger(): Logger & { records: LogRecord[] } {
  const records: LogRecord[] = [];
  const at = (level: LogRecord['level']) => (fields: Record<string, unknown>, message: string) => {
    records.push({ level, fields, message });
  };
  return { records, debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}

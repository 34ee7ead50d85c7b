import { basename } from 'node:path';

import type { GridGeometryJson, PatchBag } from '../bag/patch-bag-types.ts';
import type { GridGeometry } from '../geometry/grid-geometry.ts';
import { BAG_FORMAT_VERSION, preprocessParamsHash } from '../params.ts';
import type { QctTable } from '../qct/compute-qct.ts';
import type { QctMetrics } from '../qct/histogram.ts';
import type { PreprocessScanResult } from './preprocess-scan.ts';

/**
 * Assembles the patch bag of a preprocessed scan, ready for `writePatchBag`.
 *
 * `source.fileName` is the base name of `scanPath` only, so folder names that may contain
 * patient identifiers stay out of the bag.
 *
 * @example
 * await writePatchBag(`out/${id}`, createPatchBag(result, scanPath));
 */
export function createPatchBag(result: PreprocessScanResult, scanPath: string): PatchBag {
  const { patches, params } = result;
  const { droppedLungFraction, lungVolumeMl, ...patchArrays } = patches;
  return {
    metadata: {
      formatVersion: BAG_FORMAT_VERSION,
      preprocessing: { ...params },
      preprocessingHash: preprocessParamsHash(params),
      source: { fileName: basename(scanPath), format: result.read.format },
      inputGeometry: geometryJson(result.working.source),
      workingGeometry: geometryJson(result.working.volume),
      zones: Object.fromEntries(
        Object.entries(result.zones.names).map(([code, name]) => [String(code), name]),
      ),
      coverage: { ...result.coverage },
      warnings: [...result.warnings],
      qct: qctByRegion(result.qct),
      patchCount: patches.count,
      droppedLungFraction,
      lungVolumeMl,
    },
    patches: patchArrays,
  };
}

/**
 * Keys the QCT rows by region name (`whole`, `right`, `left`, `right-upper`, ..., zone names),
 * the form `bag.json` and `dlco inspect --json` use.
 */
export function qctByRegion(table: QctTable): Record<string, QctMetrics> {
  const regions: Record<string, QctMetrics> = {};
  for (const { region, ...metrics } of table.rows) regions[region] = metrics;
  return regions;
}

/** Converts a grid's geometry to plain JSON arrays. */
export function geometryJson(grid: GridGeometry): GridGeometryJson {
  return {
    size: [...grid.size],
    spacingMm: [...grid.spacingMm],
    originMm: [...grid.originMm],
    direction: Array.from(grid.direction),
  };
}

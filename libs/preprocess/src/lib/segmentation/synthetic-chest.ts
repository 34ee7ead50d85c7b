import { PADDING_HU, type Volume } from '../volume.ts';

/** Layout of `makeSyntheticChest`. */
export interface SyntheticChestOptions {
  size: [number, number, number];
  spacingMm: [number, number, number];
  /** Half-width of the body ellipse along x, in mm (default 160). */
  bodyHalfWidthMm?: number;
  /** Whether voxels outside a circular field of view hold `PADDING_HU` (default true). */
  circularFov?: boolean;
}

/** Analytic regions of the phantom, to check a segmentation against. */
export interface SyntheticChest {
  volume: Volume;
  /** 1 right lung, 2 left lung, 3 trachea or main bronchus, 4 air outside the body, 0 else. */
  truth: Uint8Array;
}

/**
 * Builds a chest phantom centred on the LPS origin. It contains an elliptic body (40 HU) with air
 * outside (-1000 HU), two ellipsoid lungs (-850 HU) with vessels, a trachea from the top of the
 * image down to a carina, two main bronchi, and a table under the back. Each lung contains about
 * 2.4 L when the image does not cut it.
 * @internal Test and benchmark fixture.
 */
export function makeSyntheticChest(options: SyntheticChestOptions): SyntheticChest {
  const { size, spacingMm } = options;
  const [n0, n1, n2] = size;
  const halfWidth = options.bodyHalfWidthMm ?? 160;
  const origin = [0, 1, 2].map((a) => (-(size[a] - 1) * spacingMm[a]) / 2) as [
    number,
    number,
    number,
  ];
  const fovRadius = (Math.min(n0 * spacingMm[0], n1 * spacingMm[1]) / 2) * 0.98;
  const data = new Int16Array(n0 * n1 * n2);
  const truth = new Uint8Array(n0 * n1 * n2);

  const zTop = origin[2] + (n2 - 1) * spacingMm[2];
  const lungCentreZ = zTop - 150;
  const carinaZ = lungCentreZ + 50;

  let n = 0;
  for (let k = 0; k < n2; k++) {
    const z = origin[2] + k * spacingMm[2];
    for (let j = 0; j < n1; j++) {
      const y = origin[1] + j * spacingMm[1];
      for (let i = 0; i < n0; i++, n++) {
        const x = origin[0] + i * spacingMm[0];
        const value = chestValue(x, y, z, halfWidth, lungCentreZ, carinaZ);
        data[n] = value.hu;
        truth[n] = value.region;
        if (options.circularFov !== false && x * x + y * y > fovRadius * fovRadius) {
          data[n] = PADDING_HU;
          truth[n] = 0;
        }
      }
    }
  }
  const direction = Float64Array.of(1, 0, 0, 0, 1, 0, 0, 0, 1);
  return { volume: { size, spacingMm, originMm: origin, direction, data }, truth };
}

function chestValue(
  x: number,
  y: number,
  z: number,
  halfWidth: number,
  lungCentreZ: number,
  carinaZ: number,
): { hu: number; region: number } {
  if (y > 125 && y < 140 && Math.abs(x) < 200) return { hu: 300, region: 0 };
  if ((x / halfWidth) ** 2 + (y / 115) ** 2 > 1) return { hu: -1000, region: 4 };
  if (z > carinaZ && Math.hypot(x, y + 30) < 9) return { hu: -1000, region: 3 };
  for (const side of [-1, 1]) {
    // Main bronchus from the carina down and out to the hilum.
    const t = Math.min(1, Math.max(0, (carinaZ - z) / 30));
    const bx = side * 50 * t;
    const by = -30 + 20 * t;
    if (z <= carinaZ && z >= carinaZ - 30 && Math.hypot(x - bx, y - by) < 6)
      return { hu: -1000, region: 3 };
  }
  for (const side of [-1, 1]) {
    const dx = (x - side * 80) / 58;
    const dy = y / 85;
    const dz = (z - lungCentreZ) / 120;
    if (dx * dx + dy * dy + dz * dz <= 1) {
      const vessel = Math.hypot(((x + 200) % 30) - 15, ((y + 200) % 30) - 15) < 2.5;
      return { hu: vessel ? 40 : -850, region: side < 0 ? 1 : 2 };
    }
  }
  return { hu: 40, region: 0 };
}

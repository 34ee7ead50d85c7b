import { gzipSync } from 'node:zlib';

/** Size and spacing of the synthetic chest CT. */
export interface ChestPhantomOptions {
  size: [number, number, number];
  spacingMm: [number, number, number];
  /** Seed of the noise and vessel layout, so that every run measures the same file. */
  seed: number;
}

export const BENCH_PHANTOM: ChestPhantomOptions = {
  size: [512, 512, 400],
  spacingMm: [0.7, 0.7, 1.0],
  seed: 20261204,
};

const AIR_HU = -1000;
const SOFT_TISSUE_HU = 40;
const LUNG_HU = -850;
const VESSEL_HU = 40;
const OUTSIDE_FOV_HU = -3024;

/** Returns a seeded uniform generator on [0, 1) (mulberry32). */
function uniformGenerator(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Vessel {
  x: number;
  y: number;
  radius: number;
  /** Sideways drift per slice, in voxels. */
  dx: number;
}

/**
 * Builds an int16 chest-like CT in HU, i fastest. It has a soft-tissue body ellipse in air, two
 * lungs of -850 HU with noise (standard deviation about 20 HU), vertical vessels in the lungs, a
 * trachea in the upper chest, and -3024 HU outside a circular field of view. Voxel (0, 0, 0) is
 * the patient's right, anterior, inferior corner, so i and j point left and posterior as in LPS.
 */
export function buildChestPhantom(options: ChestPhantomOptions): Int16Array {
  const [nx, ny, nz] = options.size;
  const random = uniformGenerator(options.seed);
  const data = new Int16Array(nx * ny * nz);
  const cx = nx / 2;
  const cy = ny / 2;
  const fovRadius = Math.min(nx, ny) / 2;
  const body = { a: nx * 0.34, b: ny * 0.24 };
  const lungs = [-1, 1].map((sign) => ({
    cx: cx + sign * nx * 0.15,
    cy: cy - ny * 0.01,
    a: nx * 0.11,
    b: ny * 0.16,
    z0: nz * 0.1,
    z1: nz * 0.85,
  }));
  const vessels: Vessel[] = Array.from({ length: 40 }, (_, n) => {
    const lung = lungs[n % 2];
    return {
      x: lung.cx + (random() - 0.5) * lung.a,
      y: lung.cy + (random() - 0.5) * lung.b,
      radius: 1.5 + random() * 3,
      dx: (random() - 0.5) * 0.2,
    };
  });
  // Gaussian-like noise from the sum of three uniforms, precomputed so the voxel loop stays cheap.
  const noise = Int16Array.from({ length: 65536 }, () =>
    Math.round((random() + random() + random() - 1.5) * 40),
  );

  let index = 0;
  for (let k = 0; k < nz; k++) {
    const lungScale = lungs.map((lung) => lungCrossSection(k, lung.z0, lung.z1));
    for (let j = 0; j < ny; j++) {
      for (let i = 0; i < nx; i++, index++) {
        const n = noise[Math.imul(index, 0x9e3779b1) >>> 16];
        const dx = i - cx;
        const dy = j - cy;
        if (dx * dx + dy * dy > fovRadius * fovRadius) {
          data[index] = OUTSIDE_FOV_HU;
          continue;
        }
        if ((dx / body.a) ** 2 + (dy / body.b) ** 2 > 1) {
          data[index] = AIR_HU + (n >> 2);
          continue;
        }
        data[index] = tissueAt(i, j, k, nz, lungs, lungScale, vessels, cx, cy) + n;
      }
    }
  }
  return data;
}

/** Share of a lung's full cross-section at slice k: a dome towards the apex, flat at the base. */
function lungCrossSection(k: number, z0: number, z1: number): number {
  if (k < z0 || k > z1) return 0;
  const t = (k - z0) / (z1 - z0);
  return t < 0.6 ? 1 : Math.sqrt(Math.max(0, 1 - ((t - 0.6) / 0.4) ** 2));
}

function tissueAt(
  i: number,
  j: number,
  k: number,
  nz: number,
  lungs: Array<{ cx: number; cy: number; a: number; b: number }>,
  lungScale: number[],
  vessels: Vessel[],
  cx: number,
  cy: number,
): number {
  const tracheaRadius = 12;
  const tracheaY = cy - 0.12 * cx;
  if (k > nz * 0.7 && (i - cx) ** 2 + (j - tracheaY) ** 2 < tracheaRadius ** 2) {
    return AIR_HU;
  }
  for (let side = 0; side < 2; side++) {
    const scale = lungScale[side];
    if (scale === 0) continue;
    const lung = lungs[side];
    const u = (i - lung.cx) / (lung.a * scale);
    const v = (j - lung.cy) / (lung.b * scale);
    if (u * u + v * v > 1) continue;
    for (let n = side; n < vessels.length; n += 2) {
      const vessel = vessels[n];
      const vx = vessel.x + vessel.dx * k;
      if ((i - vx) ** 2 + (j - vessel.y) ** 2 < vessel.radius ** 2) return VESSEL_HU;
    }
    return LUNG_HU;
  }
  return SOFT_TISSUE_HU;
}

/**
 * Encodes an int16 volume as gzip-compressed NIfTI-1 (.nii.gz) with an sform that maps voxel
 * (i, j, k) to LPS `(i * sx, j * sy, k * sz)`. NIfTI stores RAS, so the first two sform rows
 * are negated.
 */
export function encodeNiftiGz(
  data: Int16Array,
  size: [number, number, number],
  spacingMm: [number, number, number],
): Buffer {
  const headerBytes = 348;
  const voxOffset = 352;
  const bytes = Buffer.alloc(voxOffset + data.byteLength);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  view.setInt32(0, headerBytes, true);
  view.setInt16(40, 3, true);
  size.forEach((length, axis) => view.setInt16(42 + 2 * axis, length, true));
  for (let dim = 4; dim < 8; dim++) view.setInt16(40 + 2 * dim, 1, true);
  view.setInt16(70, 4, true); // datatype: int16
  view.setInt16(72, 16, true); // bitpix
  view.setFloat32(76, 1, true); // qfac
  spacingMm.forEach((spacing, axis) => view.setFloat32(80 + 4 * axis, spacing, true));
  view.setFloat32(108, voxOffset, true);
  view.setFloat32(112, 1, true); // scl_slope
  view.setFloat32(116, 0, true); // scl_inter
  view.setUint8(123, 2 | 8); // millimetres and seconds
  view.setInt16(252, 0, true); // qform_code: unknown
  view.setInt16(254, 1, true); // sform_code: scanner
  const rows = [
    [-spacingMm[0], 0, 0, 0],
    [0, -spacingMm[1], 0, 0],
    [0, 0, spacingMm[2], 0],
  ];
  rows.flat().forEach((value, n) => view.setFloat32(280 + 4 * n, value, true));
  bytes.write('n+1\0', 344, 'latin1');
  Buffer.from(data.buffer, data.byteOffset, data.byteLength).copy(bytes, voxOffset);
  return gzipSync(bytes, { level: 6 });
}

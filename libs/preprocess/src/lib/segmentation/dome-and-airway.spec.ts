import { describe, expect, it } from 'vitest';
import { squaredDistanceToBackground } from './distance-transform.ts';
import { segmentLungs } from './segment-lungs.ts';
import { makeSyntheticChest } from './synthetic-chest.ts';

const SIZE: [number, number, number] = [120, 120, 150];
const SPACING: [number, number, number] = [2, 2, 2];
/** Right lung centre in x and the lung half-axes of `makeSyntheticChest`, in mm. */
const RIGHT_LUNG_X = -80;
const LUNG_HALF_AXES = [58, 85, 120];
/** Top of the soft-tissue dome, in mm. The right lung base lies near z = -121 mm. */
const DOME_APEX_Z = -60;
/** How fast the dome surface drops with the squared distance from its axis, in 1/mm. */
const DOME_CURVATURE = 0.03125;
/** Nodule in the left lung: centre and radius, in mm. */
const NODULE = { centre: [80, 0, 0], radiusMm: 6 };
/**
 * Largest distance of a removed airway voxel from the true airway, in mm: the 2 mm widening
 * plus the two growth layers (4 mm) that `growIntoBronchi` may keep past a bronchus end.
 */
const AIRWAY_CUT_MARGIN_MM = 6;

/**
 * Adds to the synthetic chest a liver dome that rises from below into the right lung base, so that
 * axial slices between about z = -85 and -60 mm show it as a soft-tissue island surrounded by lung,
 * and a solid nodule inside the left lung. Returns the chest with masks of both.
 */
function makeChestWithDomeAndNodule() {
  const phantom = makeSyntheticChest({ size: SIZE, spacingMm: SPACING, circularFov: false });
  const { volume, truth } = phantom;
  const [n0, n1, n2] = SIZE;
  const dome = new Uint8Array(truth.length);
  const nodule = new Uint8Array(truth.length);
  const lungCentreZ = volume.originMm[2] + (n2 - 1) * SPACING[2] - 150;
  let n = 0;
  for (let k = 0; k < n2; k++) {
    const z = volume.originMm[2] + k * SPACING[2];
    for (let j = 0; j < n1; j++) {
      const y = volume.originMm[1] + j * SPACING[1];
      for (let i = 0; i < n0; i++, n++) {
        const x = volume.originMm[0] + i * SPACING[0];
        const inRightLung =
          ((x - RIGHT_LUNG_X) / LUNG_HALF_AXES[0]) ** 2 +
            (y / LUNG_HALF_AXES[1]) ** 2 +
            ((z - lungCentreZ) / LUNG_HALF_AXES[2]) ** 2 <=
          1;
        const underDome = (x - RIGHT_LUNG_X) ** 2 + y ** 2 < (DOME_APEX_Z - z) / DOME_CURVATURE;
        if (inRightLung && underDome) {
          volume.data[n] = 40;
          dome[n] = 1;
        }
        const [cx, cy, cz] = NODULE.centre;
        if (Math.hypot(x - cx, y - cy, z - cz) <= NODULE.radiusMm) {
          volume.data[n] = 40;
          nodule[n] = 1;
        }
      }
    }
  }
  return { ...phantom, dome, nodule };
}

describe('segmentLungs with a diaphragm dome and a nodule', () => {
  const phantom = makeChestWithDomeAndNodule();
  const result = segmentLungs(phantom.volume);
  const labels = result.labels.data;
  const [n0, n1] = SIZE;
  const plane = n0 * n1;

  it('excludes the dome', () => {
    let domeVoxels = 0;
    let domeAsLung = 0;
    for (let n = 0; n < labels.length; n++) {
      if (!phantom.dome[n]) continue;
      domeVoxels++;
      if (labels[n]) domeAsLung++;
    }
    expect(domeVoxels).toBeGreaterThan(1000);
    expect(domeAsLung / domeVoxels).toBeLessThan(0.02);
  });

  it('excludes the dome island per slice', () => {
    // Slices where lung surrounds the dome, which per-slice hole filling would fill. The top
    // 10 mm are skipped because the 10 mm closing rounds off the lung above the dome tip.
    const zOf = (k: number) => phantom.volume.originMm[2] + k * SPACING[2];
    let islandSlices = 0;
    for (let k = 0; k < SIZE[2]; k++) {
      const z = zOf(k);
      if (z < -85 || z > DOME_APEX_Z - 10) continue;
      islandSlices++;
      let domeVoxels = 0;
      let domeAsLung = 0;
      for (let p = 0; p < plane; p++) {
        if (!phantom.dome[k * plane + p]) continue;
        domeVoxels++;
        if (labels[k * plane + p]) domeAsLung++;
      }
      expect(domeAsLung, `slice z = ${z} mm`).toBeLessThanOrEqual(0.1 * domeVoxels);
    }
    expect(islandSlices).toBeGreaterThan(5);
  });

  it('keeps the nodule inside the lung', () => {
    let noduleVoxels = 0;
    let noduleAsLung = 0;
    for (let n = 0; n < labels.length; n++) {
      if (!phantom.nodule[n]) continue;
      noduleVoxels++;
      if (labels[n]) noduleAsLung++;
    }
    expect(noduleVoxels).toBeGreaterThan(50);
    expect(noduleAsLung).toBe(noduleVoxels);
  });

  it('keeps the vessels inside the lung', () => {
    let vesselVoxels = 0;
    let vesselsAsLung = 0;
    for (let n = 0; n < labels.length; n++) {
      const inLung = phantom.truth[n] === 1 || phantom.truth[n] === 2;
      if (!inLung || phantom.dome[n] || phantom.volume.data[n] !== 40) continue;
      vesselVoxels++;
      if (labels[n]) vesselsAsLung++;
    }
    expect(vesselVoxels).toBeGreaterThan(1000);
    expect(vesselsAsLung / vesselVoxels).toBeGreaterThan(0.95);
  });
});

describe('airway removal on a synthetic chest', () => {
  const phantom = makeSyntheticChest({ size: SIZE, spacingMm: SPACING, circularFov: false });
  const result = segmentLungs(phantom.volume);

  it('stays near the true airway', () => {
    // Background of this mask is the true airway, so each value is the squared distance to it.
    const notAirway = new Uint8Array(phantom.truth.length);
    for (let n = 0; n < notAirway.length; n++) notAirway[n] = phantom.truth[n] === 3 ? 0 : 1;
    const distance = squaredDistanceToBackground(notAirway, SIZE, SPACING);
    let removed = 0;
    let maxDistanceMm = 0;
    for (let n = 0; n < distance.length; n++) {
      if (!result.airway[n]) continue;
      removed++;
      maxDistanceMm = Math.max(maxDistanceMm, Math.sqrt(distance[n]));
    }
    console.log(`airway cut: ${removed} voxels, at most ${maxDistanceMm.toFixed(1)} mm from it`);
    expect(removed).toBeGreaterThan(0);
    expect(maxDistanceMm).toBeLessThanOrEqual(AIRWAY_CUT_MARGIN_MM);
  });

  it('removes most of the true airway', () => {
    let airway = 0;
    let removed = 0;
    for (let n = 0; n < phantom.truth.length; n++) {
      if (phantom.truth[n] !== 3) continue;
      airway++;
      if (result.airway[n]) removed++;
    }
    expect(removed / airway).toBeGreaterThan(0.9);
  });
});

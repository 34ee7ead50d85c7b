import { describe, expect, it } from 'vitest';
import { ExplainRangeError, ExplainTypeError } from './errors.ts';
import { slidingWindowOcclusion } from './sliding-window-occlusion.ts';
import type { VoxelData } from './sliding-window-types.ts';

/** Linear model f(x) = Σ w·x, computed in double precision. */
function linearModel(weights: ArrayLike<number>) {
  let calls = 0;
  const predict = async (data: VoxelData): Promise<number> => {
    calls++;
    let sum = 0;
    for (let i = 0; i < data.length; i++) sum += weights[i] * data[i];
    return sum;
  };
  return { predict, calls: () => calls };
}

function ramp(length: number, scale = 1): Float32Array {
  return Float32Array.from({ length }, (_, i) => (i + 1) * scale);
}

describe('slidingWindowOcclusion', () => {
  it('single-voxel windows on linear model give w·(x − baseline)', async () => {
    const data = ramp(12);
    const weights = Float32Array.from({ length: 12 }, (_, i) => (i % 3) - 1 + i * 0.5);
    const model = linearModel(weights);
    const result = await slidingWindowOcclusion({ data, size: [3, 2, 2] }, model.predict, {
      windowVoxels: [1, 1, 1],
      strideVoxels: [1, 1, 1],
      baseline: -2,
    });
    for (let i = 0; i < 12; i++) {
      expect(result.attribution[i], `voxel ${i}`).toBe(Math.fround(weights[i] * (data[i] + 2)));
    }
  });

  it('overlapping windows average per voxel', async () => {
    const model = linearModel([1, 10, 100, 1000]);
    const result = await slidingWindowOcclusion(
      { data: Float32Array.from([1, 2, 3, 4]), size: [4, 1, 1] },
      model.predict,
      { windowVoxels: [2, 1, 1], strideVoxels: [1, 1, 1], baseline: 0 },
    );
    // Window differences: [0,2) 1 + 20 = 21, [1,3) 20 + 300 = 320, [2,4) 300 + 4000 = 4300.
    expect(Array.from(result.windowDifferences)).toEqual([21, 320, 4300]);
    expect(result.attribution[0]).toBe(21);
    expect(result.attribution[1]).toBe((21 + 320) / 2);
    expect(result.attribution[2]).toBe((320 + 4300) / 2);
    expect(result.attribution[3]).toBe(4300);
    expect(Array.from(result.coverage)).toEqual([1, 2, 2, 1]);
  });

  it('evaluation count is windows plus one', async () => {
    const model = linearModel(ramp(60));
    const result = await slidingWindowOcclusion({ data: ramp(60), size: [5, 4, 3] }, model.predict, {
      windowVoxels: [2, 2, 2],
      strideVoxels: [2, 2, 2],
      baseline: 0,
    });
    // Starts per axis: x 0, 2, 4 (last truncated), y 0, 2, z 0, 2 (truncated): 3 · 2 · 2 windows.
    expect(result.windows).toHaveLength(12);
    expect(result.evaluations).toBe(13);
    expect(model.calls()).toBe(13);
  });

  it('edge window is truncated at the volume border', async () => {
    const model = linearModel([1, 1, 1, 1, 1]);
    const result = await slidingWindowOcclusion(
      { data: ramp(5), size: [5, 1, 1] },
      model.predict,
      { windowVoxels: [2, 1, 1], strideVoxels: [2, 1, 1], baseline: 0 },
    );
    expect(result.windows.map((box) => [box.min[0], box.max[0]])).toEqual([
      [0, 2],
      [2, 4],
      [4, 5],
    ]);
    expect(Array.from(result.coverage)).toEqual([1, 1, 1, 1, 1]);
    expect(result.attribution[4]).toBe(5);
  });

  it('mask skips windows outside it', async () => {
    const mask = Uint8Array.from([0, 0, 0, 0, 1, 0]);
    const model = linearModel([1, 1, 1, 1, 1, 1]);
    const result = await slidingWindowOcclusion({ data: ramp(6), size: [6, 1, 1] }, model.predict, {
      windowVoxels: [2, 1, 1],
      strideVoxels: [2, 1, 1],
      baseline: 0,
      mask,
    });
    expect(result.evaluations).toBe(2);
    expect(Array.from(result.attribution)).toEqual([0, 0, 0, 0, 11, 11]);
    expect(Array.from(result.coverage)).toEqual([0, 0, 0, 0, 1, 1]);
  });

  it('divide spread conserves mass when windows tile', async () => {
    const model = linearModel(ramp(24, 0.25));
    const result = await slidingWindowOcclusion({ data: ramp(24), size: [4, 3, 2] }, model.predict, {
      windowVoxels: [2, 3, 1],
      strideVoxels: [2, 3, 1],
      baseline: 1,
      spread: 'divide',
    });
    const mass = result.attribution.reduce((sum, value) => sum + value, 0);
    const differenceSum = result.windowDifferences.reduce((sum, value) => sum + value, 0);
    expect(mass).toBeCloseTo(differenceSum, 3);
  });

  it('leaves the input volume unchanged', async () => {
    const data = Int16Array.from([10, 20, 30, 40]);
    const seen: number[][] = [];
    await slidingWindowOcclusion(
      { data, size: [2, 2, 1] },
      async (buffer) => {
        seen.push(Array.from(buffer));
        return 0;
      },
      { windowVoxels: [1, 2, 1], strideVoxels: [1, 2, 1], baseline: -1000 },
    );
    expect(Array.from(data)).toEqual([10, 20, 30, 40]);
    expect(seen).toEqual([
      [10, 20, 30, 40],
      [-1000, 20, -1000, 40],
      [10, -1000, 30, -1000],
    ]);
  });

  it('concurrent evaluation matches sequential', async () => {
    const weights = ramp(48, -0.1);
    const delayed = async (data: VoxelData) => {
      await new Promise((resolve) => setTimeout(resolve, Math.random() * 3));
      return linearModel(weights).predict(data);
    };
    const options = { windowVoxels: [3, 2, 2], strideVoxels: [1, 1, 1], baseline: 0 } as const;
    const volume = { data: ramp(48), size: [4, 4, 3] } as const;
    const sequential = await slidingWindowOcclusion(volume, delayed, options);
    const parallel = await slidingWindowOcclusion(volume, delayed, { ...options, concurrency: 4 });
    expect(Array.from(parallel.attribution)).toEqual(Array.from(sequential.attribution));
    expect(parallel.evaluations).toBe(sequential.evaluations);
  });

  it('reports progress after every evaluation', async () => {
    const progress: string[] = [];
    await slidingWindowOcclusion({ data: ramp(3), size: [3, 1, 1] }, async () => 1, {
      windowVoxels: [1, 1, 1],
      strideVoxels: [1, 1, 1],
      baseline: 0,
      onProgress: ({ evaluations, total }) => progress.push(`${evaluations}/${total}`),
    });
    expect(progress).toEqual(['1/4', '2/4', '3/4', '4/4']);
  });
});

describe('slidingWindowOcclusion BAD CALL', () => {
  const volume = { data: ramp(8), size: [2, 2, 2] } as const;
  const model = async () => 0;

  it('negative stride raises RangeError', async () => {
    const call = slidingWindowOcclusion(volume, model, {
      windowVoxels: [1, 1, 1],
      strideVoxels: [-1, 1, 1],
      baseline: 0,
    });
    await expect(call).rejects.toBeInstanceOf(ExplainRangeError);
    await expect(call).rejects.toThrow(/options\.strideVoxels\[0\] \(x\) must be at least 1, received -1/);
    await expect(call).rejects.toMatchObject({ code: 'EXPLAIN_OUT_OF_RANGE' });
  });

  it('window larger than volume raises RangeError', async () => {
    const call = slidingWindowOcclusion(volume, model, {
      windowVoxels: [2, 3, 1],
      strideVoxels: [1, 1, 1],
      baseline: 0,
    });
    await expect(call).rejects.toBeInstanceOf(ExplainRangeError);
    await expect(call).rejects.toThrow(/\[2, 3, 1\] is larger than the volume \[2, 2, 2\] along axis y/);
  });

  it('fractional window raises TypeError', async () => {
    const call = slidingWindowOcclusion(volume, model, {
      windowVoxels: [1.5, 1, 1],
      strideVoxels: [1, 1, 1],
      baseline: 0,
    });
    await expect(call).rejects.toBeInstanceOf(ExplainTypeError);
    await expect(call).rejects.toThrow(/options\.windowVoxels\[0\] \(x\) must be an integer/);
  });

  it('data length mismatch raises TypeError', async () => {
    const call = slidingWindowOcclusion({ data: ramp(7), size: [2, 2, 2] }, model, {
      windowVoxels: [1, 1, 1],
      strideVoxels: [1, 1, 1],
      baseline: 0,
    });
    await expect(call).rejects.toBeInstanceOf(ExplainTypeError);
    await expect(call).rejects.toThrow(/volume\.data must have 8 elements/);
  });

  it('fractional baseline on Int16 volume raises RangeError', async () => {
    const call = slidingWindowOcclusion({ data: new Int16Array(8), size: [2, 2, 2] }, model, {
      windowVoxels: [1, 1, 1],
      strideVoxels: [1, 1, 1],
      baseline: -0.5,
    });
    await expect(call).rejects.toBeInstanceOf(ExplainRangeError);
    await expect(call).rejects.toThrow(/options\.baseline must be an integer in \[-32768, 32767\]/);
  });

  it('evaluation budget is checked before any call', async () => {
    let calls = 0;
    const call = slidingWindowOcclusion(
      volume,
      async () => {
        calls++;
        return 0;
      },
      { windowVoxels: [1, 1, 1], strideVoxels: [1, 1, 1], baseline: 0, maxEvaluations: 8 },
    );
    await expect(call).rejects.toMatchObject({ code: 'EXPLAIN_EVALUATION_BUDGET_EXCEEDED' });
    await expect(call).rejects.toThrow(/needs 9 model evaluations/);
    expect(calls).toBe(0);
  });

  it('NaN model output raises RangeError', async () => {
    const call = slidingWindowOcclusion(volume, async () => Number.NaN, {
      windowVoxels: [2, 2, 2],
      strideVoxels: [1, 1, 1],
      baseline: 0,
    });
    await expect(call).rejects.toBeInstanceOf(ExplainRangeError);
    await expect(call).rejects.toMatchObject({ code: 'EXPLAIN_MODEL_OUTPUT_INVALID' });
  });

  it('aborted signal stops evaluation', async () => {
    const controller = new AbortController();
    controller.abort(new Error('cancelled by caller'));
    const call = slidingWindowOcclusion(volume, model, {
      windowVoxels: [1, 1, 1],
      strideVoxels: [1, 1, 1],
      baseline: 0,
      signal: controller.signal,
    });
    await expect(call).rejects.toThrow('cancelled by caller');
  });
});

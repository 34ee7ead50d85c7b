import { describe, expect, it } from 'vitest';
import { ExplainRangeError, ExplainTypeError } from './errors.ts';
import { MAX_SHAPLEY_PLAYERS, zoneShapley } from './zone-shapley.ts';

const SIX_ZONES = ['RU', 'RM', 'RL', 'LU', 'LM', 'LL'];

/** Deterministic non-additive game: pairwise synergies plus a threshold bonus. */
function interactingGame(zones: readonly string[]) {
  return async (coalition: Set<string>): Promise<number> => {
    const kept = zones.map((zone) => (coalition.has(zone) ? 1 : 0));
    let value = 3;
    kept.forEach((k, i) => {
      value += k * (i + 1) * 1.5;
      kept.forEach((other, j) => {
        if (j > i) value += k * other * Math.cos(i * 7 + j);
      });
    });
    return coalition.size >= zones.length / 2 ? value + 10 : value;
  };
}

describe('zoneShapley', () => {
  it('additive game returns each zone its own value', async () => {
    const own = new Map(SIX_ZONES.map((zone, i) => [zone, (i - 2) * 0.75]));
    const result = await zoneShapley(SIX_ZONES, async (coalition) => {
      let value = 40;
      for (const zone of coalition) value += own.get(zone) as number;
      return value;
    });
    for (const zone of SIX_ZONES) {
      expect(result.byZone.get(zone), zone).toBeCloseTo(own.get(zone) as number, 12);
    }
  });

  it('three-player game matches hand-computed values', async () => {
    const table: Record<string, number> = {
      '': 0, A: 0, B: 0, C: 0, AB: 90, AC: 80, BC: 70, ABC: 120,
    };
    const result = await zoneShapley(['A', 'B', 'C'], async (coalition) => {
      return table[[...coalition].sort().join('')];
    });
    // φA = 90/6 + 80/6 + (120 − 70)/3 = 45, φB = 90/6 + 70/6 + (120 − 80)/3 = 40,
    // φC = 80/6 + 70/6 + (120 − 90)/3 = 35.
    expect(result.byZone.get('A')).toBeCloseTo(45, 12);
    expect(result.byZone.get('B')).toBeCloseTo(40, 12);
    expect(result.byZone.get('C')).toBeCloseTo(35, 12);
  });

  it('values sum to v(all) − v(∅)', async () => {
    const zones = Array.from({ length: 12 }, (_, i) => `zone${i}`);
    const result = await zoneShapley(zones, interactingGame(zones));
    const sum = result.values.reduce((total, value) => total + value, 0);
    expect(result.emptyValue).toBe(3);
    expect(sum).toBeCloseTo(result.fullValue - result.emptyValue, 9);
  });

  it('evaluates every coalition exactly once', async () => {
    const seen = new Map<string, number>();
    const result = await zoneShapley(SIX_ZONES, async (coalition) => {
      const key = [...coalition].sort().join('+');
      seen.set(key, (seen.get(key) ?? 0) + 1);
      return coalition.size;
    });
    expect(result.evaluations).toBe(64);
    expect(seen.size).toBe(64);
    expect([...seen.values()].every((count) => count === 1)).toBe(true);
  });

  it('zone without effect gets zero', async () => {
    const game = interactingGame(['a', 'b', 'c', 'd']);
    const result = await zoneShapley(['a', 'b', 'c', 'd', 'dummy'], async (coalition) => {
      const withoutDummy = new Set([...coalition].filter((zone) => zone !== 'dummy'));
      return game(withoutDummy);
    });
    expect(result.byZone.get('dummy')).toBeCloseTo(0, 12);
  });

  it('concurrent evaluation matches sequential', async () => {
    const game = interactingGame(SIX_ZONES);
    const sequential = await zoneShapley(SIX_ZONES, game);
    const parallel = await zoneShapley(SIX_ZONES, game, { concurrency: 8 });
    expect(Array.from(parallel.values)).toEqual(Array.from(sequential.values));
  });

  it('accepts the maximum of 16 zones', async () => {
    const zones = Array.from({ length: MAX_SHAPLEY_PLAYERS }, (_, i) => `z${i}`);
    const result = await zoneShapley(zones, async (coalition) => coalition.size * 2);
    expect(result.evaluations).toBe(65536);
    expect(result.values[15]).toBeCloseTo(2, 9);
  });
});

describe('zoneShapley BAD CALL', () => {
  it('17 zones raise RangeError naming the limit', async () => {
    let calls = 0;
    const zones = Array.from({ length: 17 }, (_, i) => `z${i}`);
    const call = zoneShapley(zones, async () => {
      calls++;
      return 0;
    });
    await expect(call).rejects.toBeInstanceOf(ExplainRangeError);
    await expect(call).rejects.toMatchObject({ code: 'EXPLAIN_TOO_MANY_PLAYERS' });
    await expect(call).rejects.toThrow(/zones has 17 players, but exact Shapley values accept at most 16/);
    expect(calls).toBe(0);
  });

  it('duplicate zone raises RangeError', async () => {
    const call = zoneShapley(['RU', 'RL', 'RU'], async () => 0);
    await expect(call).rejects.toBeInstanceOf(ExplainRangeError);
    await expect(call).rejects.toThrow(/'RU' appears more than once/);
  });

  it('empty zone list raises RangeError', async () => {
    const call = zoneShapley([], async () => 0);
    await expect(call).rejects.toBeInstanceOf(ExplainRangeError);
    await expect(call).rejects.toThrow(/at least 1 zone name/);
  });

  it('non-numeric value raises TypeError', async () => {
    const call = zoneShapley(['RU'], async () => 'high' as unknown as number);
    await expect(call).rejects.toBeInstanceOf(ExplainTypeError);
    await expect(call).rejects.toMatchObject({ code: 'EXPLAIN_MODEL_OUTPUT_INVALID' });
  });
});

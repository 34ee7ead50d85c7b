import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { GLI_2017_DLCO_TABLE } from './gli-2017-tlco.ts';

const libraryRoot = fileURLToPath(new URL('../../', import.meta.url));
const jsonPath = `${libraryRoot}data/gli-2017-tlco.json`;
const scriptPath = `${libraryRoot}scripts/generate-gli-tlco.py`;
const json = JSON.parse(readFileSync(jsonPath, 'utf8'));
const hasPython = spawnSync('python3', ['--version']).status === 0;
// Full regeneration needs the source wheel (pip download --no-deps pyspiro==1.0.0).
const pyspiroWheel = process.env.PYSPIRO_WHEEL;

function runGenerator(args: string[]) {
  return spawnSync('python3', [scriptPath, ...args, '--check'], { encoding: 'utf8' });
}

describe('generated GLI 2017 DLCO table', () => {
  it('matches the JSON coefficients', () => {
    for (const sex of ['M', 'F'] as const) {
      expect(GLI_2017_DLCO_TABLE.sexes[sex].coefficients).toEqual(json.sexes[sex].coefficients);
    }
  });

  it('matches the JSON splines', () => {
    expect(GLI_2017_DLCO_TABLE.splineAgesYears).toEqual(json.splineAgesYears);
    for (const sex of ['M', 'F'] as const) {
      expect(GLI_2017_DLCO_TABLE.sexes[sex].splines).toEqual(json.sexes[sex].splines);
    }
  });

  it('matches the JSON validity ranges', () => {
    expect(GLI_2017_DLCO_TABLE.ageRangeYears).toEqual({
      min: json.validity.ageYears.min,
      max: json.validity.ageYears.max,
    });
    expect(GLI_2017_DLCO_TABLE.heightRangeCm).toEqual({
      min: json.validity.heightCm.min,
      max: json.validity.heightCm.max,
    });
    expect(GLI_2017_DLCO_TABLE.source).toBe(`${json.source.package} ${json.source.version}`);
  });

  it('has evenly spaced spline ages', () => {
    const ages = GLI_2017_DLCO_TABLE.splineAgesYears;
    expect(ages[0]).toBe(5);
    expect(ages.at(-1)).toBe(90);
    for (let index = 1; index < ages.length; index += 1) {
      expect(ages[index] - ages[index - 1]).toBe(0.25);
    }
  });

  it('has one spline value per age', () => {
    const rows = GLI_2017_DLCO_TABLE.splineAgesYears.length;
    for (const sex of ['M', 'F'] as const) {
      const { mSpline, sSpline, lSpline } = GLI_2017_DLCO_TABLE.sexes[sex].splines;
      expect(mSpline).toHaveLength(rows);
      expect(sSpline).toHaveLength(rows);
      expect(lSpline).toHaveLength(rows);
    }
  });

  it.skipIf(!hasPython)('TypeScript module is up to date with JSON', () => {
    const result = runGenerator(['--from-json']);
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
  });

  it.skipIf(!hasPython || !pyspiroWheel)('JSON and module are up to date with pyspiro', () => {
    const result = runGenerator(['--wheel', pyspiroWheel ?? '']);
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
  });
});

import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { resultSchemaErrors } from '@dlco/model';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { pickModelDir, REPO_ROOT, runDlco, type CliRun } from './support/e2e-support.ts';

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

const model = pickModelDir();
const workDir = mkdtempSync(join(tmpdir(), 'dlco-demo-e2e-'));
afterAll(() => rmSync(workDir, { recursive: true, force: true }));

describe('dlco demo', () => {
  const outDir = join(workDir, 'demo');
  let run: CliRun;

  beforeAll(async () => {
    // With models/demo present this is `npm run demo` with another output folder.
    const modelArgs = model.name === 'demo' ? [] : ['--model', model.dir];
    run = await runDlco(['demo', '--out', outDir, ...modelArgs]);
  });

  it('prints the summary, the outputs and the next command', () => {
    expect(run.stderr).not.toMatch(/^error/m);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('Estimate');
    expect(run.stdout).toContain(`Outputs in ${outDir}/`);
    expect(run.stdout).toContain('npx dlco predict scan.nii.gz --age');
  });

  it('writes every output', () => {
    for (const file of ['result.json', 'map.nii.gz', 'lung-mask.nii.gz', 'overlay.png']) {
      expect(existsSync(join(outDir, file)), file).toBe(true);
    }
    const png = readFileSync(join(outDir, 'overlay.png'));
    expect(png.subarray(0, 8).equals(PNG_SIGNATURE)).toBe(true);
  });

  it('lists every written file', () => {
    const written = /^Written to .*: (.*)$/m.exec(run.stdout)?.[1]?.split(', ') ?? [];
    expect(written.sort()).toEqual(['lung-mask.nii.gz', 'map.nii.gz', 'overlay.png', 'result.json']);
  });

  it('states the map unit as result.json does', () => {
    const result = JSON.parse(readFileSync(join(outDir, 'result.json'), 'utf8'));
    expect(result.maps.map.unit).toBe('ml/min/mmHg per mL of lung');
    expect(run.stdout).toMatch(/^ {2}map\.nii\.gz .* in ml\/min\/mmHg per mL of lung on/m);
  });

  it.runIf(model.name === 'demo')('says the training data was simulated', () => {
    const result = JSON.parse(readFileSync(join(outDir, 'result.json'), 'utf8'));
    expect(result.model.trainedOn).toContain('simulated');
    expect(run.stdout).toMatch(/^Model: .*simulated scans.*no real patients/m);
  });

  it('uses the demo subject and writes a valid result', () => {
    const result = JSON.parse(readFileSync(join(outDir, 'result.json'), 'utf8'));
    expect(resultSchemaErrors(result)).toEqual([]);
    const demo = JSON.parse(readFileSync(join(REPO_ROOT, 'demo/subject.json'), 'utf8'));
    expect(result.subject.ageYears).toBe(demo.subject.ageYears);
    expect(result.subject.hbGdl).toBe(demo.subject.hbGdl);
    expect(result.input.fileName).toBe('scan.nii.gz');
    console.log(
      `demo (${model.name} model): estimate ${result.dlco.estimate.toFixed(2)} ml/min/mmHg, ` +
        `measured in the simulation ${demo.truth.dlcoMeasured} ml/min/mmHg`,
    );
  });

  it('EXPECTED FAILURE - names a missing model and writes nothing', async () => {
    const missingOut = join(workDir, 'missing-model');
    const noModel = join(workDir, 'no-model');
    const missing = await runDlco(['demo', '--out', missingOut, '--model', noModel]);
    expect(missing.code).not.toBe(0);
    expect(missing.stderr).toContain('error [MODEL_NOT_FOUND]');
    expect(missing.stderr).toContain('train-demo');
    expect(existsSync(missingOut)).toBe(false);
  });
});

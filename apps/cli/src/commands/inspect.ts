import { resolve, sep } from 'node:path';

import { Command } from 'commander';
import {
  DEFAULT_PREPROCESS_PARAMS,
  preprocessScan,
  resampleLabelsToReference,
  writeLabelVolume,
  type PreprocessScanResult,
} from '@dlco/preprocess';

import { runAction } from '../errors.ts';
import { loggerFromOptions, type LogOptions } from '../logger.ts';
import { checkOutputFile, describeWriteError, OutputPathError } from '../output-path.ts';
import { formatInspectText, inspectReport } from './inspect-report.ts';

interface InspectCommandOptions extends LogOptions {
  json?: boolean;
  maskOut?: string;
}

const MASK_EXTENSIONS = ['.nii.gz', '.nrrd'];

/** Builds `dlco inspect`, which reports a scan's geometry, lung coverage and QCT measures. */
export function inspectCommand(): Command {
  return new Command('inspect')
    .description(
      'Read a scan, segment the lungs and print its geometry, warnings, lung coverage and ' +
        'quantitative CT measures (volume, mean lung density, emphysema and dense-tissue shares)',
    )
    .argument('<scan>', 'scan file (.nii, .nii.gz, .nrrd, .nhdr, .mha, .mhd), DICOM folder or .zip')
    .option('--json', 'print one JSON object instead of text')
    .option(
      '--mask-out <file>',
      'write the lung labels (1 right, 2 left) on the scan’s own grid, as .nii.gz or .nrrd',
    )
    .action(
      runAction(async (scan: string, _options: unknown, command: Command) => {
        const options = command.optsWithGlobals<InspectCommandOptions>();
        return runInspect(scan, options);
      }),
    );
}

async function runInspect(scan: string, options: InspectCommandOptions): Promise<number> {
  const maskOut = options.maskOut === undefined ? undefined : resolve(options.maskOut);
  if (
    maskOut !== undefined &&
    !MASK_EXTENSIONS.some((ext) => maskOut.toLowerCase().endsWith(ext))
  ) {
    throw new OutputPathError(
      maskOut,
      `invalid --mask-out '${options.maskOut}': the file name must end in ${MASK_EXTENSIONS.join(' or ')}`,
    );
  }

  const scanPath = resolve(scan);
  if (maskOut !== undefined && (maskOut === scanPath || maskOut.startsWith(scanPath + sep))) {
    throw new OutputPathError(
      maskOut,
      `invalid --mask-out '${options.maskOut}': it would overwrite the input scan. ` +
        'Choose a file outside the scan.',
    );
  }

  // Checked before the scan is read, so a missing folder fails at once.
  if (maskOut !== undefined) await checkOutputFile(maskOut, '--mask-out');

  const logger = loggerFromOptions(options);
  const result = await preprocessScan(scanPath, { params: DEFAULT_PREPROCESS_PARAMS, logger });
  if (maskOut !== undefined) {
    try {
      await writeNativeMask(result, maskOut);
    } catch (error) {
      throw describeWriteError(error, maskOut, '--mask-out');
    }
    logger.info({ file: maskOut }, 'lung labels written');
  }

  const report = inspectReport(result, scan, maskOut);
  if (options.json === true) {
    process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
  } else {
    process.stdout.write(formatInspectText(report));
  }
  return 0;
}

/** Maps the working-grid labels back onto the scan's native grid and writes them. */
async function writeNativeMask(result: PreprocessScanResult, file: string): Promise<void> {
  const native = resampleLabelsToReference(result.segmentation.labels, result.working.source);
  await writeLabelVolume(file, native);
}

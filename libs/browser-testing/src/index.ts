import { existsSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';

/** Install path of Debian's `chromium` package. */
const DEFAULT_CHROMIUM = '/usr/bin/chromium';

/**
 * Returns the Chromium executable the rendering tests use: `$DLCO_CHROMIUM` when set, else
 * Debian's /usr/bin/chromium. Throws with the install command when neither exists, so a
 * missing browser fails the test instead of skipping it.
 */
export function chromiumPath(): string {
  const path = process.env.DLCO_CHROMIUM ?? DEFAULT_CHROMIUM;
  if (!existsSync(path)) {
    throw new Error(
      `Chromium not found at ${path}: install Debian's browser with ` +
        '`apt-get install chromium` or set DLCO_CHROMIUM to a Chromium executable',
    );
  }
  return path;
}

/**
 * Launches Chromium headless with networking features that call out (updates, metrics,
 * component downloads) turned off, so a page can reach only what the test serves.
 */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: chromiumPath(),
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-dev-shm-usage',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-default-apps',
      '--disable-sync',
      '--metrics-recording-only',
      '--no-first-run',
      // WebGL through SwiftShader, for viewers that draw with WebGL2.
      '--use-angle=swiftshader',
      '--enable-unsafe-swiftshader',
    ],
  });
}

export type { Browser, Page } from 'playwright-core';

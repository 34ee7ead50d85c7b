import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The server's own page files: HTML, scripts and styles under apps/server/static. */
const STATIC_DIR = fileURLToPath(new URL('../../../static/', import.meta.url));

/** A file the pages load, with its media type. */
export interface PageAsset {
  path: string;
  contentType: string;
}

const JAVASCRIPT = 'text/javascript; charset=utf-8';
const CSS = 'text/css; charset=utf-8';
export const HTML = 'text/html; charset=utf-8';

/**
 * Finds an installed package's folder with Node's lookup order. The packages' `exports` fields
 * do not export the bundles the pages need, so `require.resolve` cannot name the files.
 *
 * @throws Error naming the package and the install command when it is not installed
 */
function packageDir(name: string): string {
  const require = createRequire(import.meta.url);
  for (const folder of require.resolve.paths(name) ?? []) {
    const candidate = join(folder, name);
    if (existsSync(join(candidate, 'package.json'))) return candidate;
  }
  throw new Error(`Package ${name} is not installed; run npm ci in the repository root.`);
}

/**
 * Files under `/assets/`, by name. Only these names are served, so a request path never
 * reaches the file system. The library bundles come from node_modules, so the pages load
 * nothing from another origin.
 */
export function pageAssets(): Map<string, PageAsset> {
  const niivue = packageDir('@niivue/niivue');
  const swaggerUi = packageDir('swagger-ui-dist');
  const file = (path: string, contentType: string): PageAsset => ({ path, contentType });
  return new Map([
    // dist/index.js is NiiVue's single-file ES module build, with no imports of its own.
    ['niivue.js', file(join(niivue, 'dist/index.js'), JAVASCRIPT)],
    ['swagger-ui-bundle.js', file(join(swaggerUi, 'swagger-ui-bundle.js'), JAVASCRIPT)],
    ['swagger-ui.css', file(join(swaggerUi, 'swagger-ui.css'), CSS)],
    ['viewer.js', file(join(STATIC_DIR, 'viewer.js'), JAVASCRIPT)],
    ['viewer.css', file(join(STATIC_DIR, 'viewer.css'), CSS)],
    ['docs.js', file(join(STATIC_DIR, 'docs.js'), JAVASCRIPT)],
  ]);
}

/** The HTML files of the pages. */
export const PAGE_FILES = {
  viewer: join(STATIC_DIR, 'viewer.html'),
  docs: join(STATIC_DIR, 'docs.html'),
} as const;

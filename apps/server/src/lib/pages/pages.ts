import { readFile } from 'node:fs/promises';

import type { HttpBindings } from '@hono/node-server';
import { Hono } from 'hono';
import { secureHeaders } from 'hono/secure-headers';

import { HttpError } from '../errors.ts';
import { HTML, PAGE_FILES, pageAssets } from './assets.ts';

/**
 * Content-Security-Policy of both pages: scripts, styles and requests only to this origin, so
 * neither page can load from or send to another host. Images may also be `data:` URLs: Swagger
 * UI's SVG icons, NiiVue's font sheet and the pages' empty favicon are.
 */
const CONTENT_SECURITY_POLICY = {
  defaultSrc: ["'none'"],
  scriptSrc: ["'self'"],
  styleSrc: ["'self'"],
  imgSrc: ["'self'", 'data:'],
  fontSrc: ["'self'"],
  connectSrc: ["'self'"],
  baseUri: ["'none'"],
  formAction: ["'none'"],
  frameAncestors: ["'none'"],
};

/**
 * Routes of the browser pages: `/` redirects to `/viewer`, the clinician viewer; `/docs`
 * renders `/openapi.json` with Swagger UI; `/assets/NAME` serves their scripts and styles. The
 * pages need no key: the viewer asks for one and sends it with its `/v1` requests.
 */
export function pageRoutes() {
  const assets = pageAssets();
  const routes = new Hono<{ Bindings: HttpBindings }>();
  // Per route, not routes.use(): mounted at '/', a use() would also match the /v1 routes.
  const headers = secureHeaders({ contentSecurityPolicy: CONTENT_SECURITY_POLICY });

  routes.get('/', (c) => c.redirect('/viewer', 302));
  routes.get('/viewer', headers, async (c) => {
    return c.body(await readFile(PAGE_FILES.viewer), 200, pageHeaders());
  });
  routes.get('/docs', headers, async (c) => {
    return c.body(await readFile(PAGE_FILES.docs), 200, pageHeaders());
  });
  routes.get('/assets/:name', headers, async (c) => {
    const name = c.req.param('name');
    const asset = assets.get(name);
    if (asset === undefined) {
      throw new HttpError(404, 'NOT_FOUND', `No page asset ${name}.`);
    }
    return c.body(await readFile(asset.path), 200, {
      'Content-Type': asset.contentType,
      'Cache-Control': 'no-cache',
    });
  });
  return routes;
}

function pageHeaders(): Record<string, string> {
  return { 'Content-Type': HTML, 'Cache-Control': 'no-cache' };
}

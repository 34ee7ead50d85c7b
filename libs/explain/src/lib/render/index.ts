export * from './overlay-types.ts';
export { LUNG_WINDOW } from './overlay-checks.ts';
export { renderOverlayPng, writeOverlayPng } from './render-overlay.ts';

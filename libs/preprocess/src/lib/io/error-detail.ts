/** Describes a caught error; ITK-wasm pipelines sometimes reject with a non-Error value. */
export function errorDetail(error: unknown): string {
  const message = error instanceof Error ? error.message : undefined;
  return message || String(error);
}

import type { Interval } from '../bootstrap.ts';

/** Escapes text for HTML element content and double-quoted attribute values. */
export function escapeHtml(text: string): string {
  return text
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&#39;');
}

/** Formats a number with fixed digits, `n/a` for NaN, null or an infinite value. */
export function formatNumber(value: number | null | undefined, digits = 2): string {
  return typeof value === 'number' && Number.isFinite(value) ? value.toFixed(digits) : 'n/a';
}

/** Formats a share from 0 to 1 as a percentage. */
export function formatPercent(value: number | null | undefined, digits = 1): string {
  return typeof value === 'number' && Number.isFinite(value)
    ? `${(100 * value).toFixed(digits)} %`
    : 'n/a';
}

/** Formats an estimate with its 95 % interval as `estimate [lower, upper]`. */
export function formatInterval(
  interval: Interval,
  format: (value: number) => string = (value) => formatNumber(value),
): string {
  return `${format(interval.estimate)} [${format(interval.lower)}, ${format(interval.upper)}]`;
}

/** Builds an HTML table; cells are escaped unless passed as `{ html }`. */
export function htmlTable(
  headers: readonly string[],
  rows: readonly (readonly (string | number | { html: string })[])[],
  className = '',
): string {
  const cell = (value: string | number | { html: string }) =>
    typeof value === 'object' ? value.html : escapeHtml(String(value));
  const head = headers.map((header) => `<th scope="col">${escapeHtml(header)}</th>`).join('');
  const body = rows
    .map((row) => `<tr>${row.map((value) => `<td>${cell(value)}</td>`).join('')}</tr>`)
    .join('\n');
  const classAttribute = className === '' ? '' : ` class="${escapeHtml(className)}"`;
  return `<table${classAttribute}><thead><tr>${head}</tr></thead>\n<tbody>\n${body}\n</tbody></table>`;
}

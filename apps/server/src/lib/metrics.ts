import type { JobState } from './job-store.ts';

/** Request counters for the Prometheus `/metrics` page, kept in memory since startup. */
export class RequestMetrics {
  readonly #counts = new Map<string, number>();

  /** Counts one request by method, matched route pattern (never the raw path) and status. */
  record(method: string, route: string, status: number): void {
    const key = JSON.stringify([method, route, String(status)]);
    this.#counts.set(key, (this.#counts.get(key) ?? 0) + 1);
  }

  /** Renders the counters and gauges in the Prometheus text exposition format 0.0.4. */
  render(jobs: Record<JobState, number>, queueDepth: number): string {
    const lines = [
      '# HELP dlco_http_requests_total HTTP requests by method, route and status.',
      '# TYPE dlco_http_requests_total counter',
    ];
    for (const [key, count] of [...this.#counts].sort()) {
      const [method, route, status] = JSON.parse(key) as string[];
      const labels = `method="${escape(method)}",route="${escape(route)}",status="${status}"`;
      lines.push(`dlco_http_requests_total{${labels}} ${count}`);
    }
    lines.push('# HELP dlco_jobs Prediction jobs in the store by state.', '# TYPE dlco_jobs gauge');
    for (const [state, count] of Object.entries(jobs)) {
      lines.push(`dlco_jobs{state="${state}"} ${count}`);
    }
    lines.push(
      '# HELP dlco_queue_depth Jobs waiting for a worker slot.',
      '# TYPE dlco_queue_depth gauge',
      `dlco_queue_depth ${queueDepth}`,
    );
    return `${lines.join('\n')}\n`;
  }
}

function escape(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

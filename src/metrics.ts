import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

/**
 * One Prometheus registry for the process. `billing serve` exposes it at `/metrics`; the worker
 * and the CLI update the same metric objects (they are cheap when nobody scrapes them).
 */
export const registry = new Registry();
collectDefaultMetrics({ register: registry, prefix: 'billing_process_' });

export const ingestEvents = new Counter({
  name: 'billing_ingest_events_total',
  help: 'Login events judged, by source, tenant and outcome (accepted, duplicate, rejected)',
  labelNames: ['source', 'tenant', 'outcome'] as const,
  registers: [registry],
});

export const ingestBatchSeconds = new Histogram({
  name: 'billing_ingest_batch_seconds',
  help: 'Time to judge and commit one batch of login events, by source',
  labelNames: ['source'] as const,
  buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
  registers: [registry],
});

export const runsTotal = new Counter({
  name: 'billing_runs_total',
  help: 'Tenant-day runs, by trigger and outcome (billed, adjusted, failed, skipped)',
  labelNames: ['trigger', 'outcome'] as const,
  registers: [registry],
});

export const runSeconds = new Histogram({
  name: 'billing_run_seconds',
  help: 'Duration of one tenant-day run',
  labelNames: ['trigger'] as const,
  buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
  registers: [registry],
});

export const runLines = new Counter({
  name: 'billing_run_lines_total',
  help: 'Charge and adjustment lines written by runs',
  labelNames: ['kind'] as const,
  registers: [registry],
});

export const runAmount = new Counter({
  name: 'billing_run_amount_minor_total',
  help: 'Sum of the amounts written by runs, in minor units, by currency',
  labelNames: ['currency'] as const,
  registers: [registry],
});

export const queueJobs = new Gauge({
  name: 'billing_queue_jobs',
  help: 'Jobs in the billing queue, by state (waiting, active, failed, delayed)',
  labelNames: ['queue', 'state'] as const,
  registers: [registry],
});

export const billingLagDays = new Gauge({
  name: 'billing_lag_days',
  help: 'Per tenant, days between the oldest billable day without a current run and the latest billable day (0 = up to date)',
  labelNames: ['tenant'] as const,
  registers: [registry],
});

export const metricsRefreshes = new Counter({
  name: 'billing_metrics_refreshes_total',
  help: 'Timer refreshes of the gauges read from PostgreSQL or Redis, by metric and outcome (ok, failed, skipped: the previous one still ran)',
  labelNames: ['metric', 'outcome'] as const,
  registers: [registry],
});

export const metricsRefreshedAt = new Gauge({
  name: 'billing_metrics_last_refresh_timestamp_seconds',
  help: 'Unix time of the last successful refresh of a gauge read from PostgreSQL or Redis, by metric',
  labelNames: ['metric'] as const,
  registers: [registry],
});

export const authFailures = new Counter({
  name: 'billing_auth_failures_total',
  help: 'Failed API key authentications on the HTTP API, by answer (refused: 401, throttled: 429)',
  labelNames: ['outcome'] as const,
  registers: [registry],
});

export const billingAnomalies = new Gauge({
  name: 'billing_anomalies',
  help: "Per tenant and anomaly code (total-jump, activity-drop, overdue, open-rejects), days of the tenant's current month that show it (billing reconcile)",
  labelNames: ['tenant', 'code'] as const,
  registers: [registry],
});

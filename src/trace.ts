// Opt-in tracing per component: ETCD_APIV3_TRACE=watch,lease (or `all`). Silent by default.

const enabled = new Set(
  (process.env['ETCD_APIV3_TRACE'] ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean),
);

export function tracing(component: string): boolean {
  return enabled.has(component) || enabled.has('all');
}

export function trace(component: string, message: string): void {
  if (enabled.size > 0 && tracing(component)) {
    process.stderr.write(`${new Date().toISOString()} etcd-apiv3 ${component}: ${message}\n`);
  }
}

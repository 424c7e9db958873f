// Markdown rendering of a bench run (stdout and bench/RESULTS.md).

export interface SummaryRow {
  readonly metric: string;
  readonly direct: string;
  readonly nginx: string;
  /** Go httputil.ReverseProxy and bare undici proxy cells; empty where not measured. */
  readonly go?: string;
  readonly undici?: string;
  readonly gateway: string;
  /** The BENCH_BASELINE_REV gateway's cell and the current gateway's figure over it; absent without a baseline. */
  readonly baseline?: string;
  readonly nowVsBaseline?: string;
  readonly vsNginx: string;
  readonly vsDirect: string;
  readonly target: string;
  readonly verdict: string;
}

export interface DetailTable {
  readonly title: string;
  readonly header: readonly string[];
  readonly rows: readonly (readonly string[])[];
}

export interface Report {
  readonly startedAt: string;
  readonly machine: string;
  readonly versions: Record<string, string>;
  readonly config: Readonly<Record<string, unknown>>;
  readonly summary: SummaryRow[];
  readonly details: DetailTable[];
  readonly notes: readonly string[];
  /** "gateway @<rev>" when BENCH_BASELINE_REV is set: the summary then has its column and "now / baseline". */
  readonly baselineName: string | null;
  durationSec: number;
}

function cell(s: string): string {
  return s.replace(/\|/g, '\\|').replace(/\n/g, ' ');
}

function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const lines = [`| ${header.map(cell).join(' | ')} |`, `| ${header.map(() => '---').join(' | ')} |`];
  for (const r of rows) lines.push(`| ${r.map(cell).join(' | ')} |`);
  return lines.join('\n');
}

function configText(config: Readonly<Record<string, unknown>>): string {
  return Object.entries(config)
    .filter(([, v]) => v !== '') // unset optional knobs (BENCH_BASELINE_REV)
    .map(([k, v]) => `${k}=${v instanceof Set ? [...v].join(',') : Array.isArray(v) ? v.join(',') : String(v)}`)
    .join(', ');
}

export function renderReport(r: Report): string {
  const out: string[] = [];
  out.push('# Preview gateway — load benchmark results', '');
  out.push('Command: `npm run bench` (= `npm run build && node dist/bench/run.js`), from the repository root, as root on Debian.', '');
  out.push(
    `Machine: ${r.machine}. **2 cores**: the proxy under test (nginx, Go, bare undici or the gateway) is pinned to core 0 with \`taskset -c 0\`, ` +
      'every load generator (wrk, the node load clients) to core 1; the backends (static nginx, ws echo server, fake Daytona API) are not pinned ' +
      'and so share the cores with both. Absolute numbers are only comparable within one run; the ratios are the point.',
    '',
  );
  out.push(`Run: ${r.startedAt}, ${r.durationSec} s. Versions: ${Object.entries(r.versions).map(([k, v]) => `${k} ${v}`).join('; ')}.`, '');
  out.push(`Settings (env BENCH_*): ${configText(r.config)}.`, '');
  out.push('## Summary', '');
  const base = r.baselineName;
  out.push(
    table(
      [
        ...['Metric', 'direct', 'nginx proxy', 'Go proxy (vs nginx)', 'bare undici (vs nginx)', 'gateway', 'gateway vs nginx'],
        ...(base === null ? [] : [`${base} (vs nginx)`, 'now / baseline']),
        ...['gateway vs direct', 'target', 'verdict'],
      ],
      r.summary.map((s) => [
        ...[s.metric, s.direct, s.nginx, s.go ?? '', s.undici ?? '', s.gateway, s.vsNginx],
        ...(base === null ? [] : [s.baseline ?? '', s.nowVsBaseline ?? '']),
        ...[s.vsDirect, s.target, s.verdict],
      ]),
    ),
    '',
  );
  out.push(
    '"direct" = load generator → backend; "nginx proxy" = → nginx (1 worker, keep-alive upstream pool, default proxy_buffering) → backend; ' +
      '"Go proxy" = → Go\'s `httputil.ReverseProxy` (bench/go-proxy/main.go, idle pool 1024) → backend; ' +
      '"bare undici" = → node:http + undici `Agent.dispatch`, no auth (bench/undici-proxy.ts) → backend: the floor of a Node proxy; ' +
      `"gateway" = → \`node dist/src/main.js\` (LOG_LEVEL=${r.config.gatewayLogLevel}${r.config.gatewayLogLevel === 'info' ? ': an access line per request to its log file, as `npm start` runs' : ''}; embedded control plane, private sandbox, \`X-Daytona-Preview-Token\`) → backend; nginx, Go and bare undici write no access log. ` +
      'Every request carries `Host: 8080-bench.localhost` and the preview token, whatever the target.' +
      (base === null
        ? ''
        : ` "${base}" = the gateway built from that revision (BENCH_BASELINE_REV, bench/baseline.ts), started the same way and measured in the same rounds; ` +
          '"now / baseline" = the current gateway\'s figure over its figure, flagged "WORSE" when the current one is worse by more than 5 %.'),
    '',
  );
  for (const d of r.details) {
    out.push(`## ${d.title}`, '', table(d.header, d.rows), '');
  }
  if (r.notes.length > 0) {
    out.push('## Notes', '');
    for (const n of r.notes) out.push(`- ${n.split('\n')[0] ?? ''}`);
    out.push('');
  }
  return `${out.join('\n')}\n`;
}

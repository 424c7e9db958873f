// Runs wrk (closed loop, one thread on its own core) and parses its summary.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startProcess } from './procs.js';

export interface WrkOptions {
  readonly bin: string;
  readonly url: string;
  readonly connections: number;
  readonly durationMs: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly cpus: string;
  readonly logDir: string;
  readonly label: string;
}

export interface WrkResult {
  readonly rps: number;
  readonly requests: number;
  readonly bytesRead: number;
  readonly latencyAvgMs: number;
  readonly non2xx: number;
  readonly socketErrors: number;
  readonly raw: string;
}

const SIZE_UNITS: Readonly<Record<string, number>> = { B: 1, KB: 1024, MB: 1024 ** 2, GB: 1024 ** 3, TB: 1024 ** 4 };
const TIME_UNITS: Readonly<Record<string, number>> = { us: 0.001, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

let seq = 0;

export async function runWrk(o: WrkOptions): Promise<WrkResult> {
  const logPath = join(o.logDir, `wrk-${String(++seq).padStart(3, '0')}-${o.label.replace(/[^A-Za-z0-9_.-]+/g, '_')}.log`);
  const args = ['-t1', `-c${o.connections}`, `-d${Math.max(1, Math.round(o.durationMs / 1000))}s`, '--timeout', '10s'];
  for (const [k, v] of Object.entries(o.headers)) args.push('-H', `${k}: ${v}`);
  args.push(o.url);
  const p = startProcess({ name: `wrk ${o.label}`, command: o.bin, args, cpus: o.cpus, logPath });
  const code = await p.exited;
  const raw = readFileSync(logPath, 'utf8');
  if (code !== 0) throw new Error(`wrk ${o.label} exited ${String(code)}:\n${raw}`);
  return parseWrk(raw);
}

export function parseWrk(raw: string): WrkResult {
  const rpsM = /Requests\/sec:\s*([\d.]+)/.exec(raw);
  if (rpsM === null) throw new Error(`cannot parse wrk output:\n${raw}`);
  const reqM = /(\d+) requests in ([\d.]+)(\w+), ([\d.]+)(\w+) read/.exec(raw);
  const latM = /Latency\s+([\d.]+)(us|ms|s|m|h)\s/.exec(raw);
  const non2xxM = /Non-2xx or 3xx responses:\s*(\d+)/.exec(raw);
  const sockM = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(raw);
  const socketErrors = sockM === null ? 0 : sockM.slice(1, 5).reduce((a, s) => a + Number(s), 0);
  return {
    rps: Number(rpsM[1]),
    requests: reqM === null ? Number.NaN : Number(reqM[1]),
    bytesRead: reqM === null ? Number.NaN : Number(reqM[4]) * (SIZE_UNITS[reqM[5] ?? ''] ?? Number.NaN),
    latencyAvgMs: latM === null ? Number.NaN : Number(latM[1]) * (TIME_UNITS[latM[2] ?? ''] ?? Number.NaN),
    non2xx: non2xxM === null ? 0 : Number(non2xxM[1]),
    socketErrors,
    raw,
  };
}

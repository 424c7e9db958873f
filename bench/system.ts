// Facts read from the machine: process-tree RSS, limits, versions.
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { cpus, release } from 'node:os';

function readText(path: string): string | null {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return null;
  }
}

/** VmRSS of one process in KiB (NaN when it is gone). */
export function rssKiB(pid: number): number {
  const status = readText(`/proc/${pid}/status`);
  const m = status === null ? null : /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
  return m === null ? Number.NaN : Number(m[1]);
}

/**
 * The fields of a /proc/…/stat file after the command name (which may hold spaces and parentheses):
 * index 0 is proc(5)'s field 3 (state), 1 the ppid, 11 and 12 utime and stime, 13 and 14 cutime and cstime.
 */
function statFields(path: string): string[] | null {
  const stat = readText(path);
  return stat === null ? null : stat.slice(stat.lastIndexOf(')') + 2).split(' ');
}

/** pid and all its descendants. */
export function processTree(pid: number): number[] {
  const children = new Map<number, number[]>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const after = statFields(`/proc/${name}/stat`);
    if (after === null) continue;
    const ppid = Number(after[1]);
    const list = children.get(ppid) ?? [];
    list.push(Number(name));
    children.set(ppid, list);
  }
  const out: number[] = [];
  const stack = [pid];
  while (stack.length > 0) {
    const p = stack.pop();
    if (p === undefined) break;
    out.push(p);
    for (const c of children.get(p) ?? []) stack.push(c);
  }
  return out;
}

/** Sum of VmRSS over pid's process tree, KiB. */
export function treeRssKiB(pid: number): number {
  return processTree(pid)
    .map(rssKiB)
    .filter((v) => !Number.isNaN(v))
    .reduce((a, b) => a + b, 0);
}

/** Raises this process's open-file limit (children inherit it). Returns the soft limit in force. */
export function raiseNofile(target: number): number {
  const pid = String(process.pid);
  if (nofile().soft >= target) return nofile().soft;
  const r = spawnSync('prlimit', ['--pid', pid, `--nofile=${target}:${target}`], { stdio: 'ignore' });
  if (r.status !== 0) {
    // Without CAP_SYS_RESOURCE the hard limit cannot be raised: take the soft limit up to it.
    const { hard } = nofile();
    if (Number.isFinite(hard)) spawnSync('prlimit', ['--pid', pid, `--nofile=${Math.min(hard, target)}:`], { stdio: 'ignore' });
  }
  return nofile().soft;
}

export function nofile(): { soft: number; hard: number } {
  const limits = readText('/proc/self/limits') ?? '';
  const m = /^Max open files\s+(\d+|unlimited)\s+(\d+|unlimited)/m.exec(limits);
  const val = (s: string | undefined): number => (s === 'unlimited' ? Number.POSITIVE_INFINITY : Number(s));
  return m === null ? { soft: Number.NaN, hard: Number.NaN } : { soft: val(m[1]), hard: val(m[2]) };
}

export function commandVersion(cmd: string, args: readonly string[]): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  const text = `${r.stdout ?? ''}${r.stderr ?? ''}`.trim().split('\n')[0] ?? '';
  return text === '' ? 'unknown' : text;
}

export function machineNote(): string {
  const list = cpus();
  const model = list[0]?.model.trim() ?? 'unknown CPU';
  const memGiB = (() => {
    const m = /^MemTotal:\s+(\d+) kB/m.exec(readText('/proc/meminfo') ?? '');
    return m === null ? 'unknown' : `${(Number(m[1]) / 1024 / 1024).toFixed(0)} GiB`;
  })();
  return `${list.length} cores (${model}), ${memGiB} RAM, Linux ${release()}`;
}

export interface CpuMark {
  readonly at: number;
  readonly busy: number;
  readonly steal: number;
  readonly ours: number;
}

/** Machine-wide busy and steal ticks (USER_HZ) from /proc/stat, and the ticks spent by this process tree. */
export function cpuMark(): CpuMark {
  const line = (readText('/proc/stat') ?? '').split('\n').find((l) => l.startsWith('cpu ')) ?? '';
  const f = line.trim().split(/\s+/).slice(1).map(Number);
  const at = (i: number): number => f[i] ?? 0;
  // user nice system idle iowait irq softirq steal (guest time is already inside user). irq and softirq
  // (loopback networking runs there) belong to no process, so they are left out of both sides.
  const busy = at(0) + at(1) + at(2);
  let ours = 0;
  for (const pid of processTree(process.pid)) {
    const after = statFields(`/proc/${pid}/stat`);
    if (after === null) continue;
    // utime stime cutime cstime
    ours += Number(after[11]) + Number(after[12]) + Number(after[13]) + Number(after[14]);
  }
  return { at: Date.now(), busy, steal: at(7), ours };
}

let clkTck: number | undefined;

function ticksPerSecond(): number {
  clkTck ??= Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;
  return clkTck;
}

/** CPU ticks (user + system) of every thread in pid's process tree, by "pid/tid". */
export function threadTicks(pid: number): Map<string, number> {
  const out = new Map<string, number>();
  for (const p of processTree(pid)) {
    let tids: string[];
    try {
      tids = readdirSync(`/proc/${p}/task`);
    } catch {
      continue;
    }
    for (const tid of tids) {
      const after = statFields(`/proc/${p}/task/${tid}/stat`);
      if (after === null) continue;
      out.set(`${p}/${tid}`, Number(after[11]) + Number(after[12]));
    }
  }
  return out;
}

/**
 * CPU seconds a process tree spent between two threadTicks() readings, split into its busiest thread
 * (a Node proxy's JavaScript thread, nginx's worker) and all the others (V8's compiler and GC helpers,
 * libuv's pool; Go's runtime threads): on a proxy pinned to one core the others take turns with the first.
 */
export function threadCpuSplit(a: ReadonlyMap<string, number>, b: ReadonlyMap<string, number>): { busiest: number; others: number } {
  const deltas = [...b].map(([k, v]) => v - (a.get(k) ?? 0)).filter((d) => d > 0);
  const busiest = deltas.length === 0 ? 0 : Math.max(...deltas);
  const total = deltas.reduce((x, y) => x + y, 0);
  return { busiest: busiest / ticksPerSecond(), others: (total - busiest) / ticksPerSecond() };
}

/** CPU used by processes outside this bench, and steal, between two marks, in % of one core. */
export function cpuInterference(a: CpuMark, b: CpuMark): { foreignPct: number; stealPct: number } {
  const hz = ticksPerSecond();
  const secs = Math.max(0.001, (b.at - a.at) / 1000);
  const foreign = Math.max(0, b.busy - a.busy - (b.ours - a.ours));
  return { foreignPct: (100 * foreign) / hz / secs, stealPct: (100 * (b.steal - a.steal)) / hz / secs };
}

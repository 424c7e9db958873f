// BENCH_BASELINE_REV: an earlier revision of the repository, built once into a cache directory, whose gateway
// is measured beside the current one in the same run (machine noise hits both alike).
// The tree comes from `git archive` (no worktree is registered in the repository), then `npm ci` and
// `npm run build`; it is built in a staging directory renamed into place, so a half-built cache is never reused.
import { spawnSync } from 'node:child_process';
import { appendFileSync, existsSync, mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT } from './harness.js';

const READY_MARK = '.bench-baseline-ready';

export interface Baseline {
  /** Repository root of the built revision: its gateway is `<root>/dist/src/main.js`. */
  readonly root: string;
  readonly sha: string;
  /** true when the cache directory was already built by an earlier run. */
  readonly reused: boolean;
}

/** Runs a command into the log; throws with the log path when it fails. */
function run(log: string, command: string, args: readonly string[], cwd: string, timeoutMs: number): string {
  appendFileSync(log, `\n$ ${command} ${args.join(' ')}   (in ${cwd})\n`);
  // NODE_ENV=production would make npm ci leave out TypeScript.
  const env = { ...process.env, NODE_ENV: 'development' };
  const r = spawnSync(command, args, { cwd, env, encoding: 'utf8', timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 });
  appendFileSync(log, `${r.stdout ?? ''}${r.stderr ?? ''}`);
  if (r.status !== 0) {
    const why = r.error !== undefined ? r.error.message : `exit ${String(r.status ?? r.signal)}`;
    throw new Error(`\`${command} ${args.join(' ')}\` failed (${why}); see ${log}: ${(r.stderr || r.stdout || '').trim().split('\n').slice(-3).join(' | ')}`);
  }
  return r.stdout;
}

/** The revision's full commit id, the cache directory built (or reused), ready for startGateway(…, root). */
export function prepareBaseline(rev: string, log: string): Baseline {
  const sha = run(log, 'git', ['-C', ROOT, 'rev-parse', '--verify', '--quiet', `${rev}^{commit}`], ROOT, 30_000).trim();
  const root = join(tmpdir(), `bench-baseline-${sha.slice(0, 12)}`);
  if (existsSync(join(root, READY_MARK))) return { root, sha, reused: true };
  const staging = `${root}.staging-${process.pid}`;
  rmSync(staging, { recursive: true, force: true });
  mkdirSync(staging, { recursive: true });
  try {
    // Positional parameters: nothing from the environment is parsed by the shell.
    run(log, 'sh', ['-c', 'git -C "$1" archive --format=tar "$2" | tar -x -C "$3"', 'sh', ROOT, sha, staging], ROOT, 120_000);
    run(log, 'npm', ['ci', '--prefer-offline', '--include=dev', '--no-audit', '--no-fund'], staging, 600_000);
    run(log, 'npm', ['run', 'build'], staging, 600_000);
    if (!existsSync(join(staging, 'dist/src/main.js'))) throw new Error(`revision ${sha} built no dist/src/main.js`);
    writeFileSync(join(staging, READY_MARK), `${sha}\n`);
    if (existsSync(join(root, READY_MARK))) throw new Error('built meanwhile by another bench'); // caught just below
    rmSync(root, { recursive: true, force: true }); // an unfinished directory of an older run
    renameSync(staging, root);
  } catch (err) {
    rmSync(staging, { recursive: true, force: true });
    if (existsSync(join(root, READY_MARK))) return { root, sha, reused: true }; // another bench finished it meanwhile
    throw err;
  }
  return { root, sha, reused: false };
}

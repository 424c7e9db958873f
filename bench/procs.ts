// Child processes of the bench: spawned in their own process group, tracked, and always ended on exit
// (normal end, error, SIGINT/SIGTERM/SIGHUP). Only processes started here are ever signalled.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { openSync, closeSync, readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { parseJsonLine, sleep } from './util.js';

export interface SpawnSpec {
  readonly name: string;
  readonly command: string;
  readonly args: readonly string[];
  /** CPU list for `taskset -c`, e.g. "0"; undefined = not pinned. */
  readonly cpus?: string;
  readonly env?: NodeJS.ProcessEnv;
  readonly cwd?: string;
  /** Where stderr (and stdout unless `protocol`) goes. */
  readonly logPath: string;
  /** true: stdout is a pipe of JSON lines read with waitForJson(); stdin is a pipe for commands. */
  readonly protocol?: boolean;
}

type JsonWaiter = {
  readonly pred: (msg: Record<string, unknown>) => boolean;
  readonly resolve: (msg: Record<string, unknown>) => void;
};

export class Tracked {
  readonly name: string;
  readonly child: ChildProcess;
  readonly pid: number;
  readonly logPath: string;
  readonly exited: Promise<number | null>;
  #exitCode: number | null | undefined = undefined;
  #exitSignal: NodeJS.Signals | null = null;
  #stopping = false;
  #messages: Record<string, unknown>[] = [];
  #waiters: JsonWaiter[] = [];

  constructor(name: string, child: ChildProcess, logPath: string) {
    if (child.pid === undefined) throw new Error(`${name}: spawn failed`);
    this.name = name;
    this.child = child;
    this.pid = child.pid;
    this.logPath = logPath;
    this.exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        this.#exitCode = code ?? (signal === null ? null : -1);
        this.#exitSignal = signal;
        if (!this.#stopping) onUnexpectedExit?.(this);
        resolve(this.#exitCode);
      });
    });
    if (child.stdout !== null) {
      const rl = createInterface({ input: child.stdout });
      rl.on('line', (line) => {
        const msg = parseJsonLine(line);
        if (msg === null) return;
        const i = this.#waiters.findIndex((w) => w.pred(msg));
        if (i >= 0) {
          const [w] = this.#waiters.splice(i, 1);
          w?.resolve(msg);
        } else {
          this.#messages.push(msg);
        }
      });
    }
  }

  /** "code N" or "signal S" once exited. */
  get exitDescription(): string {
    return this.#exitSignal !== null ? `signal ${this.#exitSignal}` : `code ${String(this.#exitCode)}`;
  }

  get alive(): boolean {
    return this.#exitCode === undefined;
  }

  /** Resolves with the first JSON line (already seen or future) matching pred; rejects on timeout or exit. */
  waitForJson(pred: (msg: Record<string, unknown>) => boolean, timeoutMs: number): Promise<Record<string, unknown>> {
    const i = this.#messages.findIndex(pred);
    if (i >= 0) {
      const [m] = this.#messages.splice(i, 1);
      if (m !== undefined) return Promise.resolve(m);
    }
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        done();
        reject(new Error(`${this.name}: no expected message within ${timeoutMs} ms\n${this.logTail()}`));
      }, timeoutMs);
      const waiter: JsonWaiter = {
        pred,
        resolve: (m) => {
          done();
          resolve(m);
        },
      };
      const onExit = (): void => {
        done();
        reject(new Error(`${this.name} exited (code ${String(this.#exitCode)}) before the expected message\n${this.logTail()}`));
      };
      const done = (): void => {
        clearTimeout(timer);
        const k = this.#waiters.indexOf(waiter);
        if (k >= 0) this.#waiters.splice(k, 1);
        this.child.off('exit', onExit);
      };
      this.#waiters.push(waiter);
      if (!this.alive) onExit();
      else this.child.once('exit', onExit);
    });
  }

  send(line: string): void {
    this.child.stdin?.write(`${line}\n`);
  }

  logTail(lines = 20): string {
    try {
      const text = readFileSync(this.logPath, 'utf8').trimEnd().split('\n');
      return text.slice(-lines).map((l) => `  [${this.name}] ${l}`).join('\n');
    } catch {
      return `  [${this.name}] (no log)`;
    }
  }

  signal(sig: NodeJS.Signals): void {
    if (!this.alive) return;
    try {
      process.kill(-this.pid, sig); // its own process group (spawned detached)
    } catch {
      try {
        process.kill(this.pid, sig);
      } catch {
        /* already gone */
      }
    }
  }

  /** SIGTERM, then SIGKILL after graceMs. */
  async stop(graceMs = 3000): Promise<void> {
    this.#stopping = true;
    if (!this.alive) return;
    this.signal('SIGTERM');
    const gone = await Promise.race([this.exited.then(() => true), sleep(graceMs).then(() => false)]);
    if (!gone) {
      this.signal('SIGKILL');
      await Promise.race([this.exited, sleep(1000)]);
    }
  }
}

let onUnexpectedExit: ((t: Tracked) => void) | undefined;

/** Called when a tracked process exits (whatever its code) without having been stopped by the bench. */
export function setUnexpectedExitHandler(fn: (t: Tracked) => void): void {
  onUnexpectedExit = fn;
}

const running = new Set<Tracked>();
const cleanups: (() => void)[] = [];
let tasksetOk: boolean | undefined;

export function hasCommand(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

let shuttingDown = false;

export function isShuttingDown(): boolean {
  return shuttingDown;
}

export function startProcess(spec: SpawnSpec): Tracked {
  if (shuttingDown) throw new Error(`not starting ${spec.name}: the bench is stopping`);
  tasksetOk ??= hasCommand('taskset');
  let command = spec.command;
  let args = [...spec.args];
  if (spec.cpus !== undefined) {
    if (tasksetOk) {
      args = ['-c', spec.cpus, command, ...args];
      command = 'taskset';
    } else {
      console.error(`!! taskset not found: ${spec.name} runs unpinned`);
    }
  }
  const logFd = openSync(spec.logPath, 'a');
  const child = spawn(command, args, {
    cwd: spec.cwd,
    env: spec.env ?? process.env,
    detached: true,
    stdio: spec.protocol === true ? ['pipe', 'pipe', logFd] : ['ignore', logFd, logFd],
  });
  closeSync(logFd);
  const t = new Tracked(spec.name, child, spec.logPath);
  running.add(t);
  void t.exited.then(() => running.delete(t));
  return t;
}

export async function stopAll(): Promise<void> {
  await Promise.all([...running].map((t) => t.stop(2000)));
}

/** Registers work (e.g. removing the temp dir) done once at exit, after children are gone. */
export function onCleanup(fn: () => void): void {
  cleanups.push(fn);
}

function runCleanupsSync(): void {
  for (const t of running) t.signal('SIGKILL');
  running.clear();
  for (const fn of cleanups.splice(0)) {
    try {
      fn();
    } catch {
      /* best effort */
    }
  }
}

export function installExitHandlers(): void {
  process.on('exit', runCleanupsSync);
  let stopping = false;
  const onSignal = (sig: NodeJS.Signals): void => {
    if (stopping) return;
    stopping = true;
    shuttingDown = true;
    console.error(`\n!! ${sig}: stopping bench children`);
    void stopAll().finally(() => {
      runCleanupsSync();
      process.exit(sig === 'SIGINT' ? 130 : 143);
    });
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  process.on('SIGHUP', onSignal);
  process.on('uncaughtException', (err) => {
    console.error('!! uncaught exception in bench:', err);
    void stopAll().finally(() => process.exit(1));
  });
}

// Bench servers, each run as its own process by bench/run.ts:
//   node dist/bench/servers.js ws-echo --port N
//   node dist/bench/servers.js fake-daytona --port N --runner-port M [--delay 20] [--api-key K] [--token T] [--runner-key R]
// Each prints one JSON line {"ready":true,...} once listening.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { WebSocketServer } from 'ws';

function parseArgs(argv: readonly string[]): Map<string, string> {
  const out = new Map<string, string>();
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === undefined || !a.startsWith('--')) continue;
    out.set(a.slice(2), argv[i + 1] ?? '');
    i++;
  }
  return out;
}

function intArg(args: Map<string, string>, name: string, fallback?: number): number {
  const v = args.get(name);
  if (v === undefined) {
    if (fallback === undefined) throw new Error(`--${name} is required`);
    return fallback;
  }
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new Error(`--${name}: bad number ${v}`);
  return n;
}

function say(msg: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify(msg)}\n`);
}

function startWsEcho(args: Map<string, string>): void {
  const port = intArg(args, 'port');
  const server = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain', 'content-length': '4' });
    res.end('echo');
  });
  server.keepAliveTimeout = 120_000;
  const wss = new WebSocketServer({ server, perMessageDeflate: false, clientTracking: false, maxPayload: 16 * 1024 * 1024 });
  wss.on('connection', (ws) => {
    ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
    ws.on('error', () => ws.terminate());
  });
  server.listen(port, '127.0.0.1', 4096, () => say({ ready: true, port }));
}

type Counts = Record<string, Record<string, number>>;

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

function startFakeDaytona(args: Map<string, string>): void {
  const port = intArg(args, 'port');
  const runnerPort = intArg(args, 'runner-port');
  const delay = intArg(args, 'delay', 20);
  const apiKey = args.get('api-key') ?? 'bench-key';
  const token = args.get('token') ?? 'bench-token';
  const runnerKey = args.get('runner-key') ?? 'k';

  let counts: Counts = {};
  let badAuth = 0;
  let runner = { requests: 0, badAuth: 0, badPath: 0 };
  const count = (id: string, kind: string): void => {
    const byId = (counts[id] ??= {});
    byId[kind] = (byId[kind] ?? 0) + 1;
  };

  const json = (res: ServerResponse, status: number, body: unknown): void => {
    const text = JSON.stringify(body);
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(text)) });
    res.end(text);
  };
  const notFound = (res: ServerResponse): void =>
    json(res, 404, { statusCode: 404, message: 'Not Found', error: 'Not Found' });

  const answer = (req: IncomingMessage, res: ServerResponse): void => {
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    const seg = path.split('/').slice(1).map(safeDecode);
    const method = req.method ?? 'GET';
    let m: RegExpExecArray | null;
    if (method === 'GET' && seg.length === 3 && seg[0] === 'preview' && seg[2] === 'public') {
      count(seg[1] ?? '', 'public');
      return notFound(res);
    }
    if (method === 'GET' && seg.length === 4 && seg[0] === 'preview' && seg[2] === 'validate') {
      count(seg[1] ?? '', 'validate');
      return seg[3] === token ? json(res, 200, true) : notFound(res);
    }
    if (method === 'GET' && seg.length === 3 && seg[0] === 'preview' && seg[2] === 'access') {
      count(seg[1] ?? '', 'access');
      return notFound(res);
    }
    if (method === 'GET' && seg.length === 4 && seg[0] === 'preview' && seg[3] === 'sandbox-id') {
      count(seg[1] ?? '', 'sandbox-id');
      return notFound(res);
    }
    if (method === 'GET' && seg.length === 3 && seg[0] === 'runners' && seg[1] === 'by-sandbox') {
      count(seg[2] ?? '', 'runner');
      return json(res, 200, { id: 'r1', proxyUrl: `http://127.0.0.1:${runnerPort}`, apiKey: runnerKey });
    }
    if (method === 'POST' && (m = /^\/sandbox\/([^/]+)\/last-activity$/.exec(path)) !== null) {
      count(safeDecode(m[1] ?? ''), 'last-activity');
      res.writeHead(200, { 'content-length': '0' });
      res.end();
      return;
    }
    if (method === 'GET' && path === '/config') {
      count('-', 'config');
      return json(res, 200, {
        version: '0.0.0-bench',
        linkedAccountsEnabled: false,
        announcements: {},
        proxyTemplateUrl: 'http://{{PORT}}-{{sandboxId}}.localhost',
        defaultSnapshot: 'bench',
        dashboardUrl: 'http://localhost',
        maxAutoArchiveInterval: 43200,
        maintananceMode: false,
        environment: 'bench',
      });
    }
    count('-', `other ${method} ${path}`);
    return notFound(res);
  };

  const api = createServer((req, res) => {
    const path = req.url ?? '/';
    if (path === '/__stats') return json(res, 200, { counts, badAuth, runner });
    if (path === '/__reset') {
      counts = {};
      badAuth = 0;
      runner = { requests: 0, badAuth: 0, badPath: 0 };
      return json(res, 200, true);
    }
    if (req.headers.authorization !== `Bearer ${apiKey}`) badAuth++;
    req.resume();
    req.on('end', () => setTimeout(answer, delay, req, res));
  });
  api.keepAliveTimeout = 120_000;

  const runnerServer = createServer((req, res) => {
    runner.requests++;
    if (req.headers['x-daytona-authorization'] !== `Bearer ${runnerKey}`) runner.badAuth++;
    if (!(req.url ?? '').startsWith('/sandboxes/')) runner.badPath++;
    req.resume();
    res.writeHead(200, { 'content-type': 'text/plain', 'content-length': '2' });
    res.end('ok');
  });
  runnerServer.keepAliveTimeout = 120_000;

  let up = 0;
  const ready = (): void => {
    if (++up === 2) say({ ready: true, port, runnerPort });
  };
  api.listen(port, '127.0.0.1', 4096, ready);
  runnerServer.listen(runnerPort, '127.0.0.1', 4096, ready);
}

const [mode, ...rest] = process.argv.slice(2);
const args = parseArgs(rest);
if (mode === 'ws-echo') startWsEcho(args);
else if (mode === 'fake-daytona') startFakeDaytona(args);
else {
  console.error('usage: servers.js ws-echo --port N | fake-daytona --port N --runner-port M [--delay MS]');
  process.exit(2);
}

// Bare undici reverse proxy for `npm run bench`: node:http server + Agent.dispatch, no auth, no routing, no
// metrics. It shows what Node + undici cost by themselves, so the gateway's own overhead is the gap above it.
//   node dist/bench/undici-proxy.js --port N --backend http://127.0.0.1:M
// Prints {"ready":true,"port":N} once listening.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { Agent, type Dispatcher } from 'undici';

const HOP_BY_HOP: ReadonlySet<string> = new Set(['connection', 'keep-alive', 'transfer-encoding', 'upgrade', 'proxy-connection', 'te', 'trailer']);

/** Legacy raw-header dispatch handler (the interface the gateway uses), piping with backpressure. */
class Exchange implements Dispatcher.DispatchHandler {
  readonly #res: ServerResponse;
  #resume: (() => void) | undefined;

  constructor(res: ServerResponse) {
    this.#res = res;
    res.on('drain', () => this.#resume?.());
  }

  onConnect(): void {}

  onHeaders(statusCode: number, rawHeaders: Buffer[], resume: () => void, statusText: string): boolean {
    if (statusCode < 200) return true;
    const headers: string[] = [];
    for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
      const name = String(rawHeaders[i]);
      if (HOP_BY_HOP.has(name.toLowerCase())) continue;
      headers.push(name, String(rawHeaders[i + 1]));
    }
    this.#res.writeHead(statusCode, statusText || undefined, headers);
    this.#resume = resume;
    return true;
  }

  onData(chunk: Buffer): boolean {
    return this.#res.write(chunk);
  }

  onComplete(): void {
    this.#res.end();
  }

  onError(): void {
    if (this.#res.headersSent) this.#res.destroy();
    else {
      this.#res.writeHead(502, { 'content-length': '0' });
      this.#res.end();
    }
  }
}

function arg(name: string): string {
  const i = process.argv.indexOf(`--${name}`);
  const v = i >= 0 ? process.argv[i + 1] : undefined;
  if (v === undefined) throw new Error(`--${name} is required`);
  return v;
}

const origin = arg('backend');
const port = Number(arg('port'));
const agent = new Agent({ connections: null, pipelining: 1, keepAliveTimeout: 30_000, headersTimeout: 0, bodyTimeout: 60_000 });

function handle(req: IncomingMessage, res: ServerResponse): void {
  const headers: string[] = [];
  const raw = req.rawHeaders;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i] as string;
    if (!HOP_BY_HOP.has(name.toLowerCase())) headers.push(name, raw[i + 1] as string);
  }
  const hasBody = req.headers['content-length'] !== undefined ? req.headers['content-length'] !== '0' : req.headers['transfer-encoding'] !== undefined;
  agent.dispatch({ origin, path: req.url ?? '/', method: (req.method ?? 'GET') as Dispatcher.HttpMethod, headers, body: hasBody ? req : null }, new Exchange(res));
}

const server = createServer({ keepAliveTimeout: 120_000 }, handle);
server.listen(port, '127.0.0.1', 4096, () => process.stdout.write(`${JSON.stringify({ ready: true, port })}\n`));

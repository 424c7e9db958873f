// Debian packages the bench needs (installed at run time when missing) and the two nginx configs:
// the static backend and the reference reverse proxy.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { hasCommand } from './procs.js';

export function findBinary(name: string): string | null {
  const r = spawnSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' });
  if (r.status === 0 && r.stdout.trim() !== '') return r.stdout.trim();
  for (const dir of ['/usr/sbin', '/usr/bin', '/usr/local/sbin', '/usr/local/bin']) {
    const p = join(dir, name);
    if (existsSync(p)) return p;
  }
  return null;
}

let aptUpdated = false;

function aptInstall(pkg: string, logPath: string): boolean {
  if (!hasCommand('apt-get')) return false;
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const run = (args: string[]): boolean => {
    const r = spawnSync('sh', ['-c', `apt-get ${args.join(' ')} >>'${logPath}' 2>&1`], { env, timeout: 300_000 });
    return r.status === 0;
  };
  if (run(['install', '-y', '--no-install-recommends', pkg])) return true;
  if (!aptUpdated) {
    aptUpdated = true;
    if (run(['update']) && run(['install', '-y', '--no-install-recommends', pkg])) return true;
  }
  return false;
}

/**
 * Returns the path of `binary`, installing the first Debian package of `pkgs` that works when it is missing.
 * null (after a loud message) when it cannot be had; BENCH_NO_INSTALL=1 forbids installing.
 */
export function ensureBinary(binary: string, pkgs: readonly string[], logPath: string): string | null {
  const found = findBinary(binary);
  if (found !== null) return found;
  if (process.env['BENCH_NO_INSTALL'] === '1') {
    console.error(`\n!!!!! ${binary} is not installed and BENCH_NO_INSTALL=1: sections needing it are SKIPPED !!!!!\n`);
    return null;
  }
  for (const pkg of pkgs) {
    console.error(`.. ${binary} missing: apt-get install -y ${pkg} (log: ${logPath})`);
    if (aptInstall(pkg, logPath)) {
      const p = findBinary(binary);
      if (p !== null) return p;
    }
  }
  console.error(
    `\n!!!!! could not install ${binary} (tried Debian packages: ${pkgs.join(', ')}; see ${logPath}):` +
      ` sections needing it are SKIPPED !!!!!\n`,
  );
  return null;
}

function commonHead(dir: string, name: string, nofile: number): string {
  const tmp = join(dir, `${name}-tmp`);
  mkdirSync(tmp, { recursive: true });
  const user = process.getuid?.() === 0 ? 'user root;\n' : '';
  // nofile: the open-file limit in force (the bench raised it as far as it could).
  return `${user}worker_processes 1;
daemon off;
master_process on;
pid ${join(dir, `${name}.pid`)};
error_log ${join(dir, `${name}-error.log`)} warn;
worker_rlimit_nofile ${nofile};
events { worker_connections ${Math.max(1024, nofile - 200)}; }
`;
}

function commonHttp(dir: string, name: string): string {
  const tmp = join(dir, `${name}-tmp`);
  return `  access_log off;
  default_type application/octet-stream;
  sendfile on;
  tcp_nopush on;
  tcp_nodelay on;
  keepalive_timeout 120s;
  keepalive_requests 1000000;
  client_body_temp_path ${tmp}/body;
  proxy_temp_path ${tmp}/proxy;
  fastcgi_temp_path ${tmp}/fastcgi;
  uwsgi_temp_path ${tmp}/uwsgi;
  scgi_temp_path ${tmp}/scgi;
`;
}

/** Static backend: `/100b` and `/1m` under `wwwDir`, one worker, not pinned. Returns the config path. */
export function writeBackendConfig(dir: string, wwwDir: string, port: number, nofile: number): string {
  const conf = `${commonHead(dir, 'backend', nofile)}
http {
${commonHttp(dir, 'backend')}  open_file_cache max=64 inactive=600s;
  server {
    listen 127.0.0.1:${port} default_server backlog=4096;
    root ${wwwDir};
    location / { }
  }
}
`;
  const path = join(dir, 'backend.conf');
  writeFileSync(path, conf);
  return path;
}

/**
 * Reference proxy: one worker, keep-alive upstream pool, proxy_buffering left at its default (on);
 * `httpPort` → backend, `wsPort` → WebSocket echo server with the usual upgrade settings.
 */
export function writeProxyConfig(
  dir: string,
  httpPort: number,
  wsPort: number,
  backendPort: number,
  echoPort: number,
  nofile: number,
): string {
  const conf = `${commonHead(dir, 'proxy', nofile)}
http {
${commonHttp(dir, 'proxy')}
  upstream backend {
    server 127.0.0.1:${backendPort};
    keepalive 128;
    keepalive_requests 1000000;
    keepalive_timeout 120s;
  }
  upstream echo {
    server 127.0.0.1:${echoPort};
  }
  map $http_upgrade $connection_upgrade {
    default upgrade;
    ''      close;
  }
  server {
    listen 127.0.0.1:${httpPort} default_server backlog=4096;
    location / {
      proxy_pass http://backend;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_set_header X-Forwarded-Host $host;
      proxy_set_header X-Forwarded-Proto $scheme;
    }
  }
  server {
    listen 127.0.0.1:${wsPort} default_server backlog=4096;
    location / {
      proxy_pass http://echo;
      proxy_http_version 1.1;
      proxy_set_header Upgrade $http_upgrade;
      proxy_set_header Connection $connection_upgrade;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_read_timeout 3600s;
      proxy_send_timeout 3600s;
    }
  }
}
`;
  const path = join(dir, 'proxy.conf');
  writeFileSync(path, conf);
  return path;
}

export function nginxVersion(bin: string): string {
  const r = spawnSync(bin, ['-v'], { encoding: 'utf8' });
  return (r.stderr || r.stdout).trim().replace(/^nginx version:\s*/, '');
}

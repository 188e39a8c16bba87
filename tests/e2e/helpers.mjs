// Starts a custodia node on a free loopback port in a fresh directory and stops it after.
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import * as net from 'node:net';
import { createServer as tlsServer, connect as tlsConnect } from 'node:tls';
const { createServer } = net;
const require_net = () => net;
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const targetDir = process.env.CARGO_TARGET_DIR || join(root, 'target');
export const binary = join(targetDir, 'debug', 'custodia');

function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => resolve(port)); });
    s.on('error', reject);
  });
}

export async function startNode(role = 'central_authority', state = 'AA') {
  const dir = mkdtempSync(join(tmpdir(), 'custodia-e2e-'));
  const port = await freePort();
  execFileSync(binary, ['init', '--role', role, '--state', state, '--dir', dir, '--listen', `127.0.0.1:${port}`]);
  const proc = spawn(binary, ['serve', '--config', join(dir, 'node.toml')], { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  proc.stderr.on('data', (d) => { log += d; });
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 100; i++) {
    try { const r = await fetch(`${url}/healthz`); if (r.ok) break; } catch { /* not yet */ }
    await new Promise((r) => setTimeout(r, 100));
  }
  return { url, dir, stop: () => proc.kill('SIGTERM'), log: () => log };
}

export async function browser() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}

/// Collects console errors and page errors (a CSP violation shows up here).
export function watchErrors(page) {
  const errors = [];
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  page.on('pageerror', (e) => errors.push(String(e)));
  return errors;
}

/// Runs `custodia demo --ui --keep DIR`: five nodes that stay up after the story, with a
/// request waiting for each role. Returns each node's URL by name, the sealed package
/// for the provider's upload, and a stop function.
export async function startDemo() {
  const dir = mkdtempSync(join(tmpdir(), 'custodia-demo-ui-'));
  const proc = spawn(binary, ['demo', '--ui', '--keep', dir], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  proc.stderr.on('data', (d) => { err += d; });
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the demo did not come up in 300 s:\n${out}\n${err}`)), 300000);
    proc.stdout.on('data', (d) => {
      out += d;
      if (out.includes('Ctrl-C stops the nodes')) { clearTimeout(timer); resolve(); }
    });
    proc.on('exit', (code) => { clearTimeout(timer); reject(new Error(`the demo exited (${code}):\n${out}\n${err}`)); });
  });
  const urls = {};
  for (const m of out.matchAll(/^\s+(\S+)\s+(https?:\/\/127\.0\.0\.1:\d+)\/login/gm)) { urls[m[1]] = m[2]; }
  const pkg = out.match(/upload the sealed package (\S+) \(signed by (\S+)\)/);
  return {
    dir, urls, out,
    package: pkg && { dir: pkg[1], signer: pkg[2] },
    password: out.match(/password for all: (\S+)\)/)[1],
    stop: () => proc.kill('SIGINT'),
  };
}

/// Logs `name` in at `url` in `page`.
export async function login(page, url, name, password) {
  await page.goto(`${url}/login`);
  await page.fill('#name', name);
  await page.fill('#password', password);
  await page.click('button[type=submit]');
  await page.waitForURL(`${url}/me`);
}

const axeSource = readFileSync(join(dirname(fileURLToPath(import.meta.url)), 'node_modules', 'axe-core', 'axe.min.js'), 'utf8');

/// Runs axe-core in the page (evaluated through the browser's debugging protocol, so the
/// page's CSP stays as it is) and returns the serious and critical findings.
export async function axe(page) {
  await page.evaluate(axeSource);
  const result = await page.evaluate(() => globalThis.axe.run(document, { resultTypes: ['violations'] }));
  return result.violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => `${v.id} (${v.impact}): ${v.help} at ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`);
}

/// Saves a full-page screenshot as tests/e2e/screenshots/NAME.png (and under
/// $UI_SHOTS/NAME.png when that is set).
export async function shot(page, name) {
  const here = dirname(fileURLToPath(import.meta.url));
  const { mkdirSync } = await import('node:fs');
  mkdirSync(join(here, 'screenshots'), { recursive: true });
  await page.screenshot({ path: join(here, 'screenshots', `${name}.png`), fullPage: true });
  if (process.env.UI_SHOTS) {
    mkdirSync(process.env.UI_SHOTS, { recursive: true });
    await page.screenshot({ path: join(process.env.UI_SHOTS, `${name}.png`), fullPage: true });
  }
}

/// A proxy to the node at `target` (its URL) that cuts the connection once, after `after`
/// bytes of evidence upload (PUT) have gone through it. For an `https://` node it ends TLS
/// with the node's own certificate and key (`tls`: { cert, key } file paths), so that it
/// sees the requests, and speaks TLS to the node again.
export function cuttingProxy(target, after, tls) {
  const { createServer: tcp, connect } = require_net();
  const { protocol, hostname: host, port } = new URL(target);
  const secure = protocol === 'https:';
  const state = { cuts: 0, putBytes: 0, puts: [], heads: 0 };
  const listen = secure
    ? (handler) => tlsServer({ cert: readFileSync(tls.cert), key: readFileSync(tls.key) }, handler)
    : tcp;
  const server = listen((client) => {
    const upstream = secure
      ? tlsConnect({ host, port: Number(port), rejectUnauthorized: false })
      : connect(Number(port), host);
    let uploading = false;
    client.on('data', (d) => {
      const text = d.toString('latin1', 0, Math.min(d.length, 4000));
      const put = text.match(/^PUT (\/api\/v1\/uploads\/\S+)[\s\S]*?upload-offset: (\d+)/i);
      if (put) { uploading = true; state.puts.push(Number(put[2])); }
      else if (/^(GET|POST|HEAD) /.test(text)) { uploading = false; if (text.startsWith('HEAD')) state.heads++; }
      if (uploading) {
        state.putBytes += d.length;
        if (state.cuts === 0 && state.putBytes > after) {
          state.cuts++;
          client.destroy();
          upstream.destroy();
          return;
        }
      }
      upstream.write(d);
    });
    upstream.on('data', (d) => client.write(d));
    client.on('error', () => upstream.destroy());
    upstream.on('error', () => client.destroy());
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => {
    resolve({ url: `${protocol}//127.0.0.1:${server.address().port}`, state, close: () => server.close() });
  }));
}

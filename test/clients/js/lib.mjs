// Shared by the suites: the daemon's address, Debian's Chromium through
// playwright-core, a page server on another origin, and artifacts.
import { createServer } from 'node:http';
import { readFile, mkdir } from 'node:fs/promises';
import { extname, join, normalize } from 'node:path';
import { chromium } from 'playwright-core';

/** The daemon under test, e.g. http://127.0.0.1:41234 (no trailing slash). */
export const baseURL = (() => {
  const url = process.env.WARMBOX_URL;
  if (!url) throw new Error('WARMBOX_URL is not set: run these suites through go test ./test/clients');
  return url.replace(/\/$/, '');
})();

/** Launches Debian's Chromium headless; never a downloaded browser. */
export async function launchChromium() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    // The machine has no network beyond loopback: background fetches
    // (updates, sync, safe browsing) would only fail, noisily.
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}

/** Saves a screenshot of page as WARMBOX_ARTIFACTS/name.png; returns its path. */
export async function screenshot(page, name) {
  const dir = process.env.WARMBOX_ARTIFACTS;
  if (!dir) return '';
  await mkdir(dir, { recursive: true });
  const file = join(dir, name + '.png');
  await page.screenshot({ path: file, fullPage: true });
  console.log(`screenshot: ${file}`);
  return file;
}

const types = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript', '.mjs': 'text/javascript', '.css': 'text/css' };

/**
 * Serves files on 127.0.0.1:WARMBOX_PAGE_PORT (an origin other than the
 * daemon's, which the daemon's http.cors_origins names): `/` maps to dir
 * (test/clients/js), so pages reach fixtures/ and node_modules/.
 */
export async function startPageServer(dir = new URL('.', import.meta.url).pathname) {
  const port = Number(process.env.WARMBOX_PAGE_PORT);
  if (!port) throw new Error('WARMBOX_PAGE_PORT is not set');
  const server = createServer(async (req, res) => {
    const path = normalize(decodeURIComponent(new URL(req.url, 'http://x').pathname));
    if (path.includes('..')) { res.writeHead(400).end(); return; }
    try {
      const body = await readFile(join(dir, path));
      res.writeHead(200, { 'Content-Type': types[extname(path)] || 'application/octet-stream' }).end(body);
    } catch {
      res.writeHead(404).end('not found');
    }
  });
  await new Promise((resolve, reject) => server.listen(port, '127.0.0.1', resolve).on('error', reject));
  return { origin: `http://127.0.0.1:${port}`, close: () => new Promise((r) => server.close(r)) };
}

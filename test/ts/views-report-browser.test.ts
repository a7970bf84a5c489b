// The HTML report in a real browser: Debian's headless Chromium (installed by .ci/run) opens the
// file offline; every chart's box must hold drawn marks and the page must log no error.
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium, type BrowserContext } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readJsonl } from '../../lib/views/read-jsonl.js';
import { writePlots } from '../../lib/views/plot.js';

const CHROMIUM = '/usr/bin/chromium';
const fixture = (name: string) => path.resolve(import.meta.dirname, '../fixtures/views', name);

// Skipped on a machine without Debian's chromium, except in CI (.ci/run installs it and sets CI).
const haveChromium = existsSync(CHROMIUM) || Boolean(process.env.CI);

describe.skipIf(!haveChromium)('HTML report in headless Chromium', () => {
  let browser: BrowserContext;
  const dir = mkdtempSync(path.join(tmpdir(), 'gpubench-report-'));

  beforeAll(async () => {
    // A fresh profile directory per run (playwright passes it as --user-data-dir).
    browser = await chromium.launchPersistentContext(path.join(dir, 'profile'), {
      executablePath: CHROMIUM,
      viewport: { width: 1400, height: 900 },
      args: [
        '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
        '--disable-component-update', '--disable-sync',
      ],
    });
  });

  afterAll(async () => {
    await browser?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('draws every chart, offline, with no console error', async () => {
    const html = path.join(dir, 'report.html');
    await writePlots(readJsonl(fixture('new.jsonl')), html);
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
    page.on('pageerror', (e) => errors.push(e.message));
    // Any request other than the file itself would mean the report is not self-contained.
    const requests: string[] = [];
    page.on('request', (r) => r.url().startsWith('file:') || requests.push(r.url()));
    await page.goto(pathToFileURL(html).href);

    const charts = page.locator('.chart');
    const names = await charts.evaluateAll((els) => els.map((e) => e.getAttribute('data-chart')));
    expect(names).toEqual(['step-time', 'throughput', 'ratio-heatmap', 'ops', 'pareto']);
    // Axes, grid lines and text are grey; the marks are coloured. With the legends (coloured
    // swatches) hidden, the coloured pixels inside a chart's box are its marks: none if it drew none.
    await page.addStyleTag({ content: '.role-legend { visibility: hidden; }' });
    const boxes = await charts.evaluateAll((els) => els.map((e) => {
      const r = e.getBoundingClientRect();
      return { x: Math.round(r.x + window.scrollX), y: Math.round(r.y + window.scrollY), w: Math.round(r.width), h: Math.round(r.height) };
    }));
    const shot = (await page.screenshot({ fullPage: true })).toString('base64');
    // The browser decodes its own screenshot (a canvas reads the PNG back), so no PNG library is needed.
    const drawn = await page.evaluate(async ({ png, boxes }) => {
      const img = new Image();
      img.src = `data:image/png;base64,${png}`;
      await img.decode();
      const canvas = document.createElement('canvas');
      canvas.width = img.width;
      canvas.height = img.height;
      const ctx = canvas.getContext('2d')!;
      ctx.drawImage(img, 0, 0);
      return boxes.map((b) => {
        const px = ctx.getImageData(b.x, b.y, b.w, b.h).data;
        let n = 0;
        for (let i = 0; i < px.length; i += 4) {
          if (Math.max(px[i]!, px[i + 1]!, px[i + 2]!) - Math.min(px[i]!, px[i + 1]!, px[i + 2]!) > 40) n++;
        }
        return n / (b.w * b.h);
      });
    }, { png: shot, boxes });
    // Measured: 1.2% (the Pareto chart's few points) to 63% (the heat map); 0 with the marks removed.
    drawn.forEach((share, i) => expect(share, names[i]!).toBeGreaterThan(0.005));
    await expect(page.locator('#telemetry .omitted').textContent()).resolves.toMatch(/no telemetry/);
    expect(errors).toEqual([]);
    expect(requests).toEqual([]);
  });
});

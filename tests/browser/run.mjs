/**
 * Browser tests of the query editor, the config editor and live tail, in real headless Chromium.
 *
 *   npm run test:browser     (builds the harness, then runs this file)
 *
 * It serves tests/browser/dist/ (the harness built by webpack.config.mjs) on 127.0.0.1 at a
 * random port, launches Chromium through playwright-core (Debian's /usr/bin/chromium, or
 * $CHROMIUM_PATH; never a downloaded browser), drives the editors by clicking and typing, and
 * asserts the query and settings JSON they emit. The live tail test starts the live bridge
 * (pkg/e2e/livebridge_test.go: the built plugin binary, streamed as Grafana does) with `go test`
 * and checks what the plugin's DataSource streams in Explore's Live mode. Screenshots go to
 * tests/browser/artifacts/, also on failure (failure-<test>.png).
 *
 * Waits are for elements and states, never for fixed times. Every test has a timeout, the whole
 * run a watchdog, and the browser and the server are always closed.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { spawn } from 'node:child_process';
import { isDeepStrictEqual } from 'node:util';
import { chromium } from 'playwright-core';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../..');
const DIST = path.join(here, 'dist');
const ARTIFACTS = path.join(here, 'artifacts');
// Grafana serves @grafana/ui's icons at public/build/img/icons/; the package ships them.
const ICONS = path.join(root, 'node_modules/@grafana/ui/dist/public/img/icons');
const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';

const TEST_TIMEOUT_MS = 60_000;
const ACTION_TIMEOUT_MS = 10_000;
// The live tail test builds and starts the plugin binary first (a minute or more, cold).
const WATCHDOG_MS = 420_000;
const BRIDGE_START_MS = 240_000;

// The last resort against a hang: fail the run. Playwright kills the browser on exit.
setTimeout(() => {
  console.error(`browser tests: still running after ${WATCHDOG_MS / 1000}s, giving up`);
  process.exit(1);
}, WATCHDOG_MS).unref();

const TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.css': 'text/css; charset=utf-8',
};

/** Serves dist/ and the icons, nothing else; resolves the listening server. */
function startServer() {
  const server = http.createServer((req, res) => {
    const pathname = decodeURIComponent(new URL(req.url ?? '/', 'http://127.0.0.1').pathname);
    let file;
    if (pathname === '/') {
      file = path.join(DIST, 'index.html');
    } else if (pathname.startsWith('/public/build/img/icons/')) {
      file = path.join(ICONS, pathname.slice('/public/build/img/icons/'.length));
    } else {
      file = path.join(DIST, pathname);
    }
    const inside = file.startsWith(DIST + path.sep) || file.startsWith(ICONS + path.sep);
    fs.readFile(file, (err, body) => {
      if (!inside || err) {
        res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
        return;
      }
      res.writeHead(200, { 'content-type': TYPES[path.extname(file)] ?? 'application/octet-stream' }).end(body);
    });
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve(server));
  });
}

function launchBrowser() {
  if (!fs.existsSync(CHROMIUM)) {
    throw new Error(
      `${CHROMIUM} not found: install Debian's chromium (apt-get install -y chromium) or set CHROMIUM_PATH`
    );
  }
  const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'k8saudit-chromium-'));
  return {
    userDataDir,
    // A persistent context is the only way to give Chromium our own --user-data-dir.
    contextPromise: chromium.launchPersistentContext(userDataDir, {
      executablePath: CHROMIUM,
      headless: true,
      timeout: 30_000,
      viewport: { width: 1400, height: 900 },
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    }),
  };
}

let server;
let baseURL;
// Origins the page may reach: the harness server, and the live bridge once it runs.
const allowedOrigins = new Set();
let context;
let userDataDir;

before(async () => {
  // Only this run's screenshots.
  fs.rmSync(ARTIFACTS, { recursive: true, force: true });
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  if (!fs.existsSync(path.join(DIST, 'harness.js'))) {
    throw new Error('tests/browser/dist/harness.js is missing: build it with npm run test:browser');
  }
  server = await startServer();
  baseURL = `http://127.0.0.1:${server.address().port}`;
  allowedOrigins.add(baseURL);
  const started = Date.now();
  const launched = launchBrowser();
  userDataDir = launched.userDataDir;
  context = await launched.contextPromise;
  context.setDefaultTimeout(ACTION_TIMEOUT_MS);
  // Only the harness server (and the live bridge): nothing leaves the machine.
  await context.route(
    (url) => !allowedOrigins.has(url.origin),
    (route) => route.abort()
  );
  console.log(`# ${CHROMIUM} started in ${Date.now() - started} ms, harness at ${baseURL}`);
});

after(async () => {
  // Each step on its own: a failure to close one never leaves the other running.
  try {
    await Promise.race([context?.close(), new Promise((resolve) => setTimeout(resolve, 10_000).unref())]);
  } catch (e) {
    console.error('closing the browser:', e);
  }
  if (server) {
    const closed = new Promise((resolve) => server.close(() => resolve()));
    // Keep-alive connections would hold close() open.
    server.closeAllConnections();
    await closed;
  }
  if (userDataDir) {
    fs.rmSync(userDataDir, { recursive: true, force: true });
  }
});

/**
 * Runs one test on a fresh page of the harness; screenshots the page when the test fails and
 * fails it on any uncaught error in the page.
 */
function browserTest(name, fn) {
  it(name, { timeout: TEST_TIMEOUT_MS }, async () => {
    const page = await context.newPage();
    const pageErrors = [];
    page.on('pageerror', (e) => pageErrors.push(e));
    try {
      await fn(page);
      assert.deepEqual(pageErrors, [], 'uncaught errors in the page');
    } catch (e) {
      const file = path.join(ARTIFACTS, `failure-${name.replace(/[^a-z0-9]+/gi, '-')}.png`);
      await page.screenshot({ path: file, fullPage: true }).catch(() => {});
      console.error(`# screenshot of the failure: ${path.relative(root, file)}`);
      for (const err of pageErrors) {
        console.error('# uncaught error in the page:', err);
      }
      throw e;
    } finally {
      await page.close().catch(() => {});
    }
  });
}

/** Opens the harness with the given editor; resolves when it has rendered. */
async function open(page, params) {
  await page.goto(`${baseURL}/?${new URLSearchParams(params)}`);
  await page.locator(`[data-testid="harness"][data-editor="${params.editor}"]`).waitFor();
}

/** Waits for JSON rendered into <pre data-testid=testid> to equal `expected`, then asserts it. */
async function expectJSON(page, testid, expected, pick = (v) => v) {
  const pre = page.getByTestId(testid);
  const read = async () => pick(JSON.parse(await pre.textContent()));
  const deadline = Date.now() + ACTION_TIMEOUT_MS;
  let actual = await read();
  while (!isDeepStrictEqual(actual, expected) && Date.now() < deadline) {
    // React re-renders on the next frame at the latest: wait for the text to change.
    const before = await pre.textContent();
    await page
      .waitForFunction(([el, text]) => el.textContent !== text, [await pre.elementHandle(), before], {
        timeout: Math.max(1, deadline - Date.now()),
      })
      .catch(() => {});
    actual = await read();
  }
  assert.deepEqual(actual, expected);
}

/** The last query the editor emitted (window.__lastQuery), after its rendering settled. */
const lastQuery = (page) => page.evaluate(() => window.__lastQuery);

/** A radio option of a RadioButtonGroup (query type, format, source...), by its label. */
async function chooseRadio(page, group, label) {
  const radio = page.getByRole('radiogroup', { name: group }).getByRole('radio', { name: label, exact: true });
  // The (transparent) input lies over its label and takes the click, as a user's would.
  await radio.check();
}

/** Opens a picker (its input by id) unless it is open; resolves its menu (the listbox it controls). */
async function openPicker(page, id) {
  const input = page.locator(`#${id}`);
  if ((await input.getAttribute('aria-expanded')) !== 'true') {
    await input.click();
  }
  await page.locator(`#${id}[aria-expanded="true"]`).waitFor();
  return page.locator(`[id="${await input.getAttribute('aria-controls')}"]`);
}

/** The option of an open menu labelled exactly `label`. */
function option(page, menu, label) {
  return menu
    .getByRole('option')
    .filter({ has: page.getByText(label, { exact: true }) })
    .first();
}

/** Opens a picker and clicks the option labelled exactly `label`. */
async function pick(page, id, label) {
  const menu = await openPicker(page, id);
  await option(page, menu, label).click();
}

/** Opens a picker, types `text` and clicks the option offering exactly that value. */
async function typeInto(page, id, text) {
  const menu = await openPicker(page, id);
  await page.locator(`#${id}`).fill(text);
  // The value offered as typed and a known value it matches both give `text`.
  await option(page, menu, text).click();
}

/** Leaves the open picker the way a user moving on does: a click elsewhere. */
async function closePicker(page, id) {
  await page.getByTestId('harness').click({ position: { x: 1, y: 1 } });
  await page.locator(`#${id}[aria-expanded="false"]`).waitFor();
}

/** The one-line summary of the query under the editor. */
const summary = (page) => page.getByTestId('query-summary').textContent();

describe('query editor', { concurrency: 1 }, () => {
  browserTest('builds a time series query by clicking and typing', async (page) => {
    await open(page, { editor: 'query' });
    // A new query is the datasource's default: a request count.
    await expectJSON(page, 'query-json', { refId: 'A', schemaVersion: 1, queryType: 'timeseries', metric: 'count' });

    // Pick another type, then come back to requests.
    await chooseRadio(page, 'Query type', 'Events');
    await expectJSON(page, 'query-json', 'events', (q) => q.queryType);
    await chooseRadio(page, 'Query type', 'Requests');
    await chooseRadio(page, 'Metric', 'Rate');

    // Verbs: a value the backend listed, then a typed exclusion.
    await pick(page, 'audit-filter-verbs', 'get');
    await typeInto(page, 'audit-filter-verbs', '!watch');
    await closePicker(page, 'audit-filter-verbs');
    // Namespaces: a listed value and a typed exclusion glob.
    await pick(page, 'audit-filter-namespaces', 'team-a');
    await typeInto(page, 'audit-filter-namespaces', '!kube-*');
    await closePicker(page, 'audit-filter-namespaces');
    // Group by two dimensions (GET /dimensions labels them).
    await pick(page, 'audit-group-by', 'User');
    await pick(page, 'audit-group-by', 'Namespace');
    await closePicker(page, 'audit-group-by');
    // Limit.
    await page.locator('#audit-limit').fill('25');
    await page.locator('#audit-limit').blur();

    const expected = {
      refId: 'A',
      schemaVersion: 1,
      queryType: 'timeseries',
      metric: 'rate',
      filter: { verbs: ['get', '!watch'], namespaces: ['team-a', '!kube-*'] },
      groupBy: ['user.username', 'objectRef.namespace'],
      limit: 25,
    };
    await expectJSON(page, 'query-json', expected);
    assert.deepEqual(await lastQuery(page), expected);
    // Values were asked for the pickers that were opened, once each.
    assert.deepEqual(await page.evaluate(() => window.__valuesRequests), ['verb', 'objectRef.namespace']);
    assert.equal(
      await summary(page),
      'Requests per second of get requests by user and namespace where namespace is team-a and namespace does not match kube-*, excluding watch, top 25 series'
    );
    assert.equal(await page.getByTestId('query-errors').count(), 0, 'no validation errors');
    assert.ok((await page.evaluate(() => window.__runs)) > 0, 'the query ran');

    await page.screenshot({ path: path.join(ARTIFACTS, 'query-editor.png'), fullPage: true });
  });

  browserTest('switching to latency and back keeps every field', async (page) => {
    const initial = {
      refId: 'A',
      schemaVersion: 1,
      queryType: 'timeseries',
      metric: 'rate',
      filter: { verbs: ['get'], namespaces: ['!kube-system'] },
      groupBy: ['verb'],
      limit: 5,
    };
    await open(page, { editor: 'query', query: JSON.stringify(initial) });
    await page.locator('#audit-filter-verbs').waitFor();

    await chooseRadio(page, 'Query type', 'Latency');
    await page.locator('#audit-quantiles').fill('p50, p99');
    await page.locator('#audit-quantiles').blur();
    await chooseRadio(page, 'Format', 'Heatmap');
    await expectJSON(page, 'query-json', {
      ...initial,
      queryType: 'latency',
      quantiles: [0.5, 0.99],
      format: 'heatmap',
    });

    // Back to requests: the type changes, the latency-only fields stay for the next switch.
    await chooseRadio(page, 'Query type', 'Requests');
    const back = { ...initial, quantiles: [0.5, 0.99], format: 'heatmap' };
    await expectJSON(page, 'query-json', back);
    assert.equal(await page.locator('#audit-limit').inputValue(), '5');
    assert.match(
      await summary(page),
      /^Requests per second of get requests by verb where namespace is not kube-system/
    );

    // And to latency again: the heatmap format chosen before is still there.
    await chooseRadio(page, 'Query type', 'Latency');
    await expectJSON(page, 'query-json', { ...back, queryType: 'latency' });
    assert.equal(await page.getByRole('radio', { name: 'Heatmap', exact: true }).isChecked(), true);
  });

  browserTest('detections: rules and severities', async (page) => {
    await open(page, { editor: 'query' });
    await chooseRadio(page, 'Query type', 'Detections');
    await pick(page, 'audit-rules', 'exec-into-pod');
    await typeInto(page, 'audit-rules', 'secret*');
    await closePicker(page, 'audit-rules');
    await pick(page, 'audit-severities', 'high');
    await pick(page, 'audit-severities', 'critical');
    await closePicker(page, 'audit-severities');
    await chooseRadio(page, 'Format', 'Counts');

    await expectJSON(page, 'query-json', {
      refId: 'A',
      schemaVersion: 1,
      queryType: 'detections',
      metric: 'count',
      rules: ['exec-into-pod', 'secret*'],
      severities: ['high', 'critical'],
      format: 'timeseries',
    });
    assert.equal(await page.getByTestId('query-errors').count(), 0, 'no validation errors');
  });
});

describe('query editor: every query type', { concurrency: 1 }, () => {
  // Each type's label in the picker, its value in the query model, and a limit to set.
  const types = [
    ['Requests', 'timeseries', 7],
    ['Latency', 'latency', 3],
    ['Denied', 'denied', 50],
    ['Top N', 'topn', 20],
    ['Matrix', 'matrix', 8],
    ['Events', 'events', 200],
    ['Detections', 'detections', 30],
    ['Latency breakdown', 'latencyBreakdown', 15],
    ['Deprecated APIs', 'deprecatedApis', 40],
    ['Object history', 'objectHistory', 500],
    ['Pipeline health', 'pipelineHealth', 5],
  ];
  browserTest('builds a query of every type', async (page) => {
    await open(page, { editor: 'query' });
    for (const [label, queryType, limit] of types) {
      await chooseRadio(page, 'Query type', label);
      await expectJSON(page, 'query-json', queryType, (q) => q.queryType);
      const input = page.locator('#audit-limit');
      await input.fill(String(limit));
      await input.blur();
      await expectJSON(page, 'query-json', { queryType, limit }, (q) => ({ queryType: q.queryType, limit: q.limit }));
      assert.notEqual(await summary(page), '', `${label}: a summary of the query`);
    }
  });
});

describe('query editor at 700 px', { concurrency: 1 }, () => {
  /**
   * What sticks out at the page's width: the page scrolling sideways, elements of the harness
   * reaching past its right edge, and labels whose text does not fit them (cut off, or broken
   * onto a line below the label's box).
   */
  const overflow = (page) =>
    page.evaluate(() => {
      const out = [];
      const doc = document.documentElement;
      if (doc.scrollWidth > doc.clientWidth) {
        out.push(`the page scrolls sideways: ${doc.scrollWidth} > ${doc.clientWidth} px`);
      }
      const harness = document.querySelector('[data-testid="harness"]').getBoundingClientRect();
      const describe = (el) => `${el.tagName.toLowerCase()} "${(el.textContent ?? '').trim().slice(0, 40)}"`;
      for (const el of document.querySelectorAll('[data-testid="harness"] *')) {
        const r = el.getBoundingClientRect();
        if (r.width > 0 && r.right > harness.right + 0.5) {
          out.push(
            `${describe(el)} ends at ${Math.round(r.right)} px, past the editor's ${Math.round(harness.right)} px`
          );
        }
      }
      for (const el of document.querySelectorAll('[data-testid="harness"] label')) {
        if (el.scrollWidth > el.clientWidth + 0.5) {
          out.push(`label ${describe(el)} is cut off: ${el.scrollWidth} > ${el.clientWidth} px`);
        }
        // A label too narrow for its text breaks it onto a second line that spills out of the box.
        if (el.scrollHeight > el.clientHeight + 0.5) {
          out.push(`label ${describe(el)} spills out: ${el.scrollHeight} > ${el.clientHeight} px high`);
        }
      }
      return out;
    });

  browserTest('every query type fits without horizontal overflow', async (page) => {
    await page.setViewportSize({ width: 700, height: 900 });
    await open(page, { editor: 'query' });
    const radios = page.getByRole('radiogroup', { name: 'Query type' }).getByRole('radio');
    const labels = await radios.evaluateAll((els) => els.map((e) => e.labels?.[0]?.textContent?.trim() ?? ''));
    assert.ok(labels.length >= 11, `query types: ${labels}`);
    for (const label of labels) {
      await chooseRadio(page, 'Query type', label);
      await page.getByTestId('query-summary').waitFor();
      assert.deepEqual(await overflow(page), [], `${label} at 700 px`);
    }
    // The widest options row: topn with its sort order, long-running switch and limit.
    await chooseRadio(page, 'Query type', 'Top N');
    await chooseRadio(page, 'Sort by', 'p99');
    await expectJSON(page, 'query-json', { queryType: 'topn', sortBy: 'p99' }, (q) => ({
      queryType: q.queryType,
      sortBy: q.sortBy,
    }));
    assert.match(await summary(page), /^Top 10 users by p99 latency/);
    assert.deepEqual(await overflow(page), [], 'topn by p99 at 700 px');
    await page.screenshot({ path: path.join(ARTIFACTS, 'query-editor-700px.png'), fullPage: true });
  });
});

describe('config editor', { concurrency: 1 }, () => {
  browserTest('Loki with a bearer token', async (page) => {
    await open(page, { editor: 'config' });
    // A new datasource gets its source written explicitly.
    await expectJSON(page, 'options-json', { jsonData: { source: 'file' }, secureJsonData: {} });

    await chooseRadio(page, 'Audit log source', 'Loki');
    await page.getByLabel('URL', { exact: true }).fill('http://loki.example:3100');
    await chooseRadio(page, 'Loki authentication', 'Bearer token');
    const token = page.getByLabel('Token', { exact: true });
    await token.fill('s3cret-token');
    // A secret is never shown.
    assert.equal(await token.getAttribute('type'), 'password');

    const expected = {
      jsonData: { source: 'loki', loki: { url: 'http://loki.example:3100', auth: 'bearer' } },
      secureJsonData: { lokiBearerToken: 's3cret-token' },
    };
    await expectJSON(page, 'options-json', expected);
    const last = await page.evaluate(() => window.__lastOptions);
    assert.deepEqual({ jsonData: last?.jsonData, secureJsonData: last?.secureJsonData }, expected);

    await page.screenshot({ path: path.join(ARTIFACTS, 'config-editor.png'), fullPage: true });
  });

  browserTest('detections: allow-lists for every rule and for one rule, RBAC look-back', async (page) => {
    await open(page, { editor: 'config' });
    await expectJSON(page, 'options-json', { jsonData: { source: 'file' }, secureJsonData: {} });

    await page.locator('#audit-detections-allow-users').fill('system:serviceaccount:ci:*, alice');
    // A rule row: pick the rule, then its list.
    await page.getByRole('button', { name: 'Add rule allow-list' }).click();
    await pick(page, 'audit-detections-rule-0', 'exec-into-pod');
    // A single pick closes its menu once the row has its rule: only then fill the row's list
    // (filled before, the list belongs to a row without a rule, which is left out).
    await page.locator('#audit-detections-rule-0[aria-expanded="false"]').waitFor();
    await page.locator('#audit-detections-rule-0-namespaces').fill('debug-*');
    await page.locator('#audit-detections-rbac-lookback').fill('7d');

    const expected = {
      jsonData: {
        source: 'file',
        detections: {
          allow: { users: ['system:serviceaccount:ci:*', 'alice'] },
          rules: { 'exec-into-pod': { allow: { namespaces: ['debug-*'] } } },
          rbacLookback: '7d',
        },
      },
      secureJsonData: {},
    };
    await expectJSON(page, 'options-json', expected);
    assert.deepEqual(await page.evaluate(() => window.__lastOptions?.jsonData), expected.jsonData);
    // Nothing the backend would reject: no validation message.
    assert.equal(await page.getByText(/fail until this is fixed|Pick a rule/).count(), 0, 'no validation messages');

    // A look-back the backend cannot read is flagged next to the field.
    await page.locator('#audit-detections-rbac-lookback').fill('1w');
    await page.getByText('"1w" is not a duration such as 90m, 24h or 7d', { exact: false }).waitFor();

    await page.screenshot({ path: path.join(ARTIFACTS, 'config-detections.png'), fullPage: true });
  });
});

/**
 * Starts the live bridge (pkg/e2e/livebridge_test.go): `go test` builds the plugin binary,
 * starts it over the plugin protocol as Grafana does, and serves the plugin's streams to the page.
 * Resolves { url, exited } once it has written its URL.
 */
async function startBridge() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'k8saudit-bridge-'));
  const addrFile = path.join(dir, 'addr');
  const child = spawn('go', ['test', '-count=1', '-run', '^TestLiveBridge$', '-v', './pkg/e2e/'], {
    cwd: root,
    env: { ...process.env, K8SAUDIT_LIVE_BRIDGE: addrFile, K8SAUDIT_LIVE_BRIDGE_SECONDS: '300' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (b) => (output += b));
  child.stderr.on('data', (b) => (output += b));
  const exited = new Promise((resolve) => child.on('exit', (code) => resolve({ code, output })));
  const deadline = Date.now() + BRIDGE_START_MS;
  let ended = false;
  exited.then(() => (ended = true));
  while (!fs.existsSync(addrFile)) {
    if (ended || Date.now() > deadline) {
      child.kill();
      throw new Error(`the live bridge did not start:\n${output}`);
    }
    // The bridge writes the file once: poll for that state.
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  const url = fs.readFileSync(addrFile, 'utf8').trim();
  fs.rmSync(dir, { recursive: true, force: true });
  return { url, child, exited, output: () => output };
}

async function bridgeCall(bridge, method, pathname) {
  const res = await fetch(`${bridge.url}${pathname}`, { method });
  const body = await res.text();
  assert.equal(res.status, 200, `${method} ${pathname}: ${res.status} ${body}`);
  return JSON.parse(body);
}

/** Waits until the text of <pre data-testid=testid> satisfies ok (its lines), then returns them. */
async function waitLines(page, testid, ok, what) {
  const pre = page.getByTestId(testid);
  const deadline = Date.now() + 30_000;
  for (;;) {
    const text = (await pre.textContent()) ?? '';
    const lines = text === '' ? [] : text.split('\n');
    if (ok(lines)) {
      return lines;
    }
    const errors = await page.getByTestId('live-errors').textContent();
    if (errors) {
      throw new Error(`waiting for ${what}: ${errors}`);
    }
    if (Date.now() > deadline) {
      throw new Error(`waiting for ${what}: ${testid} is ${JSON.stringify(lines)}`);
    }
    await page
      .waitForFunction(([el, before]) => el.textContent !== before, [await pre.elementHandle(), text], {
        timeout: Math.max(1, deadline - Date.now()),
      })
      .catch(() => {});
  }
}

describe('live tail', { concurrency: 1 }, () => {
  let bridge;
  before(async () => {
    bridge = await startBridge();
    allowedOrigins.add(new URL(bridge.url).origin);
  });
  after(async () => {
    if (!bridge) {
      return;
    }
    await fetch(`${bridge.url}/quit`, { method: 'POST' }).catch(() => {});
    const { code, output } = await Promise.race([
      bridge.exited,
      new Promise((resolve) => setTimeout(() => resolve({ code: 'timeout', output: bridge.output() }), 30_000).unref()),
    ]);
    if (code !== 0) {
      bridge.child.kill();
      throw new Error(`the live bridge ended with ${code}:\n${output}`);
    }
  });

  browserTest("Explore's Live mode streams new events from the plugin binary, until stopped", async (page) => {
    await page.goto(`${baseURL}/?${new URLSearchParams({ editor: 'live', bridge: bridge.url })}`);
    await page.locator('[data-testid="harness"][data-editor="live"]').waitFor();
    // The plugin's first frame says what the tail follows; nothing written before it streams.
    await waitLines(page, 'live-notices', (l) => l.some((n) => n.startsWith('info: live tail: ')), 'the tail to start');
    assert.deepEqual(await waitLines(page, 'live-ids', () => true, 'rows'), []);
    assert.equal(await page.getByTestId('live-state').textContent(), 'Streaming');

    // DataSource.query subscribed to the datasource's tail channel with the query as its data.
    const [addr, more] = await page.evaluate(() => window.__live?.subscribed ?? []);
    assert.equal(more, undefined, 'one subscription');
    assert.equal(addr.scope, 'ds');
    assert.equal(addr.stream, 'k8saudit-browser-test');
    assert.match(addr.path, /^tail\/[0-9a-f]{16}$/);
    assert.deepEqual(
      { queryType: addr.data.queryType, format: addr.data.format, filter: addr.data.filter, stream: addr.data.stream },
      { queryType: 'events', format: 'logs', filter: { verbs: ['get'] }, stream: undefined }
    );
    assert.deepEqual(await bridgeCall(bridge, 'GET', '/status'), { active: 1, runs: 1 });

    // Events appended to audit.log arrive once each, in order, as rows of a logs frame.
    const first = await bridgeCall(bridge, 'POST', '/append?n=5');
    assert.deepEqual(await waitLines(page, 'live-ids', (l) => l.length >= 5, 'five rows'), first);
    const second = await bridgeCall(bridge, 'POST', '/append?n=3');
    assert.deepEqual(await waitLines(page, 'live-ids', (l) => l.length >= 8, 'eight rows'), [...first, ...second]);
    assert.match(await page.getByTestId('live-frame').textContent(), / logs 8 rows$/);
    assert.equal(await page.getByTestId('live-state').textContent(), 'Streaming');
    await page.screenshot({ path: path.join(ARTIFACTS, 'live-tail.png'), fullPage: true });

    // Stop unsubscribes: the plugin's RunStream ends.
    await page.getByRole('button', { name: 'Stop' }).click();
    await page.getByTestId('live-state').filter({ hasText: 'Stopped' }).waitFor();
    const deadline = Date.now() + 30_000;
    let status = await bridgeCall(bridge, 'GET', '/status');
    while (status.active !== 0 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      status = await bridgeCall(bridge, 'GET', '/status');
    }
    assert.deepEqual(status, { active: 0, runs: 1 }, 'the stream ended when the page unsubscribed');
  });
});

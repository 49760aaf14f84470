// End-to-end test of examples/web in headless Chromium (Debian's
// /usr/bin/chromium driven by playwright-core) against a running demo:
// build/hotelmux with examples/demo.lua (only the simulated suppliers whose
// connector and simulator exist), static files from examples/web.
//
// Env: HM_BINARY, HM_SOURCE_DIR, HM_SCREENSHOTS (folder for the step
// screenshots), HM_CHROMIUM (default /usr/bin/chromium). Prints
// "N passed, N failed, N skipped" last; exits 1 when anything failed.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const SRC = path.resolve(process.env.HM_SOURCE_DIR || path.join(HERE, '..', '..'));
const BIN = path.resolve(process.env.HM_BINARY || path.join(SRC, 'build', 'hotelmux'));
const SHOTS = path.resolve(process.env.HM_SCREENSHOTS || path.join(SRC, 'build', 'browser-screenshots'));
const CHROMIUM = process.env.HM_CHROMIUM || '/usr/bin/chromium';
const SKIP = 77;

let chromium;
try { ({ chromium } = await import('playwright-core')); } catch (e) {
  console.log(`SKIP: playwright-core is not installed in ${HERE} (${e.message.split('\n')[0]})`);
  process.exit(SKIP);
}
if (!fs.existsSync(CHROMIUM)) { console.log(`SKIP: ${CHROMIUM} not found (apt-get install chromium)`); process.exit(SKIP); }
if (!fs.existsSync(BIN)) { console.log(`FAIL: hotelmux binary not found: ${BIN}`); process.exit(1); }
fs.rmSync(SHOTS, { recursive: true, force: true });
fs.mkdirSync(SHOTS, { recursive: true });

// ---- the demo server -----------------------------------------------------------
const SUPPLIERS = ['hotelbeds', 'expedia', 'agoda', 'derbysoft', 'dida'].filter((s) =>
  fs.existsSync(path.join(SRC, 'scripts', 'connectors', s + '.lua')) &&
  fs.existsSync(path.join(SRC, 'examples', 'suppliers', s + '.lua')));

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => resolve(p)); });
    s.on('error', reject);
  });
}

async function startServer() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hmbrowser-'));
  fs.copyFileSync(path.join(SRC, 'examples', 'demo.lua'), path.join(dir, 'demo_base.lua'));
  const q = JSON.stringify;
  const scripts = ['auth', 'search', 'trade'].map((n) => `${SRC}/scripts/api/${n}.lua`)
    .concat(SUPPLIERS.map((s) => `${SRC}/examples/suppliers/${s}.lua`));
  fs.writeFileSync(path.join(dir, 'config.lua'), `
local base = require("demo_base")
base.workers = 2
-- The UI is under test, not the deadlines: a supplier slowed by a loaded
-- machine (the suite runs two tests at once) must still be in the answer.
for _, s in pairs(base.suppliers) do s.timeout_ms = 3000 end
base.search_deadline_ms = 5000
base.lua_path = { ${q(SRC + '/scripts')}, ${q(SRC + '/examples')} }
base.scripts = { ${scripts.map((s) => q(s)).join(', ')} }
base.ledger = ${q(path.join(dir, 'ledger.sqlite'))}
base.static = { ["/ui/"] = ${q(SRC + '/examples/web')} }
return base
`);
  const log = fs.openSync(path.join(dir, 'server.log'), 'a');
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort();
    const proc = spawn(BIN, ['-c', path.join(dir, 'config.lua'), '--listen', `127.0.0.1:${port}`],
      { cwd: dir, stdio: ['ignore', log, log] });
    const deadline = Date.now() + 10000;
    while (Date.now() < deadline && proc.exitCode === null) {
      try { if ((await fetch(`http://127.0.0.1:${port}/health`)).ok) return { proc, port, dir }; } catch (_) { /* not yet */ }
      await new Promise((r) => setTimeout(r, 100));
    }
    proc.kill('SIGKILL');
  }
  throw new Error('hotelmux did not start:\n' + fs.readFileSync(path.join(dir, 'server.log'), 'utf8').slice(-3000));
}

// ---- helpers -------------------------------------------------------------------------
const results = { passed: 0, failed: 0, skipped: 0 };
let srv, browser, base;
async function sim(name, what, body) {
  const r = await fetch(`${base}/sim/${name}/${what}`, { method: 'POST', body: JSON.stringify(body), headers: { 'Content-Type': 'application/json' } });
  if (!r.ok) throw new Error(`sim ${name}/${what}: HTTP ${r.status}`);
}
// ratePkgId = supplier~base64url(json).mac: readable (the test looks up the
// hotel and room in it), but signed, so it cannot be edited.
const decodePkg = (id) => { const [sup, rest] = id.split('.')[0].split('~'); return { sup, t: JSON.parse(Buffer.from(rest, 'base64url').toString()) }; };
function assert(cond, msg) { if (!cond) throw new Error('assertion failed: ' + msg); }

let shotN = 0;
async function shot(page, name) {
  shotN++;
  await page.screenshot({ path: path.join(SHOTS, `${String(shotN).padStart(2, '0')}-${name}.png`), fullPage: true });
}

async function newPage(viewport = { width: 1100, height: 900 }) {
  const ctx = await browser.newContext({ viewport });
  const page = await ctx.newPage();
  page.setDefaultTimeout(10000);
  page.errors = [];
  page.on('pageerror', (e) => page.errors.push(String(e)));
  page.on('console', (m) => { if (m.type() === 'error') page.errors.push(m.text()); });
  return page;
}

async function signInAndSearch(page, tag) {
  await page.goto(`${base}/ui/`);
  await page.getByRole('heading', { name: 'Sign in' }).waitFor();
  // keyboard only: Enter in the secret field submits the form
  await page.getByLabel('App secret').focus();
  await page.keyboard.press('Enter');
  await page.getByRole('heading', { name: 'Find a hotel' }).waitFor();
  if (tag) await shot(page, `${tag}-search-form`);
  await page.getByLabel('Destination').fill('Dubai');
  await page.locator('[data-test=search-form]').getByRole('button', { name: 'Search' }).click();
  await page.locator('[data-test=hotel-list] li.hotel').first().waitFor();
}

// Open the first hotel that has an offer from `supplier` (or any offer), return that offer's locator.
async function openHotelWithOffer(page, supplier) {
  const hotels = page.locator('[data-test=hotel-list] li.hotel');
  const n = await hotels.count();
  for (let i = 0; i < n; i++) {
    const item = hotels.nth(i);
    if (supplier && !(await item.textContent()).includes(supplier)) continue;
    await item.getByRole('button', { name: /See rooms/ }).click();
    await page.locator('[data-test=rooms]').waitFor();
    await page.locator('[data-test=offer]').first().waitFor();
    const offer = page.locator(supplier ? `[data-test=offer][data-supplier=${supplier}]` : '[data-test=offer]').first();
    if (await offer.count()) return offer;
    await page.getByRole('button', { name: /Back to hotels/ }).click();
  }
  return null;
}

async function test(name, fn) {
  const t0 = Date.now();
  try {
    const r = await fn();
    if (r === 'skip') results.skipped++; else results.passed++;
    console.log(`${r === 'skip' ? 'SKIP' : 'ok  '} ${name} (${Date.now() - t0} ms)`);
  } catch (e) {
    results.failed++;
    console.log(`FAIL ${name}: ${e.stack || e}`);
  }
}

// ---- the tests -----------------------------------------------------------------------
const SUP = SUPPLIERS.includes('dida') ? 'dida' : SUPPLIERS[0];

async function happyPath() {
  const page = await newPage();
  await signInAndSearch(page, 'happy');
  // the hotel list: min price, stars, a chip per supplier with status + latency
  const chips = page.locator('[data-test=supplier-chips] .chip');
  assert(await chips.count() >= SUPPLIERS.length, 'a chip per supplier');
  assert(/ms/.test(await page.locator(`[data-test=supplier-chips] .chip[data-supplier=${SUP}]`).textContent()), 'chip shows latency');
  assert(/\$\d/.test(await page.locator('[data-test=min-price]').first().textContent()), 'min price shown');
  await shot(page, 'happy-hotel-list');

  const offer = await openHotelWithOffer(page, SUP);
  assert(offer, `a hotel with a ${SUP} offer`);
  assert((await offer.locator('[data-test=supplier-room-name]').textContent()).trim().length > 0, 'supplier room name');
  assert(/taxes/.test(await offer.locator('.tax').textContent()), 'tax included/excluded shown');
  const badge = (await offer.locator('[data-test=freshness]').textContent()).trim();
  assert(badge === 'Live' || badge.startsWith('Reference price'), 'freshness badge: ' + badge);
  await shot(page, 'happy-rooms');

  // slow the supplier down so the live-check state is seen
  await sim(SUP, '_faults', { latency_ms: 700 });
  try {
    await offer.getByRole('button', { name: /Select/ }).click();
    await page.locator('[data-test=check-state][data-state=busy]', { hasText: 'Confirming live availability…' }).waitFor({ timeout: 3000 });
    await shot(page, 'happy-confirming');
    await page.locator('[data-test=check-state][data-state=ok]').waitFor({ timeout: 10000 });
  } finally { await sim(SUP, '_faults', {}); }
  await page.locator('[data-test=book-form]').waitFor({ state: 'visible' });
  await shot(page, 'happy-available');
  await page.getByLabel('First name').first().fill('Ann');
  await page.getByLabel('Last name').first().fill('Lee');
  await page.getByLabel(/E-mail/).fill('ann@example.com');
  await page.getByRole('button', { name: /Book now/ }).click();
  await page.locator('[data-test=order-status][data-status="2"]').waitFor({ timeout: 15000 });
  const ref = (await page.locator('[data-test=order-ref]').textContent()).trim();
  await shot(page, 'happy-confirmation');

  await page.getByRole('button', { name: 'See my bookings' }).click();
  const order = page.locator(`[data-test=order][data-ref="${ref}"]`);
  await order.waitFor();
  await shot(page, 'happy-bookings');
  await order.getByRole('button', { name: /Cancel/ }).click();
  const dialog = page.locator('[data-test=cancel-dialog]');
  await dialog.waitFor({ state: 'visible' });
  const text = await dialog.locator('#cancel-text').textContent();
  assert(/free of charge|costs \$|fee/.test(text), 'the cancel fee is shown: ' + text);
  await shot(page, 'happy-cancel-dialog');
  await dialog.getByRole('button', { name: 'Cancel booking' }).click();
  await page.locator('[data-test=notice]', { hasText: 'Cancellation fee' }).waitFor({ timeout: 15000 });
  await page.locator(`[data-test=order][data-ref="${ref}"][data-status="3"]`).waitFor();
  await shot(page, 'happy-cancelled');
  assert(page.errors.length === 0, 'no page errors: ' + page.errors.join('; '));
  await page.context().close();
}

async function referenceBadge() {
  // A repeated search: the search cache (when present) answers with reference prices.
  const page = await newPage();
  await signInAndSearch(page);
  await page.locator('[data-test=search-form]').getByRole('button', { name: 'Search' }).click();
  await page.waitForTimeout(300);
  await page.locator('[data-test=hotel-list] li.hotel').first().waitFor();
  const refs = page.locator('[data-test=freshness][data-source=cache]');
  if (await refs.count() === 0) {
    console.log('     note: the repeated search came back live (no search cache answers yet): badge not checked');
    await page.context().close();
    return 'skip';
  }
  assert(/^Reference price · updated \d+ (s|min) ago$/.test((await refs.first().textContent()).trim()), 'reference badge text');
  await shot(page, 'reference-price');
  await page.context().close();
}

async function soldOut() {
  const page = await newPage();
  await signInAndSearch(page);
  const offer = await openHotelWithOffer(page, SUP);
  assert(offer, `a hotel with a ${SUP} offer`);
  const { t } = decodePkg(await offer.getAttribute('data-pkg'));
  await sim(SUP, '_inventory', { hotel: t.h, room: t.r, count: 0 });
  try {
    await offer.getByRole('button', { name: /Select/ }).click();
    await page.locator('[data-test=sold-out]').waitFor({ timeout: 10000 });
    assert(/Sold out/.test(await page.locator('[data-test=check-state]').textContent()), 'says sold out');
    assert(!(await page.locator('[data-test=book-form]').isVisible()), 'no booking form');
    assert(await page.locator('[data-test=alternatives]').isVisible(), 'alternatives shown');
    await shot(page, 'sold-out');
  } finally { await sim(SUP, '_inventory', { hotel: t.h, room: t.r, count: 5 }); }
  await page.context().close();
}

async function priceChanged() {
  // The supplier raises its price between the search and the select: the live
  // check must say so, show both prices and ask before the booking form.
  const page = await newPage();
  await signInAndSearch(page);
  const offer = await openHotelWithOffer(page, SUP);
  assert(offer, `a hotel with a ${SUP} offer`);
  const { t } = decodePkg(await offer.getAttribute('data-pkg'));
  const shown = (await offer.locator('[data-test=price]').textContent()).trim();
  await sim(SUP, '_price', { hotel: t.h, room: t.r, price: '999.00' });
  try {
    await offer.getByRole('button', { name: /Select/ }).click();
    const msg = page.locator('[data-test=price-changed]');
    await msg.waitFor({ timeout: 10000 });
    const text = await msg.textContent();
    const fresh = (await page.locator('[data-test=new-price]').textContent()).trim();
    assert(text.includes(shown) && fresh !== shown, `old (${shown}) and new (${fresh}) price shown: ${text}`);
    assert(!(await page.locator('[data-test=book-form]').isVisible()), 'asks before the booking form');
    await shot(page, 'price-changed');
    await page.locator('[data-test=accept-new-price]').click();
    await page.locator('[data-test=book-form]').waitFor({ state: 'visible' });
    assert((await page.getByRole('button', { name: /Book now/ }).textContent()).includes(fresh), 'book at the new price');
    await shot(page, 'price-accepted');
  } finally { await sim(SUP, '_price', { hotel: t.h, room: t.r, price: null }); }
  await page.context().close();
}

async function phoneWidth() {
  const page = await newPage({ width: 375, height: 800 });
  await signInAndSearch(page);
  assert(await openHotelWithOffer(page, null), 'a hotel with offers');
  const [sw, cw] = await page.evaluate(() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]);
  assert(sw <= cw + 1, `no sideways scrolling at 375 px (${sw} > ${cw})`);
  await shot(page, 'phone-rooms');
  await page.context().close();
}

async function opsView() {
  const page = await newPage();
  await page.goto(`${base}/ui/ops`);
  await page.getByLabel('Admin token').fill('change-me');
  await page.getByLabel(/Refresh every/).fill('1');
  await page.getByRole('button', { name: 'Show status' }).click();
  await page.locator(`[data-test=suppliers] tr[data-supplier=${SUP}]`).waitFor()
    .catch((e) => { throw new Error(e.message + '\npage errors: ' + page.errors.join('; ')); });
  await page.locator('[data-test=generation] b').filter({ hasText: /^\d+$/ }).waitFor();
  await page.locator('[data-test=cache] tr[data-level=l1]').waitFor();
  // after a refresh the rates are filled in
  await page.locator(`[data-test=suppliers] tr[data-supplier=${SUP}] td:nth-child(3)`, { hasNotText: '…' }).waitFor({ timeout: 5000 });
  await shot(page, 'ops');
  await page.getByLabel('Admin token').fill('wrong');
  await page.getByRole('button', { name: 'Show status' }).click();
  await page.locator('[data-test=ops-notice]', { hasText: 'Cannot load' }).waitFor();
  assert(page.errors.filter((e) => !/401/.test(e)).length === 0, 'no page errors: ' + page.errors.join('; '));
  await page.context().close();
}

// ---- run ---------------------------------------------------------------------------------
let code = 0;
try {
  srv = await startServer();
  base = `http://127.0.0.1:${srv.port}`;
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-dev-shm-usage'] });
  console.log(`hotelmux on ${base}; suppliers: ${SUPPLIERS.join(', ')}; screenshots in ${SHOTS}`);
  await test('happy path: sign in, search, rooms, live check, book, my bookings, cancel', happyPath);
  await test('reference-price badge on a repeated search', referenceBadge);
  await test('sold out on select: message, no booking form, other offers', soldOut);
  await test('price changed on select: old and new price, asks again', priceChanged);
  await test('phone width: readable without sideways scrolling', phoneWidth);
  await test('operations view: suppliers, cache, generation, refreshing', opsView);
} catch (e) {
  results.failed++;
  console.log('FAIL setup: ' + (e.stack || e));
} finally {
  if (browser) await browser.close().catch(() => {});
  if (srv) {
    srv.proc.kill('SIGTERM');
    await new Promise((r) => { if (srv.proc.exitCode !== null) r(); else srv.proc.on('exit', r); });
    if (results.failed) console.log('server log: ' + path.join(srv.dir, 'server.log'));
    else fs.rmSync(srv.dir, { recursive: true, force: true });
  }
}
console.log(`${results.passed} passed, ${results.failed} failed, ${results.skipped} skipped`);
code = results.failed ? 1 : 0;
process.exit(code);

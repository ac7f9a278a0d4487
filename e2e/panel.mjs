// End-to-end test of the Guichet customer panel in headless Chromium against the real
// server (`guichet serve --demo`, sandbox, a fresh SQLite directory, mail caught by a small
// SMTP sink below). The Done-when flow of the panel issue: sign up → verify (link from the
// mail) → log in → add a sandbox card → order a VPS → see it delivered → manual renewal →
// Résilier → undo → delete another service with the mailed token → read the service e-mails
// → download an invoice PDF. Then axe-core on the main pages (no serious or critical
// violation). A screenshot of every page goes to the folder printed at the start.

import { chromium } from 'playwright-core';
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';

const require = createRequire(import.meta.url);
const AXE = fs.readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');

const BIN = process.env.GUICHET_BIN || path.resolve('../target/debug/guichet');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const OUT = process.env.PANEL_E2E_OUT ||
  path.join(os.tmpdir(), `guichet-panel-e2e-${new Date().toISOString().replace(/[:.]/g, '-')}`);
const PASSWORD = 'correct horse battery staple';

function fail(msg) {
  throw new Error(msg);
}

// ---- a small SMTP sink (EHLO, MAIL, RCPT, DATA, RSET, NOOP, QUIT) ----
function smtpSink() {
  const messages = [];
  const server = net.createServer((sock) => {
    let buf = '';
    let inData = false;
    let lines = [];
    let rcpt = [];
    sock.write('220 sink ESMTP\r\n');
    sock.on('data', (chunk) => {
      buf += chunk.toString('utf8');
      let i;
      while ((i = buf.indexOf('\r\n')) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 2);
        if (inData) {
          if (line === '.') {
            inData = false;
            messages.push({ to: rcpt, data: lines.join('\r\n') });
            lines = [];
            rcpt = [];
            sock.write('250 queued\r\n');
          } else {
            lines.push(line.startsWith('..') ? line.slice(1) : line);
          }
          continue;
        }
        const cmd = line.slice(0, 4).toUpperCase();
        if (cmd === 'EHLO' || cmd === 'HELO') sock.write('250 sink\r\n');
        else if (cmd === 'MAIL') sock.write('250 ok\r\n');
        else if (cmd === 'RCPT') {
          rcpt.push(line.replace(/^RCPT TO:\s*/i, '').replace(/[<>]/g, ''));
          sock.write('250 ok\r\n');
        } else if (cmd === 'DATA') {
          inData = true;
          sock.write('354 go ahead\r\n');
        } else if (cmd === 'QUIT') {
          sock.write('221 bye\r\n');
          sock.end();
        } else sock.write('250 ok\r\n');
      }
    });
    sock.on('error', () => {});
  });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => resolve({ server, messages, port: server.address().port }));
  });
}

/** Undo quoted-printable so links can be searched. */
function unqp(s) {
  return s.replace(/=\r?\n/g, '').replace(/=([0-9A-F]{2})/g, (_, h) => String.fromCharCode(parseInt(h, 16)));
}

async function waitForLink(sink, to, pattern, seen = new Set()) {
  const deadline = Date.now() + 30000;
  while (Date.now() < deadline) {
    for (const m of sink.messages) {
      if (!m.to.includes(to)) continue;
      const found = unqp(m.data).match(pattern);
      if (found && !seen.has(found[0])) {
        seen.add(found[0]);
        return found[0];
      }
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  fail(`no mail to ${to} matching ${pattern}`);
}

// ---- the server ----
function startServer(smtpPort, dir) {
  const env = {
    ...process.env,
    GUICHET_LISTEN: '127.0.0.1:0',
    GUICHET_DATA_DIR: dir,
    GUICHET_DATABASE_URL: `sqlite://${path.join(dir, 'guichet.db')}`,
    GUICHET_SMTP_URL: `smtp://127.0.0.1:${smtpPort}`,
    RUST_LOG: 'warn',
  };
  delete env.GUICHET_PUBLIC_URL;
  delete env.GUICHET_CONFIG;
  const child = spawn(BIN, ['serve', '--demo'], {
    env,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return new Promise((resolve, reject) => {
    const rl = readline.createInterface({ input: child.stdout });
    const timer = setTimeout(() => reject(new Error('the server did not start in 60 s')), 60000);
    child.on('exit', (code) => reject(new Error(`the server exited with ${code}`)));
    rl.once('line', (line) => {
      clearTimeout(timer);
      const base = line.replace(/^listening on /, '').trim();
      resolve({ child, base });
    });
  });
}

// ---- the run ----
const pagesSeen = [];
let shotNo = 0;

async function shot(page, name) {
  shotNo += 1;
  const file = path.join(OUT, `${String(shotNo).padStart(2, '0')}-${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  pagesSeen.push(name);
  return file;
}

async function axe(page, name, report) {
  await page.evaluate(AXE);
  const result = await page.evaluate(async () => {
    // eslint-disable-next-line no-undef
    const r = await axe.run(document, { resultTypes: ['violations'] });
    return r.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.length }));
  });
  const bad = result.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  report.push({ page: name, violations: result.length, serious: bad });
}

async function expectText(page, selector, text) {
  const t = await page.locator(selector).first().innerText();
  if (!t.includes(text)) fail(`${selector} on ${page.url()} says "${t}", expected "${text}"`);
}

async function submit(page, formSelector) {
  const nav = page.waitForEvent('framenavigated', { predicate: (f) => f === page.mainFrame(), timeout: 20000 });
  await page.locator(`${formSelector} button[type=submit]`).first().click();
  await nav;
  await page.waitForLoadState('load');
}

async function orderAndPay(page, base, plan, review) {
  await page.goto(`${base}/order`);
  await page.check(`input[name=plan][value="${plan}"]`);
  await submit(page, 'form[action="/order/review"]');
  await page.locator('#order-quote').waitFor();
  if (review) await review(page);
  await submit(page, 'form[action="/order"]');
  if (!/\/orders\/[^/?]+/.test(page.url())) fail(`ordering left us on ${page.url()}`);
  const orderUrl = page.url().split('?')[0];
  await submit(page, 'form[action$="/pay"]');
  const deadline = Date.now() + 30000;
  while (Date.now() < deadline) {
    await page.goto(orderUrl);
    const st = await page.locator('#order-status').getAttribute('data-status');
    if (st === 'delivered') return orderUrl;
    await new Promise((r) => setTimeout(r, 500));
  }
  fail(`order ${orderUrl} was not delivered in 30 s`);
}

async function main() {
  fs.mkdirSync(OUT, { recursive: true });
  console.log(`panel e2e: screenshots in ${OUT}`);
  if (!fs.existsSync(BIN)) fail(`no guichet binary at ${BIN} (set GUICHET_BIN)`);
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'guichet-e2e-'));
  const sink = await smtpSink();
  const { child, base } = await startServer(sink.port, dataDir);
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  const cspErrors = [];
  const axeReport = [];
  try {
    const context = await browser.newContext({ acceptDownloads: true, locale: 'fr-FR' });
    const page = await context.newPage();
    page.on('console', (m) => {
      if (m.type() === 'error' && /Content Security Policy|Refused to/.test(m.text())) cspErrors.push(m.text());
    });
    const email = `zoe.${Date.now()}@example.net`;

    // Sign up: a refused form keeps what was typed and shows the error next to the field.
    await page.goto(`${base}/signup`);
    await shot(page, 'signup');
    await axe(page, 'signup', axeReport);
    await page.fill('#f-email', email);
    await page.fill('#f-password', 'short');
    await page.fill('#f-first_name', 'Zoé');
    await page.fill('#f-last_name', 'Martin');
    await page.fill('#f-address_line1', '12 rue des Lilas');
    await page.fill('#f-postal_code', '69003');
    await page.fill('#f-city', 'Lyon');
    await submit(page, 'form[action="/signup"]');
    if ((await page.inputValue('#f-email')) !== email) fail('the e-mail typed was lost on a failed sign-up');
    if ((await page.inputValue('#f-city')) !== 'Lyon') fail('the city typed was lost on a failed sign-up');
    if (!(await page.locator('#e-password').count())) fail('no error next to the password field');
    await shot(page, 'signup-error');
    await page.fill('#f-password', PASSWORD);
    await submit(page, 'form[action="/signup"]');
    await shot(page, 'signup-done');

    // Verify with the mailed link.
    const link = await waitForLink(sink, email, /https?:\/\/[^\s"<>]+\/verify-email\?token=[A-Za-z0-9_-]+/);
    await page.goto(link);
    await shot(page, 'verify-email');
    await submit(page, 'form[action="/verify-email"]');
    await shot(page, 'verified');

    // Log in.
    await page.goto(`${base}/login`);
    await shot(page, 'login');
    await axe(page, 'login', axeReport);
    await page.fill('#f-email', email);
    await page.fill('#f-password', PASSWORD);
    await submit(page, 'form[action="/login"]');
    if (!page.url().endsWith('/dashboard')) fail(`log-in led to ${page.url()}`);
    await shot(page, 'dashboard');
    await axe(page, 'dashboard', axeReport);
    const health = await page.request.get(`${base}/api/v1/me/health`);
    const hj = await health.json();
    if (health.status() !== 200 || hj.items.length !== 8) fail(`health: ${health.status()} ${JSON.stringify(hj)}`);
    if (!hj.items.find((i) => i.code === 'email_verified').ok) fail('the verified address is not ticked');
    if (hj.items.find((i) => i.code === 'payment_method').ok) fail('a payment method is ticked before any');

    // Add a sandbox card.
    await page.goto(`${base}/payment-methods`);
    await shot(page, 'payment-methods');
    await axe(page, 'payment-methods', axeReport);
    await page.fill('#f-number', '4242 4242 4242 4242');
    await page.fill('#f-exp_month', '12');
    await page.fill('#f-exp_year', '2099');
    await page.fill('#f-cvc', '123');
    await submit(page, 'form[action="/payment-methods/card"]');
    if (!page.url().includes('done=method_added')) fail(`adding the card led to ${page.url()}`);
    await shot(page, 'payment-method-added');

    // Order a VPS, pay it, see it delivered.
    await page.goto(`${base}/order`);
    await shot(page, 'order');
    await axe(page, 'order', axeReport);
    const orderUrl = await orderAndPay(page, base, 'vps-s-monthly', async (p) => {
      await expectText(p, '#quote-to-charge', '7,19');
      await shot(p, 'order-review');
      await axe(p, 'order-review', axeReport);
    });
    await shot(page, 'order-delivered');
    await axe(page, 'order-detail', axeReport);
    const serviceHref = await page.locator('a[href^="/services/"]').first().getAttribute('href');
    await page.goto(`${base}${serviceHref}`);
    await shot(page, 'service');
    await axe(page, 'service', axeReport);

    // The price of an upgrade, shown before confirming (kept as it is here).
    await page.check('input[name=plan][value="vps-m-monthly"]');
    await submit(page, 'form[action$="/plan-change"][method="get"]');
    await page.locator('#plan-quote').waitFor();
    await shot(page, 'plan-change-price');
    await axe(page, 'plan-change', axeReport);
    await page.goto(`${base}${serviceHref}`);

    // Manual renewal.
    await page.check('input[name=mode][value=manual]');
    await submit(page, 'form[action$="/renewal"]');
    if (!page.url().includes('done=renewal_saved')) fail(`renewal led to ${page.url()}`);
    await expectText(page, '#service-renewal', 'Manuel');
    await shot(page, 'service-manual');

    // Résilier with a reason, then undo.
    await page.selectOption('#f-reason', 'not_needed');
    await page.fill('#f-comment', 'Projet terminé');
    await submit(page, 'form[action$="/termination"]');
    if (!page.url().includes('done=terminated')) fail(`termination led to ${page.url()}`);
    await page.locator('#termination-status').waitFor();
    await shot(page, 'service-terminated');
    await submit(page, 'form[action$="/termination/cancel"]');
    if (!page.url().includes('done=termination_cancelled')) fail(`undo led to ${page.url()}`);
    if (await page.locator('#termination-status').count()) fail('the termination is still shown');
    await shot(page, 'service-termination-undone');

    // Delete another service with the mailed token.
    await orderAndPay(page, base, 'vps-s-monthly');
    const other = await page.locator('a[href^="/services/"]').first().getAttribute('href');
    if (other === serviceHref) fail('the second order delivered the same service');
    await page.goto(`${base}${other}`);
    await submit(page, 'form[action$="/deletion"]');
    await shot(page, 'service-deletion-mailed');
    const id = other.split('/').pop();
    const delLink = await waitForLink(sink, email, new RegExp(`https?://[^\\s"<>]+/services/${id}/delete\\?token=[A-Za-z0-9_-]+`));
    await page.goto(delLink);
    if (!(await page.inputValue('#f-token')).startsWith('gct_')) fail('the mailed token is not filled in');
    await submit(page, 'form[action$="/deletion/confirm"]');
    if (!page.url().includes('done=deleted')) fail(`deletion led to ${page.url()}`);
    await expectText(page, '#service-state', 'Supprimé');
    await shot(page, 'service-deleted');
    await page.goto(`${base}/services`);
    await shot(page, 'services');
    await axe(page, 'services', axeReport);

    // Service e-mails: list, read one, "is this mail from us?".
    await page.goto(`${base}/emails`);
    await shot(page, 'emails');
    await axe(page, 'emails', axeReport);
    const rows = await page.locator('tbody tr').count();
    if (rows < 4) fail(`only ${rows} service e-mails listed`);
    const reference = (await page.locator('tbody tr td code').first().innerText()).trim();
    await page.fill('#f-reference', reference);
    await page.locator('form[action="/emails/verify"] button').click();
    await page.locator('#verify-result .flash').waitFor({ timeout: 10000 });
    await shot(page, 'email-verified-reference');
    await page.fill('#f-reference', 'GC-FAKE-0000');
    await page.locator('form[action="/emails/verify"] button').click();
    await page.locator('#verify-result .alert').waitFor({ timeout: 10000 });
    await page.locator('tbody tr td a').first().click();
    await page.waitForLoadState('load');
    await page.locator('pre.mail').waitFor();
    await shot(page, 'email');
    await page.goto(`${base}/phishing`);
    await shot(page, 'phishing');
    await axe(page, 'phishing', axeReport);

    // Orders and invoices; download a PDF.
    await page.goto(`${base}/orders`);
    await shot(page, 'orders');
    await axe(page, 'orders', axeReport);
    await page.goto(orderUrl);
    await page.goto(`${base}/invoices`);
    await shot(page, 'invoices');
    await axe(page, 'invoices', axeReport);
    const [download] = await Promise.all([
      page.waitForEvent('download'),
      page.locator('a[href$="/pdf"]').first().click(),
    ]);
    const pdfPath = path.join(OUT, 'invoice.pdf');
    await download.saveAs(pdfPath);
    const head = fs.readFileSync(pdfPath).subarray(0, 5).toString('latin1');
    if (head !== '%PDF-') fail(`the invoice download is not a PDF (${head})`);

    // The account pages: security (reading the events), profile, a support ticket, closure.
    await page.goto(`${base}/security`);
    await shot(page, 'security');
    await axe(page, 'security', axeReport);
    await page.goto(`${base}/profile`);
    await page.fill('#f-city', 'Villeurbanne');
    await submit(page, 'form[action="/profile"]');
    if (!page.url().includes('done=profile_saved')) fail(`saving the profile led to ${page.url()}`);
    const profileShot = await shot(page, 'profile');
    await axe(page, 'profile', axeReport);
    await page.goto(`${base}/tickets`);
    await page.selectOption('#f-category', 'technical');
    await page.fill('#f-subject', 'Question sur mon VPS');
    await page.fill('#f-message', 'Bonjour, comment changer le noyau ?');
    // A screenshot attached through the file input (a real PNG: the server sniffs the type).
    const png = fs.readFileSync(profileShot);
    await page.setInputFiles('#f-file', { name: 'ecran.png', mimeType: 'image/png', buffer: png });
    await submit(page, 'form[action="/tickets"]');
    if (!/\/tickets\/[^/?]+\?done=ticket_opened/.test(page.url())) fail(`opening a ticket led to ${page.url()}`);
    const fileLink = page.locator('a[href*="/files/"]', { hasText: 'ecran.png' });
    if (!(await fileLink.count())) fail('the ticket page shows no link to its attachment');
    const got = await page.request.get(new URL(await fileLink.getAttribute('href'), base).href);
    if (got.status() !== 200 || (await got.body()).length !== png.length) fail(`the attachment downloads as ${got.status()}`);
    await shot(page, 'ticket');
    await axe(page, 'ticket', axeReport);
    await page.goto(`${base}/tickets`);
    await shot(page, 'tickets');
    await page.goto(`${base}/closure`);
    if (!(await page.locator('#h-blockers').count())) fail('the closure page lists no blocker with a live service');
    await shot(page, 'closure');
    await axe(page, 'closure', axeReport);

    // The language switch.
    await page.goto(`${base}/dashboard`);
    await submit(page, 'form[action="/language"]');
    await expectText(page, 'h1', 'Hello');
    await shot(page, 'dashboard-en');

    // Log out.
    await submit(page, 'form[action="/logout"]');
    if (!page.url().includes('/login')) fail(`log-out led to ${page.url()}`);
  } finally {
    await browser.close();
    child.kill('SIGTERM');
    sink.server.close();
    fs.rmSync(dataDir, { recursive: true, force: true });
  }

  console.log('\naccessibility (axe-core 4.14): violations per page');
  let serious = 0;
  for (const r of axeReport) {
    const list = r.serious.map((v) => `${v.impact} ${v.id} (${v.nodes}): ${v.help}`).join('; ');
    console.log(`  ${r.page.padEnd(16)} ${r.violations} violation(s)${list ? ` — ${list}` : ''}`);
    serious += r.serious.length;
  }
  if (cspErrors.length) fail(`Content-Security-Policy errors in the console: ${cspErrors.join(' | ')}`);
  if (serious) fail(`${serious} serious or critical accessibility violation(s)`);
  console.log(`\npanel e2e passed: ${pagesSeen.length} screenshots in ${OUT}`);
}

main().catch((e) => {
  console.error(`\npanel e2e FAILED: ${e.stack || e}`);
  console.error(`screenshots so far in ${OUT}`);
  process.exit(1);
});

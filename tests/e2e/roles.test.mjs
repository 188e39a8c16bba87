// Each role does its part of the story in Chromium, on the nodes of `custodia demo --ui`:
// a case worker drafts and sees a refusal ground next to its field; a judge authorizes
// with a reason (without JavaScript); a provider objects and the requested State's judge
// rules; a provider uploads evidence through a connection that is cut, and the upload
// resumes; the central authority decides; oversight and the public page show their
// charts. Every page passes axe-core with no serious or critical finding; a console error
// (a CSP violation is one) fails the test; each step saves a screenshot.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { browser, watchErrors, startDemo, login, axe, shot, cuttingProxy } from './helpers.mjs';

let demo, chrome;
const provider = (id) => `BB-central-authority:AA-central-authority:${id}`;

before(async () => { demo = await startDemo(); chrome = await browser(); });
after(async () => { await chrome?.close(); demo?.stop(); });

async function person(name, url, options = {}) {
  const context = await chrome.newContext({ viewport: { width: 1280, height: 900 }, timezoneId: 'Europe/Berlin', ignoreHTTPSErrors: true, ...options });
  const page = await context.newPage();
  const errors = watchErrors(page);
  await login(page, url, name, demo.password);
  return { page, errors, context };
}

async function clean(page, errors, what) {
  if (page.context()._options?.javaScriptEnabled !== false) {
    assert.deepEqual(await axe(page), [], `axe on ${what}: no serious or critical finding`);
  }
  assert.deepEqual(errors, [], `no console error on ${what} (a CSP violation would be one)`);
}

/// Reloads `path` until `selector` is there (messages between nodes take a moment).
async function until(page, url, selector, seconds = 30) {
  for (let i = 0; i < seconds * 2; i++) {
    await page.goto(url);
    if (await page.locator(selector).count() > 0) return;
    await page.waitForTimeout(500);
  }
  assert.fail(`${selector} did not appear at ${url}`);
}

test('a case worker drafts a request and sees a refusal ground appear next to the field', async () => {
  const aa = demo.urls['AA-central-authority'];
  const { page, errors, context } = await person('case-worker', aa);
  await page.goto(`${aa}/cases`);
  await shot(page, 'case-worker-cases');
  await clean(page, errors, '/cases');
  await page.goto(`${aa}/draft`);
  await page.selectOption('#f-requesting_state', 'AA');
  await page.selectOption('#f-requested_state', 'BB');
  await page.selectOption('#f-measure', 'stored_data');
  await page.check('#c-criticism_of_government');
  await page.waitForSelector('#decision .outcome-refused', { timeout: 10000 });
  assert.match(await page.textContent('#n-offence-conduct'), /refused \[UNCC 6\(2\), 40\(22\)\]/);
  await shot(page, 'case-worker-draft');
  await clean(page, errors, '/draft');
  // The draft, put right, is opened as a requesting case from the form, and the case's
  // page follows; the case is on the case worker's own list.
  await page.uncheck('#c-criticism_of_government');
  await page.check('#c-computer_fraud');
  await page.fill('#f-offence-max_penalty_years', '5');
  await page.fill('#f-facts', 'Phishing of bank customers');
  await page.check('#k-content');
  await page.fill('#f-data-identifiers', 'suspect@mail.example');
  await page.fill('#f-data-from', '2026-01-01');
  await page.fill('#f-data-to', '2026-03-31');
  await page.waitForSelector('#decision .outcome-refused', { state: 'detached', timeout: 10000 });
  await Promise.all([page.waitForURL(/\/cases\/case-[0-9a-f]+$/), page.click('button[formaction="/cases"]')]);
  const id = new URL(page.url()).pathname.split('/').pop();
  assert.match(await page.textContent('h1'), new RegExp(`Case ${id}`));
  assert.match(await page.textContent('header.site'), /requesting case, draft\./);
  assert.match(await page.textContent('#actions ~ form, section[aria-labelledby=actions]'), /submit for authorization/);
  await shot(page, 'case-worker-opened');
  await clean(page, errors, '/cases/{id} (opened from the draft)');
  await page.goto(`${aa}/cases`);
  assert.equal(await page.locator(`a[href="/cases/${id}"]`).count(), 1, 'the opened case is on the list');
  await context.close();
});

test('a judge authorizes with a reason, from the queue, without JavaScript', async () => {
  const aa = demo.urls['AA-central-authority'];
  const { page, errors, context } = await person('judge', aa, { javaScriptEnabled: false });
  await page.goto(`${aa}/judge`);
  const item = page.locator('article[data-case="ui-authorize"]');
  assert.match(await item.textContent(), /The policy today:/);
  assert.match(await item.locator('details.history').textContent(), /submitted for authorization/);
  await item.locator('input[name=reference]').first().fill('AA-court 2026/301');
  await item.locator('textarea[name=reasons]').first().fill('Necessary and proportionate: one account, three months.');
  await shot(page, 'judge-queue');
  await item.locator('button', { hasText: /^authorize$/ }).click();
  await page.waitForLoadState();
  assert.match(await page.textContent('[role=status]'), /Done: authorized\./);
  assert.match(await page.textContent('#history ~ table, section[aria-labelledby=history]'), /one account, three months/);
  await shot(page, 'judge-authorized');
  assert.deepEqual(errors, []);
  await context.close();
  // With JavaScript on, the queue passes axe and shows times in the reader's zone too.
  const js = await person('judge', aa);
  await js.page.goto(`${aa}/judge`);
  assert.equal(await js.page.locator('article[data-case="ui-authorize"]').count(), 0, 'decided: out of the queue');
  await clean(js.page, js.errors, '/judge');
  await js.context.close();
});

test('a provider objects and the requested State\'s judge decides', async () => {
  const mail = demo.urls['Example-Mail'];
  const bb = demo.urls['BB-central-authority'];
  const p = await person('provider-legal', mail);
  await p.page.goto(`${mail}/provider`);
  await shot(p.page, 'provider-inbox');
  await clean(p.page, p.errors, '/provider');
  const item = p.page.locator(`article[data-case="${provider('ui-object')}"]`);
  await item.locator('textarea[name=grounds]').fill('Overbroad: it asks for every mailbox of the domain.');
  await item.locator('button', { hasText: /^object$/ }).click();
  await p.page.waitForLoadState();
  assert.match(await p.page.textContent('[role=status]'), /Done: objected\./);
  assert.deepEqual(p.errors, []);

  const j = await person('judge', bb);
  await until(j.page, `${bb}/judge`, 'article[data-case="AA-central-authority:ui-object"]');
  const o = j.page.locator('article[data-case="AA-central-authority:ui-object"]');
  assert.match(await o.textContent(), /rule on the provider's objection/);
  assert.match(await o.locator('details.history').textContent(), /objected/);
  await o.locator('select[name=ruling]').selectOption('narrowed');
  await o.locator('textarea[name=reasons]').fill('Limited to the named account and the three months stated.');
  await shot(j.page, 'judge-objection');
  await clean(j.page, j.errors, '/judge (objections)');
  await o.locator('button', { hasText: /^decide objection$/ }).click();
  await j.page.waitForLoadState();
  assert.match(await j.page.textContent('[role=status]'), /Done: objection decided\./);
  // The ruling travels back: the provider now has the request to execute.
  await until(p.page, `${mail}/provider`, `#q-execution article[data-case="${provider('ui-object')}"]`);
  await p.context.close();
  await j.context.close();
});

test('a provider uploads evidence, the connection is cut, the upload resumes', async () => {
  const mail = demo.urls['Example-Mail'];
  // The demo's nodes serve HTTPS with certificates made for the run; the proxy ends TLS
  // with the provider node's own certificate so that it can see the upload and cut it.
  const proxy = await cuttingProxy(mail, 1536 * 1024, {
    cert: join(demo.dir, 'Example-Mail', 'tls.crt'),
    key: join(demo.dir, 'Example-Mail', 'tls.key'),
  });
  try {
    const { page, errors, context } = await person('provider-legal', proxy.url);
    await page.goto(`${proxy.url}/provider`);
    const form = page.locator(`form[data-upload-case="${provider('ui-evidence')}"]`);
    await form.locator('input[name=manifest]').setInputFiles(join(demo.package.dir, 'MANIFEST'));
    await form.locator('input[name=signer]').setInputFiles(demo.package.signer);
    await form.locator('input[name=files]').setInputFiles(join(demo.package.dir, 'files', 'mailbox.mbox.age'));
    await form.locator('button[type=submit]').click();
    await page.waitForSelector(`form[data-upload-case="${provider('ui-evidence')}"][data-done=true]`, { timeout: 120000 });
    assert.equal(proxy.state.cuts, 1, 'the connection was cut once');
    assert.ok(Number(await form.getAttribute('data-resumed')) >= 1, 'the script resumed');
    // How it learnt what had arrived depends on the browser: a HEAD after the error, or
    // the node's 409 with Upload-Offset when Chromium itself sent the cut piece again.
    const resumedAt = proxy.state.puts.filter((o) => o % (1 << 20) !== 0);
    assert.ok(resumedAt.length >= 1 && resumedAt[0] > 1 << 20, `it went on from what had arrived, not from a piece's start: ${proxy.state.puts}`);
    assert.equal(await form.locator('progress').getAttribute('value'), '100');
    assert.match(await form.locator('.status').textContent(), /Done: the evidence is verified and produced/);
    await shot(page, 'provider-upload-resumed');
    // The upload's own failure is the only console error allowed: the cut connection.
    assert.deepEqual(errors.filter((e) => !/ERR_CONNECTION|net::|Failed to load resource/.test(e)), []);
    await page.goto(`${proxy.url}/provider`);
    assert.equal(await page.locator(`form[data-upload-case="${provider('ui-evidence')}"]`).count(), 0, 'produced: nothing left to upload');
    await context.close();
  } finally {
    proxy.close();
  }
});

test('the central authority decides an incoming request with reasons', async () => {
  const bb = demo.urls['BB-central-authority'];
  const { page, errors, context } = await person('central-authority', bb);
  await page.goto(`${bb}/authority`);
  const item = page.locator('article[data-case="AA-central-authority:ui-decide"]');
  assert.match(await item.textContent(), /The policy today:/);
  // The deadline in the reader's zone, with the zone it is counted in beside it.
  assert.match(await item.locator('dd time[data-legal]').textContent(), /\(your time, Europe\/Berlin\)/);
  assert.match(await item.locator('dd time[data-legal] + .legal-zone').textContent(), /\d{4}-\d\d-\d\d \d\d:\d\d UTC, the zone the deadline is counted in/);
  await shot(page, 'central-authority-incoming');
  await clean(page, errors, '/authority');
  await item.locator('select[name=action]').selectOption('postpone');
  await item.locator('input[name=until]').fill('2027-03-01');
  await item.locator('textarea[name=reasons]').fill('It would prejudice an ongoing domestic investigation (UNCC 40(26)).');
  await item.locator('button', { hasText: /^decide$/ }).click();
  await page.waitForLoadState();
  assert.match(await page.textContent('[role=status]'), /Done: decided\./);
  assert.deepEqual(errors, []);
  await context.close();
});

test('oversight sees statistics with charts, the log and its witnesses', async () => {
  const bb = demo.urls['BB-central-authority'];
  const { page, errors, context } = await person('oversight', bb);
  await page.goto(`${bb}/oversight`);
  const charts = page.locator('figure.chart svg[role=img]');
  assert.ok(await charts.count() >= 5, `charts: ${await charts.count()}`);
  for (const label of await charts.evaluateAll((l) => l.map((s) => s.getAttribute('aria-label')))) {
    assert.match(label, /\(.+\): .+: \d/, 'each chart says what it shows');
  }
  assert.match(await page.textContent('section[aria-labelledby=log]'), /cosigned the latest checkpoint/);
  await shot(page, 'oversight');
  await clean(page, errors, '/oversight');
  // Other roles' pages refuse oversight.
  const res = await page.goto(`${bb}/judge`);
  assert.equal(res.status(), 403);
  assert.match(await page.textContent('[role=alert]'), /Your role may not see this page/);
  // The browser reports the 403 itself as a console error: that one is expected here.
  const refused = errors.splice(0).filter((e) => !/status of 403/.test(e));
  assert.deepEqual(refused, []);
  await clean(page, errors, 'the refusal page');
  await context.close();
});

test('the public page shows its charts, the checkpoint with its cosignatures, and how to verify', async () => {
  const bb = demo.urls['BB-central-authority'];
  const context = await chrome.newContext({ viewport: { width: 1280, height: 900 }, ignoreHTTPSErrors: true });
  const page = await context.newPage();
  const errors = watchErrors(page);
  const res = await page.goto(`${bb}/`);
  assert.equal(res.status(), 200);
  const charts = page.locator('figure.chart svg[role=img]');
  assert.ok(await charts.count() >= 4, `charts: ${await charts.count()}`);
  assert.match(await page.textContent('#chart-p-by-measure'), /stored data|preservation|stored_data/);
  assert.match((await page.locator('ul.signers').allTextContents()).join(' '), /a witness/, 'the checkpoint with its cosignatures');
  assert.match(await page.textContent('section[aria-labelledby=verify]'), /custodia log verify/);
  await shot(page, 'public');
  await clean(page, errors, '/');
  await context.close();
});

test('the other pages pass axe too, and a role page works from the keyboard with visible focus', async () => {
  const aa = demo.urls['AA-central-authority'];
  const context = await chrome.newContext({ viewport: { width: 1280, height: 900 }, ignoreHTTPSErrors: true });
  const page = await context.newPage();
  const errors = watchErrors(page);
  await page.goto(`${aa}/login`);
  await clean(page, errors, '/login');
  await login(page, aa, 'judge', demo.password);
  await clean(page, errors, '/me');
  await page.goto(`${aa}/cases/ui-authorize`);
  await clean(page, errors, '/cases/{id}');
  await page.goto(`${aa}/judge`);
  await page.keyboard.press('Tab');
  assert.equal(await page.evaluate(() => document.activeElement.className), 'skip');
  // Tab until a form field of the queue has the focus: every step lands on something
  // visible with an outline.
  for (let i = 0; i < 60; i++) {
    await page.keyboard.press('Tab');
    const f = await page.evaluate(() => {
      const el = document.activeElement;
      return { tag: el.tagName, outline: getComputedStyle(el).outlineStyle, name: el.getAttribute('name') };
    });
    assert.notEqual(f.outline, 'none', `visible focus on ${f.tag}`);
    if (f.tag === 'TEXTAREA' || f.tag === 'INPUT' && f.name !== 'csrf') break;
  }
  const unlabelled = await page.evaluate(() => [...document.querySelectorAll('input:not([type=hidden]), select, textarea')]
    .filter((el) => !el.labels || el.labels.length === 0).map((el) => el.id));
  assert.deepEqual(unlabelled, [], 'every field has a label');
  await context.close();
});

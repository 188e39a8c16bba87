// The node's pages in a real browser: the drafting form with live policy feedback (with
// and without JavaScript), keyboard use, the strict CSP, and the public page.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startNode, browser, watchErrors } from './helpers.mjs';

let node, chrome;
before(async () => { node = await startNode(); chrome = await browser(); });
after(async () => { await chrome?.close(); node?.stop(); });

test('drafting: each ground appears next to its field as the fields change', async () => {
  const page = await chrome.newPage();
  const errors = watchErrors(page);
  await page.goto(`${node.url}/draft`);
  await page.selectOption('#f-requesting_state', 'CC');
  await page.selectOption('#f-requested_state', 'BB');
  await page.selectOption('#f-measure', 'stored_data');
  await page.check('#c-criticism_of_government');
  await page.fill('#f-offence-max_penalty_years', '5');
  await page.locator('#f-offence-max_penalty_years').dispatchEvent('change');
  await page.waitForSelector('#decision .outcome-refused', { timeout: 10000 });
  const conduct = await page.textContent('#n-offence-conduct');
  assert.match(conduct, /refused \[UNCC 6\(2\), 40\(22\)\]/);
  assert.match(await page.textContent('#n-facts'), /does not state a summary of the relevant facts/);
  // Fixing the conduct removes its grounds.
  await page.uncheck('#c-criticism_of_government');
  await page.check('#c-computer_fraud');
  await page.waitForFunction(() => !document.querySelector('#n-offence-conduct').textContent.includes('6(2)'));
  assert.deepEqual(errors, [], 'no console errors (a CSP violation would be one)');
  await page.close();
});

test('drafting works without JavaScript: the form posts and the page comes back with the decision', async () => {
  const ctx = await chrome.newContext({ javaScriptEnabled: false });
  const page = await ctx.newPage();
  await page.goto(`${node.url}/draft`);
  await page.selectOption('#f-requesting_state', 'AA');
  await page.selectOption('#f-requested_state', 'DD');
  await page.selectOption('#f-measure', 'stored_data');
  await page.click('button[type=submit]');
  await page.waitForLoadState();
  assert.match(await page.textContent('#decision'), /Decision if sent today: refused/);
  assert.match(await page.textContent('#n-requested_state'), /not_party|DD is not bound/);
  await ctx.close();
});

test('keyboard: every field is reachable and the focus is visible', async () => {
  const page = await chrome.newPage();
  await page.goto(`${node.url}/draft`);
  await page.keyboard.press('Tab'); // the skip link
  assert.equal(await page.evaluate(() => document.activeElement.className), 'skip');
  await page.keyboard.press('Tab');
  const first = await page.evaluate(() => document.activeElement.id);
  assert.equal(first, 'f-requesting_state');
  const outline = await page.evaluate(() => getComputedStyle(document.activeElement).outlineStyle);
  assert.notEqual(outline, 'none', 'visible focus');
  // Every input, select and textarea has a label.
  const unlabelled = await page.evaluate(() => [...document.querySelectorAll('input, select, textarea')]
    .filter((el) => !el.labels || el.labels.length === 0).map((el) => el.name));
  assert.deepEqual(unlabelled, []);
  await page.close();
});

test('the public transparency page loads from our origin only, without errors', async () => {
  const page = await chrome.newPage();
  const errors = watchErrors(page);
  const requests = [];
  page.on('request', (r) => requests.push(r.url()));
  const res = await page.goto(`${node.url}/`);
  assert.equal(res.status(), 200);
  assert.match(res.headers()['content-security-policy'], /script-src 'self'/);
  assert.match(await page.textContent('h1'), /Transparency report/);
  assert.match(await page.textContent('#verify ~ pre, section[aria-labelledby=verify] pre'), /custodia log verify http:\/\/127\.0\.0\.1:\d+\/log --key AA-central-authority\.custodia\+/);
  assert.ok(requests.every((u) => u.startsWith(node.url)), `only our origin: ${requests.join(' ')}`);
  assert.deepEqual(errors, []);
  await page.close();
});

test('a person logs in, sees who they are, and logs out', async () => {
  const { execFileSync } = await import('node:child_process');
  const { join } = await import('node:path');
  const { binary } = await import('./helpers.mjs');
  execFileSync(binary, ['admin', 'user', 'add', '--config', join(node.dir, 'node.toml'), '--name', 'judge.ada', '--role', 'judge'], { input: 'correct horse battery staple\n' });
  const page = await chrome.newPage();
  const errors = watchErrors(page);
  await page.goto(`${node.url}/login`);
  await page.fill('#name', 'judge.ada');
  await page.fill('#password', 'wrong password entirely');
  await page.click('button[type=submit]');
  assert.match(await page.textContent('[role=alert]'), /Wrong name or password/);
  await page.fill('#password', 'correct horse battery staple');
  await page.click('button[type=submit]');
  await page.waitForURL(`${node.url}/me`);
  assert.match(await page.textContent('header'), /judge at AA-central-authority/);
  const cookies = await page.context().cookies();
  const session = cookies.find((c) => c.name === 'custodia_session');
  assert.ok(session && session.httpOnly && session.sameSite === 'Strict', JSON.stringify(cookies));
  await page.click('button[type=submit]'); // log out
  await page.waitForURL(`${node.url}/login`);
  await page.goto(`${node.url}/me`);
  await page.waitForURL(`${node.url}/login`);
  assert.deepEqual(errors.filter((e) => !e.includes('401')), []);
  await page.close();
});

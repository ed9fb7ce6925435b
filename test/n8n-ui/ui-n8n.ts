/**
 * `npm run test:n8n-ui`: the "Entra Agent Token" community node as a workflow author meets it, in the
 * real n8n web UI driven by Debian's Chromium through playwright-core (issue 14 item 4).
 * Not part of `npm test` (no browser in CI); how to run it and how long it takes:
 * docs/platforms/n8n.md#the-node-in-the-n8n-editor-ui-check. It reuses the n8n that `npm run test:n8n-real`
 * installs (test/n8n-real/harness.ts):
 *   1. real n8n (cached), the packed community node installed as n8n installs a community package,
 *      the sandbox bridge in this process, an empty workflow imported with the sandbox rule's workflow id
 *      (`n8n import:workflow`: n8n's editor has no field for a workflow's id), `n8n start` on loopback;
 *   2. in the browser: the owner account set up on n8n's setup screen;
 *   3. the "Entra Agent Token API" credential created; Save runs n8n's credential test and "Retry"
 *      (n8n's "Retry credential test" button) runs it again; its answers for the good credential
 *      (green) and for an unregistered instance id, a key the bridge does not know and a public key
 *      pasted as the private key (each red, with a message that says what is wrong);
 *   4. Manual Trigger → Entra Agent Token built on the canvas, run with "Execute workflow", and the
 *      node's output shows an access token for the sandbox agent (the bridge's audit agrees).
 * Each step leaves a screenshot; the list and the folder are printed at the end.
 * Options: --out <dir> (screenshots; default <scratch>/ui/screenshots), --fresh (reinstall n8n),
 * N8N_REAL_DIR (scratch folder, shared with test:n8n-real), CHROMIUM (default /usr/bin/chromium).
 */
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { calculateJwkThumbprint, decodeJwt, exportJWK, generateKeyPair } from 'jose';
import { chromium, selectors, type Browser, type Locator, type Page } from 'playwright-core';
import type { AuditEvent } from '../../src/audit/audit.ts';
import { startSandbox } from '../../sandbox/sandbox.ts';
import {
  check,
  freePort,
  installCommunityPackage,
  installN8n,
  N8N_VERSION,
  n8nInstance,
  PACKAGE_NAME,
  packCommunityNode,
  scratch,
  startN8nServer,
  Steps,
  type N8nServer,
} from '../n8n-real/harness.ts';

const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
const CREDENTIAL_TYPE = 'Entra Agent Token API';
const NODE_NAME = 'Entra Agent Token';
/** Playwright's per-action wait; n8n's editor answers within a few seconds on a 2-vCPU VM. */
const ACTION_TIMEOUT_MS = 30_000;
/** A run asks the bridge and the Entra emulator; the node's own timeout is 10 s. */
const RUN_TIMEOUT_MS = 60_000;

const steps = new Steps();
const screenshots: string[] = [];

interface N8nManifest {
  instanceId: string;
  workflowId: string;
  privateJwk: Record<string, string>;
  agentId: string;
}

function option(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

/** `hideToasts`: n8n's "Credential saved" notifications pile up over the form they are about. */
async function shot(page: Page, out: string, name: string, hideToasts = false): Promise<void> {
  const path = join(out, `${name}.png`);
  await page.screenshot({ path, ...(hideToasts ? { style: '.el-notification { visibility: hidden; }' } : {}) });
  screenshots.push(path);
  process.stdout.write(`  📷 ${path}\n`);
}

// ---------------------------------------------------------------------------------------------
// The credential test cases: what the author types, what the Test button must answer.

interface CredentialFields {
  bridgeUrl: string;
  instanceId: string;
  privateKey: string;
}

interface CredentialCase {
  screenshot: string;
  what: string;
  fields: CredentialFields;
  /** Green, with this answer from the dry run at the bridge (n8n's banner shows no message when green). */
  accepted?: RegExp;
  /** Red, with this message in the banner's details. */
  refused?: RegExp;
}

async function credentialCases(bridgeUrl: string, m: N8nManifest): Promise<CredentialCase[]> {
  const good = { bridgeUrl, instanceId: m.instanceId, privateKey: JSON.stringify(m.privateJwk) };
  // A well-formed ES256 key that is registered nowhere.
  const stranger = await exportJWK((await generateKeyPair('ES256', { extractable: true })).privateKey);
  const strangerKid = await calculateJwkThumbprint(stranger);
  // The registered key's public half: what an author pastes by mistake from the policy file.
  const { d: _d, ...publicJwk } = m.privateJwk;
  const unregistered = 'n8n-not-registered';
  // Unknown instance and unknown key are one answer by design (instance ids cannot be enumerated);
  // each names the instance id and the kid it tried, and where the operator finds which
  // (docs/platforms/n8n.md#the-credential-test).
  const notAccepted = (instanceId: string, kid: string) =>
    new RegExp(`does not accept instance "${instanceId}" with this key \\(kid ${kid}\\).*not registered`);
  const accepted = new RegExp(`accepts instance "${m.instanceId}" with this key \\(kid ${m.privateJwk.kid}\\)`);
  return [
    { screenshot: '02-credential-valid', what: 'the registered instance and its key', fields: good, accepted },
    {
      screenshot: '03-credential-unregistered-instance',
      what: 'an instance id the bridge has not registered',
      fields: { ...good, instanceId: unregistered },
      refused: notAccepted(unregistered, m.privateJwk.kid ?? ''),
    },
    {
      screenshot: '04-credential-wrong-key',
      what: 'a private key the bridge does not know for this instance',
      fields: { ...good, privateKey: JSON.stringify(stranger) },
      refused: notAccepted(m.instanceId, strangerKid),
    },
    {
      screenshot: '05-credential-public-key',
      what: 'the public key pasted as the private key',
      fields: { ...good, privateKey: JSON.stringify(publicJwk) },
      refused: /^Private Key: it is a public JWK \(it has no "d" member\); paste the PRIVATE key/,
    },
    { screenshot: '06-credential-valid-again', what: 'the good credential again', fields: good, accepted },
  ];
}

// ---------------------------------------------------------------------------------------------

async function setUpOwner(page: Page, n8n: N8nServer, out: string): Promise<void> {
  await page.goto(n8n.url);
  await page.waitForURL(/\/setup/);
  await page.locator('#email').fill('author@example.com');
  await page.locator('#firstName').fill('Workflow');
  await page.locator('#lastName').fill('Author');
  // A throwaway account of a throwaway n8n on loopback.
  await page.locator('#password').fill('Sandbox-only-1');
  await shot(page, out, '01-owner-setup');
  await page.getByTestId('form-submit-button').click();
  await page.waitForURL((u) => !u.pathname.startsWith('/setup'));
  check(true, 'owner account set up on the setup screen');
}

async function openNewCredential(page: Page, n8n: N8nServer): Promise<Locator> {
  await page.goto(`${n8n.url}/home/credentials`);
  await page.getByRole('button', { name: 'Create credential' }).first().click();
  await page.getByTestId('new-credential-type-select').locator('input').fill('Entra Agent');
  await page.getByTestId('new-credential-type-select-option').filter({ hasText: CREDENTIAL_TYPE }).click();
  await page.getByTestId('new-credential-type-button').click();
  // The modal (header with Save, and the form); 'credential-edit-dialog' is only its body.
  const dialog = page.getByTestId('editCredential-modal');
  await dialog.getByTestId('parameter-input-bridgeUrl').waitFor();
  return dialog;
}

/** Type, then leave the field: n8n commits a parameter's value on input and on blur. */
async function fillField(field: Locator, value: string): Promise<void> {
  await field.fill(value);
  await field.press('Tab');
}

interface TestAnswer {
  status: string;
  message: string;
}

/** n8n's editor asks POST /rest/credentials/test and shows the answer as a banner. */
async function credentialTestAnswer(page: Page, action: () => Promise<void>): Promise<TestAnswer> {
  const [response] = await Promise.all([
    page.waitForResponse((r) => r.url().includes('/rest/credentials/test') && r.request().method() === 'POST'),
    action(),
  ]);
  const body = (await response.json()) as { data?: TestAnswer };
  if (!body.data) throw new Error(`n8n's credential test answered ${JSON.stringify(body)}`);
  return body.data;
}

/** The banner n8n shows for the last test: green, or red with the details expanded. */
async function banner(dialog: Locator): Promise<{ green: boolean; text: string }> {
  const success = dialog.getByTestId('credentials-config-container-test-success');
  const failure = dialog.locator('.el-tag--danger').filter({ hasText: 'Couldn’t connect with these settings' });
  await success.or(failure).first().waitFor();
  if (await success.isVisible()) return { green: true, text: await success.innerText() };
  const more = failure.getByText('More details');
  if (await more.isVisible()) await more.click();
  return { green: false, text: await failure.innerText() };
}

async function checkCredentialCase(page: Page, dialog: Locator, c: CredentialCase, out: string): Promise<void> {
  await fillField(dialog.getByTestId('parameter-input-bridgeUrl').locator('input'), c.fields.bridgeUrl);
  await fillField(dialog.getByTestId('parameter-input-instanceId').locator('input'), c.fields.instanceId);
  await fillField(dialog.getByTestId('parameter-input-privateKey').locator('textarea'), c.fields.privateKey);
  // Saving runs the test; "Retry" (title "Retry credential test") is the button that runs it again.
  // n8n marks its Save button disabled with a class until the form has changes: wait for it.
  const save = dialog.locator('[data-test-id="credential-save-button"]:not([disabled]):not(.is-disabled)');
  const onSave = await credentialTestAnswer(page, () => save.click());
  const retry = dialog.getByRole('button', { name: 'Retry' });
  const onRetry = await credentialTestAnswer(page, () => retry.first().click());
  await retry
    .first()
    .filter({ hasText: /^Retry$/ })
    .waitFor();
  const shown = await banner(dialog);
  // The Retry button's spinner fades out over its label after the test (n8n's button transition).
  await dialog.locator('.n8n-button-fade-leave-active').first().waitFor({ state: 'detached' });
  await page.mouse.move(0, 0);
  await shot(page, out, c.screenshot, true);
  const said = `n8n showed ${shown.green ? 'green' : 'red'}: ${JSON.stringify(shown.text.replace(/\s+/g, ' ').trim())}`;
  check(onSave.status === onRetry.status, `${c.what}: Save and Retry give the same answer (${onRetry.status})`);
  if (c.accepted) {
    check(
      onRetry.status === 'OK' && shown.green && c.accepted.test(onRetry.message),
      `${c.what}: green (${said}; the test answered ${JSON.stringify(onRetry.message)})`,
    );
    return;
  }
  if (!c.refused) throw new Error(`credential case "${c.what}" expects nothing`);
  // The message n8n got is the one on screen (the banner's details).
  check(
    onRetry.status === 'Error' &&
      !shown.green &&
      c.refused.test(onRetry.message) &&
      shown.text.includes(onRetry.message),
    `${c.what}: red, saying ${c.refused} (${said})`,
  );
}

async function buildAndRunWorkflow(page: Page, n8n: N8nServer, m: N8nManifest, out: string): Promise<string> {
  // The workflow imported with the sandbox rule's id; the author builds it on the canvas.
  await page.goto(`${n8n.url}/workflow/${m.workflowId}`);
  await page.getByTestId('canvas-add-button').click();
  await page.getByTestId('node-creator-search-bar').fill('manual');
  await page.getByTestId('node-creator-node-item').filter({ hasText: 'Manual Trigger' }).click();
  await page.keyboard.press('Escape');
  await page.getByTestId('canvas-handle-plus').first().click();
  await page.getByTestId('node-creator-search-bar').fill(NODE_NAME);
  await page.getByTestId('node-creator-node-item').filter({ hasText: NODE_NAME }).first().click();
  await page.getByRole('button', { name: 'Add to workflow' }).click();
  const ndv = page.getByTestId('ndv');
  await ndv.waitFor();
  // The only credential of its type is preselected.
  const credential = await ndv.getByTestId('node-credentials-select').locator('input').inputValue();
  check(credential !== '', `the node preselected the credential "${credential}"`);
  await shot(page, out, '07-node-parameters');
  await page.getByTestId('ndv-close-button').click();
  await ndv.waitFor({ state: 'hidden' });
  await shot(page, out, '08-workflow');

  await page.getByTestId('execute-workflow-button').first().click();
  const entraNode = page.getByTestId('canvas-node').filter({ hasText: NODE_NAME });
  await entraNode
    .getByTestId('canvas-node-status-success')
    .or(entraNode.getByTestId('canvas-node-status-mark-error'))
    .or(entraNode.getByTestId('canvas-node-status-error'))
    .first()
    .waitFor({ timeout: RUN_TIMEOUT_MS });
  await entraNode.dblclick();
  await ndv.waitFor();
  const output = page.getByTestId('output-panel');
  await output.getByTestId('radio-button-json').click();
  // The JSON view renders line by line: wait for the last field the node outputs.
  await output.getByText('"fromCache"').first().waitFor();
  const text = await output.innerText();
  await shot(page, out, '09-run-output');
  return text;
}

// ---------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const fresh = process.argv.includes('--fresh');
  const out = resolve(option('--out') ?? join(scratch, 'ui', 'screenshots'));
  if (!existsSync(CHROMIUM))
    throw new Error(`no Chromium at ${CHROMIUM}: apt-get install -y chromium (or set CHROMIUM to its path)`);
  rmSync(out, { recursive: true, force: true });
  mkdirSync(out, { recursive: true });
  process.stdout.write(`n8n ${N8N_VERSION} UI check, scratch folder ${scratch}, screenshots in ${out}\n`);
  await steps.step('install real n8n (cached after the first run)', () => installN8n(steps, fresh));
  const tarball = await steps.step(`npm pack ${PACKAGE_NAME}`, () => packCommunityNode(join(scratch, 'ui', 'pack')));

  const audit: AuditEvent[] = [];
  const sandbox = await steps.step('start the sandbox bridge', () =>
    startSandbox({ port: 0, audit: (e) => audit.push(e) }),
  );
  let n8n: N8nServer | undefined;
  let browser: Browser | undefined;
  let page: Page | undefined;
  try {
    const m = sandbox.manifest.n8n as N8nManifest;
    const instance = n8nInstance(join(scratch, 'ui', 'user'));
    await steps.step("install the tarball as a community package (as n8n's installer does)", () =>
      installCommunityPackage(tarball, instance.userFolder),
    );
    await steps.step(
      `n8n import:workflow (an empty workflow with id ${m.workflowId}; migrates the database)`,
      async () => {
        const file = join(scratch, 'ui', 'workflow.json');
        const workflow = {
          id: m.workflowId,
          name: 'Agent token (UI check)',
          active: false,
          nodes: [],
          connections: {},
        };
        writeFileSync(file, JSON.stringify(workflow));
        await instance.cli(['import:workflow', `--input=${file}`]);
      },
    );
    n8n = await steps.step('n8n start (loopback)', async () => startN8nServer(instance, await freePort()));
    const server = n8n;

    selectors.setTestIdAttribute('data-test-id');
    browser = await steps.step(`launch ${CHROMIUM} (headless)`, () =>
      chromium.launch({ executablePath: CHROMIUM, headless: true }),
    );
    page = await browser.newPage({ viewport: { width: 1440, height: 1100 } });
    page.setDefaultTimeout(ACTION_TIMEOUT_MS);
    const p = page;

    await steps.step('set up the owner account', () => setUpOwner(p, server, out));
    await steps.step('credential: create it, then Save and Retry for each case', async () => {
      const dialog = await openNewCredential(p, server);
      for (const c of await credentialCases(sandbox.url, m)) await checkCredentialCase(p, dialog, c, out);
      await p.keyboard.press('Escape');
    });

    const issuedBefore = audit.filter((e) => e.route === '/token' && e.outcome === 'issued').length;
    const output = await steps.step('workflow: Manual Trigger → Entra Agent Token, Execute workflow', () =>
      buildAndRunWorkflow(p, server, m, out),
    );
    // The JSON view wraps long strings; tokens and ids hold no white space.
    const json = output.replace(/\s+/g, '');
    const token = /"accessToken":"([\w-]+\.[\w-]+\.[\w-]+)"/.exec(json)?.[1];
    // The panel's text is only shown when it holds no token: a token (even the sandbox's) is not printed.
    check(
      token !== undefined,
      `the node output shows an access token${token ? '' : ` (output panel: ${json.slice(0, 120)})`}`,
    );
    const claims = decodeJwt(token ?? '');
    const agentShown = /"agentId":"([^"]*)"/.exec(json)?.[1];
    check(
      claims.appid === m.agentId && agentShown === m.agentId,
      `the token (appid ${String(claims.appid)}) and the output (agentId ${agentShown}) name the sandbox agent ${m.agentId}`,
    );
    const issued = audit.filter((e) => e.route === '/token' && e.outcome === 'issued').slice(issuedBefore);
    check(
      issued.length === 1 && issued[0]?.principal === `n8n:${m.instanceId}:workflow:${m.workflowId}`,
      `the bridge issued one token, to workflow principal n8n:${m.instanceId}:workflow:${m.workflowId}`,
    );
  } catch (e) {
    if (page) {
      await shot(page, out, 'failure').catch(() => undefined);
      // The page's DOM too, to find what a selector missed.
      writeFileSync(join(out, 'failure.html'), await page.content().catch(() => ''));
    }
    if (n8n) process.stderr.write(`\nn8n's log (last lines):\n${n8n.log().split('\n').slice(-20).join('\n')}\n`);
    throw e;
  } finally {
    await browser?.close();
    await n8n?.close();
    await sandbox.close();
  }
  steps.report('n8n UI check passed');
  process.stdout.write(`\nscreenshots (${out}):\n${screenshots.map((s) => `  ${s}`).join('\n')}\n`);
}

main().catch((e: unknown) => {
  process.stderr.write(`\nn8n UI check FAILED: ${e instanceof Error ? e.message : String(e)}\n`);
  if (screenshots.length > 0)
    process.stderr.write(`screenshots so far:\n${screenshots.map((s) => `  ${s}`).join('\n')}\n`);
  process.exit(1);
});

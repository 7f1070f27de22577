// The browser tests' fixtures: a real `pioneer serve --demo` on 127.0.0.1 (a free port, a
// fresh data folder), Debian's Chromium driven by playwright-core, a browser context per
// person, and screenshots into build/web-screenshots/.
import { spawn } from 'node:child_process'
import { mkdtempSync, mkdirSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { createRequire } from 'node:module'

const here = dirname(fileURLToPath(import.meta.url))
export const sourceDir = resolve(here, '../..')
const require = createRequire(join(sourceDir, 'web/package.json'))
const { chromium } = require('playwright-core')

export const binary = process.env.PIONEER_BINARY ?? join(sourceDir, 'build/pioneer')
export const shotDir = process.env.PIONEER_SCREENSHOTS ?? join(dirname(binary), 'web-screenshots')
export const phone = { width: 390, height: 844 }

function spawnServer(data, listen) {
  const child = spawn(binary, ['serve', '--data', data, '--listen', listen, '--demo',
    '--workflows', join(sourceDir, 'workflows')], { stdio: ['ignore', 'pipe', 'pipe'] })
  // The server never outlives the tests, whatever way they end.
  process.once('exit', () => child.kill('SIGKILL'))
  let log = ''
  const origin = new Promise((resolveOrigin, reject) => {
    const onData = (chunk) => {
      log += chunk
      const m = log.match(/listening on (http:\/\/[^\s]+)/)
      if (m) resolveOrigin(m[1])
    }
    child.stdout.on('data', onData)
    child.stderr.on('data', onData)
    child.on('exit', (code) => reject(new Error(`pioneer exited with ${code}: ${log}`)))
  })
  return { child, origin }
}

async function stopChild(child) {
  if (child.exitCode !== null) return
  const exited = new Promise((r) => child.once('exit', r))
  child.kill('SIGTERM')
  await exited
}

// A server on a free port with a fresh data folder.
export async function startServer() {
  const data = mkdtempSync(join(tmpdir(), 'pioneer-web-'))
  const running = spawnServer(data, '127.0.0.1:0')
  const origin = await running.origin
  const people = JSON.parse(readFileSync(join(data, 'demo-tokens.json'), 'utf8')).users
  return {
    origin,
    people,
    token: (id) => people.find((p) => p.id === id).token,
    async stop() {
      await stopChild(running.child)
      rmSync(data, { recursive: true, force: true })
    },
  }
}

export async function launchBrowser() {
  const browser = await chromium.launch({
    executablePath: process.env.PIONEER_CHROMIUM ?? '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  })
  return {
    browser,
    async close() {
      await browser.close()
    },
  }
}

// A person's own browser context, signed in through the login page. Failures of the page
// (console errors, CSP violations, uncaught exceptions) are collected for the test to check.
export async function signIn(browser, server, id, { viewport } = {}) {
  const person = server.people.find((p) => p.id === id)
  if (!person) throw new Error(`no demo user ${id}`)
  const context = await browser.newContext({ baseURL: server.origin, viewport: viewport ?? { width: 1280, height: 860 },
    locale: 'zh-CN', timezoneId: 'Asia/Shanghai' })
  context.setDefaultTimeout(15000)
  const page = await context.newPage()
  const problems = []
  page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`))
  page.on('console', (m) => {
    if (m.type() === 'error' && !/Failed to load resource/.test(m.text())) problems.push(`console: ${m.text()}`)
  })
  if (person.password === undefined) {
    // A server without passwords (demo-tokens.json has none): the context sends the person's
    // bearer token with every request instead of signing in.
    await context.setExtraHTTPHeaders({ Authorization: `Bearer ${person.token}` })
    await page.goto('/tasks')
    return { context, page, person, problems }
  }
  await page.goto('/login')
  await page.getByLabel('用户名').fill(person.id)
  await page.getByLabel('密码').fill(person.password)
  await page.getByRole('button', { name: '登录' }).click()
  await page.waitForURL((url) => !url.pathname.startsWith('/login'))
  return { context, page, person, problems }
}

export async function shot(page, name) {
  mkdirSync(shotDir, { recursive: true })
  await page.screenshot({ path: join(shotDir, `${name}.png`), fullPage: true })
}

// No sideways scrolling: the document is no wider than the window.
export async function noSidewaysScroll(page) {
  return page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth)
}

// Form widgets by field name (the form items carry data-field; inputs the id PREFIX-NAME).
export async function fill(page, prefix, name, value) {
  await page.locator(`#${prefix}-${name}`).fill(String(value))
}

export async function pick(page, name, optionText) {
  await page.locator(`[data-field="${name}"] .el-select`).click()
  await page.locator('.el-select-dropdown__item:visible', { hasText: optionText }).first().click()
}

export async function pickDate(page, prefix, name, day) {
  const input = page.locator(`#${prefix}-${name}`)
  await input.fill(day)
  await input.press('Enter')
}

export async function act(page, label, fields = async () => {}) {
  await page.getByTestId('actions').getByRole('button', { name: label, exact: true }).click()
  const dialog = page.getByRole('dialog', { name: label })
  await dialog.waitFor()
  await fields(dialog)
  await dialog.getByTestId('action-submit').click()
  await dialog.waitFor({ state: 'hidden' })
}

export async function stateIs(page, label) {
  await page.locator('.head [data-testid="state-tag"]', { hasText: label }).waitFor()
}

// The console in a real browser against a real `pioneer serve --demo`: each person in their own
// browser context, the whole 一支一项 and 巡察整改 paths, live updates, refusals, visibility,
// a phone, logout; and the headers the console is served with.
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import {
  act, fill, launchBrowser, noSidewaysScroll, phone, pick, pickDate, shot, signIn, startServer, stateIs,
} from './harness.mjs'

let server
let chrome
const contexts = []

before(async () => {
  server = await startServer()
  chrome = await launchBrowser()
})

after(async () => {
  for (const c of contexts) await c.close().catch(() => {})
  await chrome?.close()
  await server?.stop()
})

async function person(id, options) {
  const s = await signIn(chrome.browser, server, id, options)
  contexts.push(s.context)
  return s
}

// 王伟 drafts and issues a topic; returns the instance page's path.
async function issueTopic(page, title) {
  await page.goto('/new/yizhi-yixiang')
  await fill(page, 'create', 'title', title)
  await fill(page, 'create', 'goal', '企业办事一次办成')
  await pick(page, 'area', '服务群众')
  await page.getByRole('button', { name: '创建' }).click()
  await page.waitForURL(/\/instances\/[^/?]+$/)
  await stateIs(page, '草拟')
  await act(page, '出题')
  await stateIs(page, '已出题')
  return new URL(page.url()).pathname
}

async function assignToB1(page, path, due) {
  await page.goto(path)
  await act(page, '交办', async (dialog) => {
    await pick(dialog.page(), 'branch', '市财政局第一党支部')
    await pickDate(dialog.page(), 'action', 'due_date', due)
  })
  await stateIs(page, '已交办')
}

describe('the console', { concurrency: 1 }, () => {
  test('serves / and a deep link with the security and cache headers', async () => {
    for (const path of ['/', '/instances/no-such-id']) {
      const r = await fetch(server.origin + path, { headers: { 'Accept-Encoding': 'gzip' } })
      assert.equal(r.status, 200, path)
      assert.match(r.headers.get('content-type'), /^text\/html/)
      assert.match(r.headers.get('content-security-policy'), /default-src 'self'; script-src 'self';/)
      assert.match(r.headers.get('content-security-policy'), /frame-ancestors 'none'/)
      assert.equal(r.headers.get('x-content-type-options'), 'nosniff')
      assert.equal(r.headers.get('referrer-policy'), 'same-origin')
      assert.equal(r.headers.get('cache-control'), 'no-cache')
      const html = await r.text()
      assert.match(html, /<div id="app">/)
      assert.doesNotMatch(html, /<script>(?!<)/, 'no inline script')
    }
    const index = await (await fetch(server.origin + '/')).text()
    const asset = index.match(/src="(\/assets\/[^"]+\.js)"/)[1]
    const r = await fetch(server.origin + asset, { headers: { 'Accept-Encoding': 'gzip' } })
    assert.equal(r.status, 200)
    assert.equal(r.headers.get('cache-control'), 'public, max-age=31536000, immutable')
    assert.equal(r.headers.get('content-encoding'), 'gzip')
    assert.match(r.headers.get('content-type'), /javascript/)
    const api = await fetch(server.origin + '/api/v1/me')
    assert.equal(api.status, 401)
    assert.equal(api.headers.get('x-content-type-options'), 'nosniff')
    assert.match(api.headers.get('content-security-policy'), /default-src 'self'/)
    assert.equal((await fetch(server.origin + '/assets/missing-0000.js')).status, 404)
    assert.equal((await fetch(server.origin + '/api/v1/nothing')).status, 404)
  })

  test('一支一项 by three people, live, to the end', async () => {
    const wang = await person('wang.wei')
    const li = await person('li.na')
    const zhang = await person('zhang.min')

    const path = await issueTopic(wang.page, '优化营商环境服务企业')
    await shot(wang.page, 'instance-issued')

    await zhang.page.goto('/tasks')
    // The assignment brings the project into 张敏's view with its third event: the tab fills
    // the two before it from the instance's history (the stream's instance_seq rule).
    const id = path.split('/').pop()
    const gapFilled = zhang.page.waitForRequest((r) => r.url().endsWith(`/api/v1/instances/${id}/events`))
    await assignToB1(li.page, path, '2027-03-31')
    await gapFilled
    // 张敏 is told of the assignment without a reload: the badge counts it.
    await zhang.page.getByTestId('todo-badge').filter({ hasText: '1' }).waitFor()
    await act(li.page, '督办', async (dialog) => {
      await dialog.locator('#action-comment').fill('请尽快认领')
    })
    await zhang.page.locator('.pioneer-notice', { hasText: '督办' }).first().waitFor()
    await shot(zhang.page, 'todo-notified')

    await zhang.page.goto('/tasks')
    await zhang.page.getByRole('link', { name: '优化营商环境服务企业' }).waitFor()
    await shot(zhang.page, 'todo')
    await zhang.page.getByRole('button', { name: '领办' }).first().click()
    await zhang.page.getByRole('dialog', { name: '领办' }).getByTestId('action-submit').click()
    await stateIs(zhang.page, '支部领办中')
    await act(zhang.page, '报告进展', async (dialog) => {
      await fill(dialog.page(), 'action', 'progress', '完成企业走访')
      await fill(dialog.page(), 'action', 'percent', 40)
    })
    await zhang.page.getByTestId('history').getByText('完成企业走访').waitFor()

    // 李娜 keeps the project open while 张敏 applies for completion.
    await li.page.goto(path)
    await stateIs(li.page, '支部领办中')
    await act(zhang.page, '申请结项', async (dialog) => {
      await fill(dialog.page(), 'action', 'results', '形成服务清单12项')
    })
    await li.page.locator('.pioneer-notice', { hasText: '申请结项' }).waitFor()
    await stateIs(li.page, '结项审核')
    await shot(li.page, 'instance-live-update')

    await act(li.page, '结项审核通过')
    await stateIs(li.page, '成效评估')
    await wang.page.goto(path)
    await act(wang.page, '成效评价', async (dialog) => {
      await pick(dialog.page(), 'rating', '优秀')
      await dialog.locator('[data-field="brand"] .el-switch').click()
    })
    await stateIs(wang.page, '已结项')
    // The diagram marks the current state.
    await wang.page.getByTestId('diagram').locator('svg .current', { hasText: '已结项' }).waitFor()
    await shot(wang.page, 'instance-closed')
    for (const s of [wang, li, zhang]) assert.deepEqual(s.problems, [], s.person.id)
  })

  test('巡察整改 with the two-party countersign', async () => {
    const zhou = await person('zhou.hua')
    const wang = await person('wang.wei')
    const wu = await person('wu.gang')
    await zhou.page.goto('/new/inspection-rectification')
    await pick(zhou.page, 'org', '市财政局')
    await fill(zhou.page, 'create', 'title', '理论学习中心组学习不规范')
    await pick(zhou.page, 'category', '思想建设')
    await fill(zhou.page, 'create', 'description', '学习记录不完整')
    await pick(zhou.page, 'severity', '一般')
    await pickDate(zhou.page, 'create', 'due_date', '2027-06-30')
    await zhou.page.getByRole('button', { name: '创建' }).click()
    await zhou.page.waitForURL(/\/instances\/[^/?]+$/)
    const path = new URL(zhou.page.url()).pathname
    await stateIs(zhou.page, '制定整改方案')

    await wang.page.goto(path)
    await act(wang.page, '提交整改方案', async (dialog) => {
      await fill(dialog.page(), 'action', 'plan', '建立学习台账')
      await fill(dialog.page(), 'action', 'responsible', '王伟')
      await pickDate(dialog.page(), 'action', 'plan_due', '2027-04-30')
    })
    await wu.page.goto(path)
    await act(wu.page, '批准方案')
    await stateIs(wu.page, '整改中')
    await wang.page.goto(path)
    await act(wang.page, '提交整改结果', async (dialog) => {
      await fill(dialog.page(), 'action', 'evidence', '学习台账12册')
    })
    await zhou.page.goto(path)
    await act(zhou.page, '验收通过（销号）')
    const sign = zhou.page.getByTestId('countersign')
    await sign.getByText('已同意').waitFor()
    await sign.getByText('待确认').waitFor()
    await shot(zhou.page, 'countersign')
    await stateIs(zhou.page, '联合验收')
    await wu.page.goto(path)
    await act(wu.page, '验收通过（销号）')
    await stateIs(wu.page, '已销号')
    await stateIs(zhou.page, '已销号')
  })

  test('a refusal shows its Chinese message on the field', async () => {
    const wang = await person('wang.wei')
    await wang.page.goto('/new/yizhi-yixiang')
    await fill(wang.page, 'create', 'goal', '没有标题的项目')
    await wang.page.getByRole('button', { name: '创建' }).click()
    const error = wang.page.locator('[data-field="title"] .el-form-item__error')
    await error.waitFor()
    assert.match(await error.innerText(), /[\u4e00-\u9fff].*（/)
    await shot(wang.page, 'create-refused')
    assert.match(wang.page.url(), /\/new\/yizhi-yixiang$/)
  })

  test('陈杰 (education) opening a finance project sees 未找到', async () => {
    const wang = await person('wang.wei')
    const path = await issueTopic(wang.page, '财政局内部项目')
    const chen = await person('chen.jie')
    await chen.page.goto(path)
    await chen.page.getByText('未找到').first().waitFor()
    assert.equal(await chen.page.getByText('财政局内部项目').count(), 0)
    await shot(chen.page, 'not-found')
    await chen.page.goto('/instances/no-such-instance')
    await chen.page.getByText('未找到').first().waitFor()
  })

  test('after a dropped connection the stream resumes from the last seq: a 督办 sent meanwhile arrives', async () => {
    const wang = await person('wang.wei')
    const li = await person('li.na')
    const path = await issueTopic(wang.page, '断线重连项目')
    await assignToB1(li.page, path, '2027-06-30')
    const zhang = await person('zhang.min')
    // The tab's stream goes through a route that can drop it and refuse reconnections.
    let refuse = false
    let current = null
    const urls = []
    await zhang.context.routeWebSocket(/\/api\/v1\/stream/, (ws) => {
      urls.push(new URL(ws.url()))
      if (refuse) return ws.close({ code: 1011, reason: 'refused by the test' })
      current = ws
      ws.connectToServer()
    })
    await zhang.page.reload()
    await zhang.page.locator('.live.on').waitFor()
    refuse = true
    await current.close({ code: 1011, reason: 'dropped by the test' })
    await zhang.page.locator('.live:not(.on)').waitFor()
    const id = path.split('/').pop()
    const urged = await fetch(`${server.origin}/api/v1/instances/${id}/transitions`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${server.token('li.na')}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ transition: 'urge', comment: '断线期间的督办' }),
    })
    assert.equal(urged.status, 200)
    const head = (await (await fetch(`${server.origin}/healthz`)).json()).head
    refuse = false
    await zhang.page.locator('.pioneer-notice', { hasText: '断线期间的督办' }).waitFor()
    const resumed = urls[urls.length - 1]
    assert.ok(Number(resumed.searchParams.get('since')) < head, `resumed from ${resumed} below the urge (${head})`)
  })

  test('张敏 on a phone: 待办, the instance page and its forms in one column', async () => {
    const wang = await person('wang.wei')
    const li = await person('li.na')
    const path = await issueTopic(wang.page, '手机端领办项目')
    await assignToB1(li.page, path, '2027-05-31')
    const zhang = await person('zhang.min', { viewport: phone })
    const fetched = []
    zhang.page.on('request', (r) => fetched.push(new URL(r.url()).pathname))
    await zhang.page.goto('/tasks')
    await zhang.page.getByTestId('instance-cards').getByText('手机端领办项目').waitFor()
    assert.ok(await noSidewaysScroll(zhang.page), '待办 scrolls sideways')
    // 待办 loads neither Mermaid nor ECharts; the instance page loads Mermaid for its diagram.
    assert.deepEqual(fetched.filter((p) => /mermaid|charts/i.test(p)), [])
    await shot(zhang.page, 'phone-todo')
    await zhang.page.getByText('手机端领办项目').click()
    await stateIs(zhang.page, '已交办')
    assert.ok(await noSidewaysScroll(zhang.page), 'the instance page scrolls sideways')
    await zhang.page.getByTestId('diagram').locator('svg').waitFor()
    assert.ok(fetched.some((p) => /mermaid/.test(p)), 'the diagram loads Mermaid')
    await shot(zhang.page, 'phone-instance')
    await act(zhang.page, '领办')
    await stateIs(zhang.page, '支部领办中')
    await zhang.page.getByTestId('actions').getByRole('button', { name: '报告进展' }).click()
    const dialog = zhang.page.getByRole('dialog', { name: '报告进展' })
    await dialog.waitFor()
    assert.ok(await noSidewaysScroll(zhang.page), 'the action form scrolls sideways')
    await shot(zhang.page, 'phone-action')
    await fill(zhang.page, 'action', 'progress', '已走访企业5家')
    await fill(zhang.page, 'action', 'percent', 20)
    await dialog.getByTestId('action-submit').click()
    await zhang.page.getByTestId('history').getByText('已走访企业5家').waitFor()
  })

  test('the other pages draw: 工作台, 事项 and 看板, 统计, 管理', async () => {
    const admin = await person('admin')
    await admin.page.goto('/')
    await admin.page.getByText('最新通知').waitFor()
    await shot(admin.page, 'dashboard')
    await admin.page.goto('/instances?workflow=yizhi-yixiang&view=board')
    await admin.page.getByTestId('board').getByText('已结项').waitFor()
    await shot(admin.page, 'board')
    await admin.page.goto('/stats')
    await admin.page.getByTestId('chart-org').locator('canvas').waitFor()
    await shot(admin.page, 'stats')
    await admin.page.goto('/admin')
    await admin.page.getByRole('tab', { name: '组织' }).click()
    await admin.page.getByText('市财政局第一党支部').filter({ visible: true }).first().waitFor()
    await admin.page.getByRole('tab', { name: '流程定义' }).click()
    await admin.page.getByLabel('流程定义 JSON').fill('{"id": "broken", "version": 1, "states": {}}')
    await admin.page.getByRole('button', { name: '校验并登记' }).click()
    await admin.page.getByTestId('problems').waitFor()
    await shot(admin.page, 'admin-problems')
    assert.deepEqual(admin.problems, [])
  })
})

describe('sessions', { concurrency: 1 }, () => {
  test('a wrong password shows the server message; logout returns to 登录', async (t) => {
    if (server.people[0].password === undefined) return t.skip('this server has no passwords (demo-tokens.json)')
    const context = await chrome.browser.newContext({ baseURL: server.origin })
    contexts.push(context)
    const page = await context.newPage()
    await page.goto('/tasks')
    await page.waitForURL(/\/login\?redirect=(%2F|\/)tasks$/)
    await page.getByLabel('用户名').fill('zhang.min')
    await page.getByLabel('密码').fill('not-the-password')
    await page.getByRole('button', { name: '登录' }).click()
    await page.getByRole('alert').filter({ hasText: '（' }).waitFor()
    await shot(page, 'login-refused')
    const zhang = await person('zhang.min')
    await zhang.page.getByRole('button', { name: '退出登录' }).click()
    await zhang.page.waitForURL(/\/login/)
    await zhang.page.getByRole('button', { name: '登录' }).waitFor()
    await zhang.page.goto('/tasks')
    await zhang.page.waitForURL(/\/login/)
  })

  test('an expired session returns to 登录 and then back where the person was', async (t) => {
    if (server.people[0].password === undefined) return t.skip('this server has no passwords (demo-tokens.json)')
    const li = await person('li.na')
    await li.page.goto('/done')
    await li.page.getByRole('heading', { name: '已办' }).waitFor()
    // The session ends elsewhere (as when it expires): the server forgets it.
    const cookie = (await li.context.cookies()).find((c) => c.name === 'pioneer_session')
    assert.ok(cookie, 'the session cookie is set')
    const out = await fetch(server.origin + '/api/v1/auth/logout', {
      method: 'POST', headers: { Cookie: `pioneer_session=${cookie.value}`, Origin: server.origin },
    })
    assert.equal(out.status, 204)
    await li.page.waitForURL(/\/login\?redirect=(%2F|\/)done$/)
    await li.page.getByLabel('用户名').fill('li.na')
    await li.page.getByLabel('密码').fill(li.person.password)
    await li.page.getByRole('button', { name: '登录' }).click()
    await li.page.waitForURL(/\/done$/)
    await li.page.getByRole('heading', { name: '已办' }).waitFor()
  })
})

// Prints the gzipped size of every built asset and fails the build when the first load of the
// login and 待办 pages is over the budget: index.html's script and stylesheet, every chunk the
// entry imports statically, and the 待办 page's chunk with the dependencies Vite preloads for
// it (the entry's __vite__mapDeps list).
//   node budget.mjs [DIST]   (default: web/dist)
import { readFileSync, readdirSync } from 'node:fs'
import { gzipSync } from 'node:zlib'
import { join } from 'node:path'

const budget = 350 * 1024
const dist = process.argv[2] ?? new URL('../dist/', import.meta.url).pathname
const read = (file) => readFileSync(join(dist, file), 'utf8')
const gz = (file) => gzipSync(readFileSync(join(dist, file)), { level: 9 }).length

const sizes = new Map(readdirSync(join(dist, 'assets')).map((f) => [`assets/${f}`, gz(`assets/${f}`)]))
for (const [file, size] of [...sizes].sort((a, b) => a[1] - b[1])) {
  console.log(`${(size / 1024).toFixed(1).padStart(8)} KiB  ${file}`)
}

const first = new Set([...read('index.html').matchAll(/(?:src|href)="\/(assets\/[^"]+\.(?:js|css))"/g)].map((m) => m[1]))
const entry = [...first].find((f) => f.endsWith('.js'))
if (!entry) throw new Error('index.html names no script')
const entryText = read(entry)
const depList = entryText.match(/m\.f=(\[[^\]]*\])/)
const deps = depList ? JSON.parse(depList[1]) : []
const todoCall = entryText.match(/import\(`\.\/(TaskListPage-[^`]+\.js)`\),__vite__mapDeps\(\[([\d,]+)\]\)/)
if (!todoCall) throw new Error('the 待办 page chunk was not found in the entry')
for (const i of todoCall[2].split(',')) first.add(deps[Number(i)])

// Static imports of every JS file in the set, transitively.
const queue = [...first].filter((f) => f.endsWith('.js'))
while (queue.length) {
  const text = read(queue.pop())
  for (const m of text.matchAll(/(?:from|import)\s*["'`]\.\/([^"'`]+\.js)["'`]/g)) {
    const dep = `assets/${m[1]}`
    if (!first.has(dep)) {
      first.add(dep)
      queue.push(dep)
    }
  }
}
const total = [...first].reduce((sum, f) => sum + (sizes.get(f) ?? 0), 0)
console.log(`first load (登录 + 待办): ${(total / 1024).toFixed(1)} KiB of JS and CSS gzipped, budget ${budget / 1024} KiB, ${first.size} files`)
if (total > budget) {
  console.error('over the budget of the first load (登录 + 待办)')
  process.exit(1)
}

// The tab's one WebSocket on /api/v1/stream, authenticated by the session cookie. Pages
// subscribe to the events it delivers; each event is delivered once, in order. After a drop it
// reconnects with the last seq seen, and fills gaps as the API requires: an event whose
// instance_seq is more than one past the last held for that instance (or above 1 for an
// instance not known yet) means earlier events are missing; they are read from
// /instances/{id}/events and delivered first (a 404 there: the instance has left the view).
import { onUnmounted, ref } from 'vue'
import { ApiError, api, type PioneerEvent } from '../api'

export interface StreamEvent {
  event: PioneerEvent
  mine: boolean
  live: boolean // false for events filled in from an instance's history
}

type Listener = (e: StreamEvent) => void

const connected = ref(false)
const listeners = new Set<Listener>()
const instanceSeqs = new Map<string, number>()
const delivered = new Set<number>()
let socket: WebSocket | null = null
let lastSeq = 0
let running = false
let run = 0 // counts start()s, so that an answer for an earlier run is ignored
let retry = 0
let retryTimer: ReturnType<typeof setTimeout> | undefined
let queue: Promise<void> = Promise.resolve()
let onSessionEnd: () => void = () => {}

function deliver(item: StreamEvent): void {
  const { event } = item
  if (delivered.has(event.seq)) return
  delivered.add(event.seq)
  if (event.instance_seq) {
    instanceSeqs.set(event.instance_id, Math.max(instanceSeqs.get(event.instance_id) ?? 0, event.instance_seq))
  }
  for (const listener of listeners) listener(item)
}

async function fillGap(event: PioneerEvent): Promise<void> {
  try {
    const history = await api.events(event.instance_id)
    for (const earlier of history.items) {
      if (earlier.seq < event.seq) deliver({ event: earlier, mine: false, live: false })
    }
  } catch (error) {
    if (error instanceof ApiError && error.status === 404) instanceSeqs.delete(event.instance_id)
  }
}

async function receive(event: PioneerEvent, mine: boolean): Promise<void> {
  lastSeq = Math.max(lastSeq, event.seq)
  const held = instanceSeqs.get(event.instance_id) ?? 0
  if (event.instance_seq && event.instance_seq > held + 1) await fillGap(event)
  deliver({ event, mine, live: true })
}

function onFrame(text: string): void {
  let frame: { type?: string; event?: PioneerEvent; mine?: boolean; head?: number }
  try {
    frame = JSON.parse(text)
  } catch {
    return
  }
  if (frame.type === 'event' && frame.event) {
    const { event } = frame
    const mine = frame.mine === true
    // Frames are handled one after another, so a gap fill never reorders delivery.
    queue = queue.then(() => receive(event, mine))
  }
}

function endSession(): void {
  running = false
  onSessionEnd()
}

// A stream that could not be opened: the browser does not tell why (a refused upgrade, as 401
// for a session that has ended, closes with 1006 like a network failure), so /me tells whether
// the session still stands before the stream is tried again.
async function sessionGone(): Promise<boolean> {
  try {
    await api.me()
    return false
  } catch (error) {
    return error instanceof ApiError && error.status === 401
  }
}

function scheduleRetry(): void {
  retry = Math.min(retry + 1, 5)
  retryTimer = setTimeout(open, 500 * 2 ** retry)
}

function open(): void {
  const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:'
  const ws = new WebSocket(`${scheme}//${location.host}/api/v1/stream?since=${lastSeq}`)
  let opened = false
  socket = ws
  ws.onopen = () => {
    opened = true
    connected.value = true
    retry = 0
  }
  ws.onmessage = (message: MessageEvent<string>) => onFrame(message.data)
  ws.onclose = (close: CloseEvent) => {
    connected.value = false
    if (socket !== ws) return
    socket = null
    if (!running) return
    if (close.code === 4001) {
      endSession()
      return
    }
    if (opened) {
      scheduleRetry()
      return
    }
    const mine = run
    void sessionGone().then((gone) => {
      if (!running || run !== mine || socket !== null) return
      if (gone) endSession()
      else scheduleRetry()
    })
  }
}

async function start(sessionEnded: () => void): Promise<void> {
  if (running) return
  running = true
  run += 1
  onSessionEnd = sessionEnded
  if (lastSeq === 0) {
    // Start at the head: what happens from now on (pages read what is already there).
    try {
      const health = await fetch('/healthz').then((r) => r.json() as Promise<{ head: number }>)
      lastSeq = health.head
    } catch {
      lastSeq = 0
    }
  }
  if (running) open()
}

function stop(): void {
  running = false
  clearTimeout(retryTimer)
  const ws = socket
  socket = null
  ws?.close()
  connected.value = false
  lastSeq = 0
  instanceSeqs.clear()
  delivered.clear()
}

function subscribe(listener: Listener): () => void {
  listeners.add(listener)
  return () => listeners.delete(listener)
}

export function useStream() {
  return { connected, start, stop, subscribe }
}

// Subscribes for the life of the calling component.
export function onStreamEvent(listener: Listener): void {
  const off = subscribe(listener)
  onUnmounted(off)
}

// Calls `reload` once after a burst of events (any event may change what a page shows).
export function useLiveReload(reload: () => void, wait = 300): void {
  let timer: ReturnType<typeof setTimeout> | undefined
  onStreamEvent(() => {
    clearTimeout(timer)
    timer = setTimeout(reload, wait)
  })
  onUnmounted(() => clearTimeout(timer))
}

// The person's to-do count (the badge) and the notifications addressed to them, shared by the
// navigation, 工作台 and every page. Both follow the stream: any event may add or remove a
// to-do, so the count is read again (once per burst); an event addressed to the person (a new
// to-do, a 督办) becomes a notification with the step's label and a link.
import { ref } from 'vue'
import { api, type PioneerEvent } from '../api'
import { useDirectory } from './useDirectory'
import { useSession } from './useSession'
import { type StreamEvent } from './useStream'

export interface Notice {
  seq: number
  instanceId: string
  step: string
  title: string
  actor: string
  comment?: string
  at: string
}

const count = ref(0)
const more = ref(false)
const notices = ref<Notice[]>([])
let timer: ReturnType<typeof setTimeout> | undefined

async function refreshCount(): Promise<void> {
  try {
    const page = await api.tasks({ limit: 100 })
    count.value = page.count ?? page.items.length
    more.value = page.count === undefined && page.next_cursor !== null
  } catch {
    // The badge keeps its last value; the pages show their own errors.
  }
}

function scheduleCount(): void {
  clearTimeout(timer)
  timer = setTimeout(() => void refreshCount(), 250)
}

const noticeTypes = new Set(['created', 'transitioned', 'approved', 'reminded', 'overdue'])

async function stepLabel(event: PioneerEvent): Promise<string> {
  if (event.type === 'overdue') return '逾期提醒'
  if (event.type === 'reminded') return '到期提醒'
  if (event.type === 'created') return '新建'
  try {
    const def = await useDirectory().definition(event.workflow)
    return def.transitions.find((t) => t.name === event.transition)?.label.zh ?? event.transition ?? ''
  } catch {
    return event.transition ?? ''
  }
}

async function toNotice(event: PioneerEvent): Promise<Notice> {
  let title = event.instance_id
  try {
    const instance = await api.instance(event.instance_id)
    const def = await useDirectory().definition(instance.workflow, instance.workflow_version)
    title = String(instance.fields[def.title_field ?? 'title'] ?? title)
  } catch {
    // Out of view by now: the id stands in for the title.
  }
  return {
    seq: event.seq,
    instanceId: event.instance_id,
    step: await stepLabel(event),
    title,
    actor: event.actor.name,
    comment: event.comment,
    at: event.at,
  }
}

// Called by the layout for every stream event; returns the notice to show, if any.
async function onEvent({ event, mine, live }: StreamEvent): Promise<Notice | null> {
  scheduleCount()
  if (!mine || !live || !noticeTypes.has(event.type)) return null
  if (event.actor.id === useSession().me.value?.id) return null // one's own step is no news
  const notice = await toNotice(event)
  notices.value = [notice, ...notices.value].slice(0, 20)
  return notice
}

function reset(): void {
  count.value = 0
  more.value = false
  notices.value = []
}

export function useTasks() {
  return { count, more, notices, refreshCount, onEvent, reset }
}

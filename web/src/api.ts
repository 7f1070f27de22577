// The one typed client of the Pioneer API (api/openapi.json). Every request goes to the same
// origin with the session cookie; the console never holds a token. A 401 is reported to the
// session (useSession), which returns the person to 登录 and then back.

export interface Label {
  zh: string
  en?: string
}

export interface RoleGrant {
  role: string
  org: string
}

export interface Me {
  id: string
  name: string
  home_org: string
  roles: RoleGrant[]
  expires_at?: string
}

export interface Org {
  id: string
  name: string
  kind: string
  parent: string
}

export interface User {
  id: string
  name: string
  org?: string
  home_org?: string
  roles?: RoleGrant[]
  disabled?: boolean
}

export interface WorkflowSummary {
  id: string
  version: number
  title: Label
}

export interface FieldOption {
  value: string
  label: Label
}

export type FieldType = 'string' | 'text' | 'enum' | 'org' | 'user' | 'date' | 'integer' | 'number' | 'boolean'

export interface FieldSpec {
  type: FieldType
  label: Label
  options?: FieldOption[]
  org_kind?: string
  min?: number
  max?: number
  max_length?: number
}

export interface StateSpec {
  label: Label
  terminal?: boolean
  cancelled?: boolean
}

export interface TransitionSpec {
  name: string
  label: Label
  from: string[]
  to?: string
  requires?: string[]
  accepts?: string[]
  comment?: 'required' | 'optional' | 'none'
}

export interface CreateSpec {
  org_kind?: string
  requires?: string[]
  accepts?: string[]
  to: string
}

export interface Definition {
  id: string
  version: number
  title: Label
  description?: Label
  title_field?: string
  assignee_field?: string
  due_field?: string
  fields: Record<string, FieldSpec>
  create: CreateSpec
  states: Record<string, StateSpec>
  transitions: TransitionSpec[]
}

export interface Action {
  transition: string
  label: Label
  requires: string[]
  accepts?: string[]
  comment?: 'required' | 'optional' | 'none'
  countersign?: boolean
  to?: string | null
}

export interface PendingApproval {
  role: string
  approved_by: string | null
}

export type FieldValue = string | number | boolean | null

export interface Instance {
  id: string
  workflow: string
  workflow_version: number
  state: string
  state_label: Label
  org: string
  assignee_org?: string | null
  fields: Record<string, FieldValue>
  version: number
  created_at: string
  updated_at: string
  due_at?: string | null
  overdue: boolean
  created_by: string
  actions: Action[]
  pending_approvals?: PendingApproval[]
}

export interface Page<T> {
  items: T[]
  next_cursor: string | null
  count?: number
}

export interface Actor {
  id: string
  name: string
}

export interface PioneerEvent {
  seq: number
  instance_id: string
  instance_seq?: number
  workflow: string
  type: string
  transition?: string | null
  from?: string | null
  to?: string | null
  actor: Actor
  on_behalf_of?: Actor | string | null
  at: string
  changes?: Record<string, FieldValue>
  comment?: string
}

export interface StatsGroup {
  key: string | null // null: not assigned (group_by=assignee_org)
  name?: string
  count: number
  overdue: number
  closed_on_time: number
  closed_late: number
  by_state: Record<string, number>
}

export interface Stats {
  workflow: string | null
  group_by: 'org' | 'state' | 'assignee_org'
  groups: StatsGroup[]
}

export interface Problem {
  path: string
  message: string
}

export interface ErrorDetails {
  missing?: string[]
  unknown?: string[]
  field?: string
  parameter?: string
  problems?: Problem[]
}

// A refusal from the server: its stable code, its message (Chinese first) and its details.
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details: ErrorDetails = {},
  ) {
    super(message)
  }
}

type UnauthorizedListener = () => void
let onUnauthorized: UnauthorizedListener = () => {}

// The session registers what to do when the server answers 401 (an expired session).
export function setUnauthorizedHandler(listener: UnauthorizedListener): void {
  onUnauthorized = listener
}

const base = '/api/v1'

type Query = Record<string, string | number | boolean | undefined | null>

function withQuery(path: string, query?: Query): string {
  if (!query) return path
  const params = new URLSearchParams()
  for (const [key, value] of Object.entries(query)) {
    if (value !== undefined && value !== null && value !== '') params.set(key, String(value))
  }
  const text = params.toString()
  return text ? `${path}?${text}` : path
}

async function request<T>(method: string, path: string, body?: unknown, quiet401 = false): Promise<T> {
  let response: Response
  try {
    response = await fetch(base + path, {
      method,
      credentials: 'same-origin',
      headers: body === undefined ? {} : { 'Content-Type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    })
  } catch {
    throw new ApiError(0, 'network', '无法连接服务器（cannot reach the server）')
  }
  if (response.status === 204) return undefined as T
  const type = response.headers.get('Content-Type') ?? ''
  const payload: unknown = type.includes('application/json') ? await response.json() : await response.text()
  if (response.ok) return payload as T
  const error = (payload as { error?: { code?: string; message?: string; details?: ErrorDetails } })?.error
  const failure = new ApiError(
    response.status,
    error?.code ?? 'http_' + response.status,
    error?.message ?? `请求失败（HTTP ${response.status}）`,
    error?.details ?? {},
  )
  if (response.status === 401 && !quiet401) onUnauthorized()
  throw failure
}

export const api = {
  login: (user: string, password: string) => request<Me>('POST', '/auth/login', { user, password }, true),
  logout: () => request<void>('POST', '/auth/logout'),
  me: () => request<Me>('GET', '/me', undefined, true),
  orgs: () => request<{ items: Org[] }>('GET', '/orgs'),
  users: (query: { org?: string; q?: string; cursor?: string }) =>
    request<Page<User>>('GET', withQuery('/users', query)),
  workflows: () => request<{ items: WorkflowSummary[] }>('GET', '/workflows'),
  workflow: (id: string, version?: number) =>
    request<Definition>('GET', withQuery(`/workflows/${encodeURIComponent(id)}`, { version })),
  graph: (id: string, version?: number) =>
    request<string>('GET', withQuery(`/workflows/${encodeURIComponent(id)}/graph`, { format: 'mermaid', version })),
  registerWorkflow: (definition: unknown) =>
    request<{ id: string; version: number; registered: boolean }>('POST', '/workflows', definition),
  instances: (query: Query) => request<Page<Instance>>('GET', withQuery('/instances', query)),
  instance: (id: string) => request<Instance>('GET', `/instances/${encodeURIComponent(id)}`),
  create: (body: { workflow: string; org: string; fields: Record<string, FieldValue>; comment?: string }) =>
    request<Instance>('POST', '/instances', body),
  fire: (id: string, body: { transition: string; fields?: Record<string, FieldValue>; comment?: string }) =>
    request<Instance>('POST', `/instances/${encodeURIComponent(id)}/transitions`, body),
  comment: (id: string, comment: string) =>
    request<PioneerEvent>('POST', `/instances/${encodeURIComponent(id)}/comments`, { comment }),
  events: (id: string) => request<{ items: PioneerEvent[] }>('GET', `/instances/${encodeURIComponent(id)}/events`),
  tasks: (query: Query) => request<Page<Instance>>('GET', withQuery('/tasks', query)),
  done: (query: Query) => request<Page<Instance>>('GET', withQuery('/tasks/done', query)),
  feed: (since: number) => request<{ items: PioneerEvent[]; head: number; next_since: number }>('GET', withQuery('/events', { since, limit: 50 })),
  stats: (query: { workflow?: string; group_by: string }) => request<Stats>('GET', withQuery('/stats', query)),
}

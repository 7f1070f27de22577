// Definitions, workflows and the org tree, fetched once per tab and shared by every page: the
// labels a person reads come from here (the definitions' zh labels, the orgs' names).
import { reactive, ref } from 'vue'
import { formatDay } from '../format'
import { api, type Definition, type FieldValue, type Instance, type Org, type WorkflowSummary } from '../api'

const workflows = ref<WorkflowSummary[]>([])
const orgs = ref<Org[]>([])
const definitions = new Map<string, Promise<Definition>>()
// Definitions already read, by id@version, for labels drawn synchronously in lists.
const known = reactive<Record<string, Definition>>({})
let loaded: Promise<void> | null = null

function load(): Promise<void> {
  loaded ??= Promise.all([api.workflows(), api.orgs()])
    .then(([w, o]) => {
      workflows.value = w.items
      orgs.value = o.items
    })
    .catch((error: unknown) => {
      loaded = null
      throw error
    })
  return loaded
}

function definition(id: string, version?: number): Promise<Definition> {
  const key = `${id}@${version ?? 'newest'}`
  let found = definitions.get(key)
  if (!found) {
    found = api.workflow(id, version)
    found.then(
      (def) => {
        known[`${id}@${def.version}`] = def
        known[`${id}@newest`] ??= def
      },
      () => definitions.delete(key),
    )
    definitions.set(key, found)
  }
  return found
}

function orgName(id: string | null | undefined): string {
  if (!id) return ''
  return orgs.value.find((o) => o.id === id)?.name ?? id
}

function workflowTitle(id: string): string {
  return workflows.value.find((w) => w.id === id)?.title.zh ?? id
}

// A field's value as a person reads it: option labels, org names, 是/否.
function display(def: Definition | undefined, field: string, value: FieldValue | undefined): string {
  if (value === null || value === undefined || value === '') return '—'
  const spec = def?.fields[field]
  if (spec?.type === 'enum') return spec.options?.find((o) => o.value === value)?.label.zh ?? String(value)
  if (spec?.type === 'org') return orgName(String(value))
  if (spec?.type === 'boolean') return value ? '是' : '否'
  return String(value)
}

// The definition an instance runs under, when already read (and asks for it otherwise).
function defOf(instance: Instance): Definition | undefined {
  const def = known[`${instance.workflow}@${instance.workflow_version}`]
  if (!def) void definition(instance.workflow, instance.workflow_version).catch(() => {})
  return def
}

function titleOf(instance: Instance): string {
  const field = defOf(instance)?.title_field ?? 'title'
  return String(instance.fields[field] ?? instance.fields.title ?? instance.id)
}

// The due date as the definition holds it (its due field, a day), else the due instant's day.
function dueOf(instance: Instance): string {
  const field = defOf(instance)?.due_field
  const value = field ? instance.fields[field] : undefined
  if (typeof value === 'string' && value) return value
  return instance.due_at ? formatDay(new Date(Date.parse(instance.due_at) - 1).toISOString()) : '—'
}

function reset(): void {
  loaded = null
  definitions.clear()
  workflows.value = []
  orgs.value = []
}

export function useDirectory() {
  return { workflows, orgs, load, definition, defOf, titleOf, dueOf, orgName, workflowTitle, display, reset }
}

// Where a refusal belongs on a form: missing_fields on each missing field, invalid_field on its
// field, anything else above the form.
import { ApiError } from './api'

export interface Placed {
  fields: Record<string, string>
  general: string
}

export function placeRefusal(error: unknown, fieldNames: string[]): Placed {
  if (!(error instanceof ApiError)) return { fields: {}, general: String(error) }
  const fields: Record<string, string> = {}
  for (const name of error.details.missing ?? []) fields[name] = error.message
  const field = error.details.field
  if (field) fields[field] = error.message
  const placed = Object.keys(fields).some((name) => fieldNames.includes(name))
  return { fields, general: placed ? '' : error.message }
}

// Only the values given: empty inputs are left out, so the server's rules decide.
export function filled(values: Record<string, unknown>): Record<string, string | number | boolean> {
  const out: Record<string, string | number | boolean> = {}
  for (const [key, value] of Object.entries(values)) {
    if (value !== undefined && value !== null && value !== '') out[key] = value as string | number | boolean
  }
  return out
}

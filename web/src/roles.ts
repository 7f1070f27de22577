// The roles' Chinese names, from the repository's config/roles.json (bundled at build time;
// the API does not list roles). A role not in it is shown by its id.
import config from '../../config/roles.json'

const names = new Map<string, string>(config.roles.map((r) => [r.id, r.label.zh]))

export function roleName(id: string): string {
  return names.get(id) ?? id
}

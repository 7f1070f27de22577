// The main path of a workflow, for the step bar: from the create state, each time the first
// transition (in definition order) that leads to a state not yet on the path and not a
// cancelling end.
import type { Definition } from './api'

export function mainPath(def: Definition): string[] {
  const path = [def.create.to]
  for (;;) {
    const here = path[path.length - 1]
    const next = def.transitions.find(
      (t) => t.from.includes(here) && t.to && !path.includes(t.to) && !def.states[t.to]?.cancelled,
    )
    if (!next?.to) return path
    path.push(next.to)
  }
}

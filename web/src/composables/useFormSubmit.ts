// A form's submission: busy while it runs, and a refusal placed on the fields it names (or
// above the form).
import { ref } from 'vue'
import { placeRefusal } from '../refusal'

export function useFormSubmit() {
  const busy = ref(false)
  const errors = ref<Record<string, string>>({})
  const general = ref('')

  async function run(fieldNames: string[], work: () => Promise<void>): Promise<void> {
    busy.value = true
    errors.value = {}
    general.value = ''
    try {
      await work()
    } catch (e) {
      const placed = placeRefusal(e, fieldNames)
      errors.value = placed.fields
      general.value = placed.general
    } finally {
      busy.value = false
    }
  }

  return { busy, errors, general, run }
}

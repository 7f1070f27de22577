// True on a phone-sized screen (≤ 768 px): lists become cards, forms one column.
import { onUnmounted, ref } from 'vue'

export function useNarrow() {
  const query = window.matchMedia('(max-width: 768px)')
  const narrow = ref(query.matches)
  const update = (e: MediaQueryListEvent) => (narrow.value = e.matches)
  query.addEventListener('change', update)
  onUnmounted(() => query.removeEventListener('change', update))
  return narrow
}

// Who is signed in. The session lives in the HttpOnly cookie; the console only asks /me.
import { computed, ref } from 'vue'
import { api, type Me } from '../api'

const me = ref<Me | null>(null)
const checked = ref(false)

async function refresh(): Promise<Me | null> {
  try {
    me.value = await api.me()
  } catch {
    me.value = null
  }
  checked.value = true
  return me.value
}

async function login(user: string, password: string): Promise<Me> {
  me.value = await api.login(user, password)
  checked.value = true
  return me.value
}

async function logout(): Promise<void> {
  try {
    await api.logout()
  } finally {
    me.value = null
  }
}

function forget(): void {
  me.value = null
}

const isAdmin = computed(() => me.value?.roles.some((r) => r.role === 'admin') ?? false)

export function useSession() {
  return { me, checked, isAdmin, refresh, login, logout, forget }
}

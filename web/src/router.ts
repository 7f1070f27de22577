// The console's routes. The login page and the shell are in the first load; every other page is
// its own chunk. A route needs a session: without one it goes to 登录, which returns to it.
import { createRouter, createWebHistory, type RouteLocationNormalized } from 'vue-router'
import { setUnauthorizedHandler } from './api'
import LayoutShell from './components/LayoutShell.vue'
import LoginPage from './pages/LoginPage.vue'
import { useSession } from './composables/useSession'
import { useStream } from './composables/useStream'

export const router = createRouter({
  history: createWebHistory(),
  routes: [
    { path: '/login', name: 'login', component: LoginPage, meta: { public: true, title: '登录' } },
    {
      path: '/',
      component: LayoutShell,
      children: [
        { path: '', name: 'home', component: () => import('./pages/DashboardPage.vue'), meta: { title: '工作台' } },
        { path: 'tasks', name: 'tasks', component: () => import('./pages/TaskListPage.vue'), props: { kind: 'todo' }, meta: { title: '待办' } },
        { path: 'done', name: 'done', component: () => import('./pages/TaskListPage.vue'), props: { kind: 'done' }, meta: { title: '已办' } },
        { path: 'started', name: 'started', component: () => import('./pages/TaskListPage.vue'), props: { kind: 'started' }, meta: { title: '我发起的' } },
        { path: 'instances', name: 'instances', component: () => import('./pages/InstancesPage.vue'), meta: { title: '事项' } },
        { path: 'instances/:id', name: 'instance', component: () => import('./pages/InstancePage.vue'), props: true, meta: { title: '事项详情' } },
        { path: 'new/:workflow?', name: 'new', component: () => import('./pages/CreatePage.vue'), props: true, meta: { title: '新建' } },
        { path: 'stats', name: 'stats', component: () => import('./pages/StatsPage.vue'), meta: { title: '统计' } },
        { path: 'admin', name: 'admin', component: () => import('./pages/AdminPage.vue'), meta: { title: '管理' } },
        { path: ':rest(.*)*', name: 'not-found', component: () => import('./pages/NotFoundPage.vue'), meta: { title: '未找到' } },
      ],
    },
  ],
})

function toLogin(route: RouteLocationNormalized) {
  return { name: 'login', query: route.fullPath === '/' ? {} : { redirect: route.fullPath } }
}

router.beforeEach(async (to) => {
  const session = useSession()
  if (!session.checked.value) await session.refresh()
  if (to.meta.public) return true
  return session.me.value ? true : toLogin(to)
})

router.afterEach((to) => {
  document.title = `${String(to.meta.title ?? '')} · 先锋`
})

// An expired or revoked session: back to 登录, then back here.
function sessionEnded(): void {
  const current = router.currentRoute.value
  if (current.meta.public) return
  useSession().forget()
  useStream().stop()
  void router.push(toLogin(current))
}
setUnauthorizedHandler(sessionEnded)
export { sessionEnded }

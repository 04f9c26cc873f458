import { createRouter, createWebHashHistory, type RouteRecordRaw } from 'vue-router'

// Hash history: the same URLs work from Electron's file:// page and from the browser-mode server,
// which serves files only and has no fallback route.
export const pages = [
  // Where a newcomer lands: the first-run path and the compute backends.
  { path: '/start', name: 'start', title: 'Start', icon: '★', component: () => import('./views/StartView.vue') },
  {
    path: '/datasets',
    name: 'datasets',
    title: 'Datasets',
    icon: '▦',
    component: () => import('./views/DatasetsView.vue')
  },
  { path: '/search', name: 'search', title: 'Search', icon: '⌕', component: () => import('./views/SearchView.vue') },
  { path: '/train', name: 'train', title: 'Train', icon: '▶', component: () => import('./views/TrainView.vue') },
  { path: '/runs', name: 'runs', title: 'Runs', icon: '≡', component: () => import('./views/RunsView.vue') },
  // The paper's claims, reproduced as arms × seeds of ordinary runs (issue 15).
  {
    path: '/studies',
    name: 'studies',
    title: 'Studies',
    icon: '⚖',
    component: () => import('./views/StudiesView.vue')
  },
  {
    path: '/genotype',
    name: 'genotype',
    title: 'Genotype',
    icon: '◇',
    component: () => import('./views/GenotypeView.vue')
  },
  { path: '/export', name: 'export', title: 'Export', icon: '⇪', component: () => import('./views/ExportView.vue') },
  // Workers on other machines through a Redis queue (issue 14).
  { path: '/cluster', name: 'cluster', title: 'Cluster', icon: '⇄', component: () => import('./views/ClusterView.vue') }
] as const

const routes: RouteRecordRaw[] = [
  { path: '/', redirect: '/start' },
  ...pages.map(({ path, name, title, component }) => ({ path, name, component, meta: { title } })),
  // A run's monitor (search or training): reached from Runs, or right after launching.
  { path: '/runs/:runId', name: 'monitor', component: () => import('./views/MonitorView.vue'), meta: { title: 'Run' } }
]

export const router = createRouter({ history: createWebHashHistory(), routes })

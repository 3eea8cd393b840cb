/**
 * Screens. Hash history: the same bundle works from the web server and from a file in Electron.
 */
import { createRouter, createWebHashHistory } from 'vue-router'
import ProjectsView from './views/ProjectsView.vue'

export const router = createRouter({
  history: createWebHashHistory(),
  routes: [
    { path: '/', redirect: '/projects' },
    { path: '/projects', name: 'projects', component: ProjectsView, meta: { title: 'Projects' } },
    { path: '/pipeline', name: 'pipeline', component: () => import('./views/PipelineView.vue'), meta: { title: 'Pipeline', needsProject: true } },
    { path: '/review', name: 'review', component: () => import('./views/ReviewView.vue'), meta: { title: 'Review', needsProject: true } },
    { path: '/audit', name: 'audit', component: () => import('./views/AuditView.vue'), meta: { title: 'Audit', needsProject: true } },
    { path: '/insights', name: 'insights', component: () => import('./views/InsightsView.vue'), meta: { title: 'Insights', needsProject: true } },
    { path: '/validate', name: 'validate', component: () => import('./views/ValidateView.vue'), meta: { title: 'Validate', needsProject: true } },
    { path: '/export', name: 'export', component: () => import('./views/ExportView.vue'), meta: { title: 'Export', needsProject: true } },
    { path: '/:rest(.*)*', redirect: '/projects' },
  ],
})

router.afterEach((to) => {
  const t = typeof to.meta.title === 'string' ? to.meta.title : ''
  document.title = t ? `${t} · Seed QC` : 'Seed QC'
})

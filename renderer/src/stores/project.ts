/** The open project, the recent list and the app info; kept current from project events. */
import { defineStore } from 'pinia'
import { ref, computed, watch } from 'vue'
import { api } from '../api.ts'
import { useJobsStore } from './jobs.ts'
import { setClassNames } from '../colors.ts'
import type { ProjectInfo, RecentProject, OutputOf } from '../../../shared/contract.ts'

export const useProjectStore = defineStore('project', () => {
  const info = ref<OutputOf<'appInfo'> | null>(null)
  const project = ref<ProjectInfo | null>(null)
  const recent = ref<RecentProject[]>([])
  const ready = ref(false)
  const loadError = ref<string | null>(null)
  const classNames = computed(() => {
    const names: string[] = []
    for (const c of project.value?.classes ?? []) names[c.idx] = c.name
    return names
  })
  // Class colours follow the open project's classes on every screen (colors.ts).
  watch(classNames, (names) => setClassNames(names), { immediate: true })

  /** Loads app info, the open project and the recent list; wires project events. */
  async function init(): Promise<void> {
    const jobs = useJobsStore()
    jobs.start()
    jobs.on((e) => {
      if (e.type === 'project:opened') project.value = e.project
      else if (e.type === 'project:closed') project.value = null
      else if (e.type === 'job:completed' && ['import', 'extract', 'refine', 'demo'].includes(e.job.kind)) void refresh()
    })
    try {
      const [a, cur, rec] = await Promise.all([api.appInfo({}), api.currentProject({}), api.listRecentProjects({})])
      info.value = a
      project.value = cur.project
      recent.value = rec.projects
    } catch (e) {
      loadError.value =
        (e as { code?: string }).code === 'unauthorized'
          ? 'this page has no valid access token. Open the full address that "qc serve" printed (it ends in ?token=…).'
          : (e as Error).message
    } finally {
      ready.value = true
    }
  }

  async function refresh(): Promise<void> {
    const cur = await api.currentProject({})
    project.value = cur.project
  }
  async function refreshRecent(): Promise<void> {
    recent.value = (await api.listRecentProjects({})).projects
  }
  async function open(path: string): Promise<ProjectInfo> {
    project.value = await api.openProject({ path })
    void refreshRecent()
    return project.value
  }
  async function create(input: { path?: string; name?: string }): Promise<ProjectInfo> {
    project.value = await api.createProject(input)
    void refreshRecent()
    return project.value
  }
  async function close(): Promise<void> {
    await api.closeProject({})
    project.value = null
    void refreshRecent()
  }

  /** Display name of a class index ("#3" when unknown). */
  function className(idx: number | null | undefined): string {
    if (idx === null || idx === undefined) return '—'
    return classNames.value[idx] ?? `#${idx}`
  }

  return { info, project, recent, ready, loadError, classNames, init, refresh, refreshRecent, open, create, close, className }
})

/**
 * Light / dark theme. The choice ('auto', 'light' or 'dark') is kept in localStorage; what
 * applies is set as data-theme="light" | "dark" on <html>, the one switch base.css reads (so its
 * dark palette is written once). 'auto' follows prefers-color-scheme, also when the OS setting
 * changes while the app is open.
 */
import { ref, watch } from 'vue'

export type Theme = 'auto' | 'light' | 'dark'
const KEY = 'qc.theme'

function load(): Theme {
  try {
    const v = localStorage.getItem(KEY)
    return v === 'light' || v === 'dark' ? v : 'auto'
  } catch {
    return 'auto'
  }
}

const theme = ref<Theme>(load())

const osDark = typeof matchMedia === 'function' ? matchMedia('(prefers-color-scheme: dark)') : null

function apply(t: Theme): void {
  const resolved = t === 'auto' ? (osDark?.matches ? 'dark' : 'light') : t
  document.documentElement.setAttribute('data-theme', resolved)
}
apply(theme.value)
osDark?.addEventListener('change', () => apply(theme.value))
watch(theme, (t) => {
  apply(t)
  try {
    localStorage.setItem(KEY, t)
  } catch {
    // not persisted; the choice still holds for this page
  }
})

/** The shared theme state and a toggle that cycles auto -> light -> dark. */
export function useTheme(): { theme: typeof theme; cycle: () => void } {
  return {
    theme,
    cycle: () => {
      theme.value = theme.value === 'auto' ? 'light' : theme.value === 'light' ? 'dark' : 'auto'
    },
  }
}

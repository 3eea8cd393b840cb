/**
 * Light / dark theme. 'auto' follows prefers-color-scheme (the CSS does that on its own); an
 * explicit choice sets data-theme on <html> and is kept in localStorage.
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

function apply(t: Theme): void {
  const root = document.documentElement
  if (t === 'auto') root.removeAttribute('data-theme')
  else root.setAttribute('data-theme', t)
}
apply(theme.value)
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

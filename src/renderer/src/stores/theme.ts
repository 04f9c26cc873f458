import { defineStore } from 'pinia'
import { ref, watch } from 'vue'

export type Theme = 'light' | 'dark'
const STORAGE_KEY = 'bnas.theme'

function initialTheme(): Theme {
  const saved = window.localStorage.getItem(STORAGE_KEY)
  if (saved === 'light' || saved === 'dark') return saved
  return window.matchMedia?.('(prefers-color-scheme: dark)').matches ? 'dark' : 'light'
}

/** Light or dark, following the system until the user picks one, then remembered. */
export const useThemeStore = defineStore('theme', () => {
  const theme = ref<Theme>(initialTheme())
  const apply = (value: Theme): void => document.documentElement.setAttribute('data-theme', value)
  apply(theme.value)
  watch(theme, (value) => {
    apply(value)
    window.localStorage.setItem(STORAGE_KEY, value)
  })
  const toggle = (): void => {
    theme.value = theme.value === 'dark' ? 'light' : 'dark'
  }
  return { theme, toggle }
})

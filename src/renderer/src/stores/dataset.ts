import { defineStore } from 'pinia'
import { ref, watch } from 'vue'
import type { DatasetSummary } from '../../../shared/datasets'
import { api } from '../api'

const STORAGE_KEY = 'bnas.dataset'
export const DEFAULT_DATASET = 'synthetic:2000?size=32&channels=3&classes=10'

/** The dataset the user picked: searches and trainings start from it. Remembered across reloads. */
export const useDatasetStore = defineStore('dataset', () => {
  const spec = ref(window.localStorage.getItem(STORAGE_KEY) ?? DEFAULT_DATASET)
  const summary = ref<DatasetSummary | null>(null)
  const error = ref<string | null>(null)
  const loading = ref(false)
  watch(spec, (value) => window.localStorage.setItem(STORAGE_KEY, value))

  async function inspect(text: string, samples = 40): Promise<void> {
    loading.value = true
    error.value = null
    const result = await api.call['datasets.inspect']({ spec: text, samples })
    loading.value = false
    if (result.ok) {
      summary.value = result.value
      spec.value = result.value.spec
    } else {
      summary.value = null
      error.value = result.error.message
    }
  }

  return { spec, summary, error, loading, inspect }
})

import { defineStore } from 'pinia'
import { ref, watch } from 'vue'
import type { DatasetSummary } from '../../../shared/datasets'
import type { DatasetDownload, DatasetsFound, DownloadableKind } from '../../../shared/datasets-found'
import { api } from '../api'

const STORAGE_KEY = 'bnas.dataset'
/** Only where the machine has no real dataset (and until `datasets.found` has answered). */
export const DEFAULT_DATASET = 'synthetic:2000?size=32&channels=3&classes=10'
/** Sample images per class on the Datasets page (at most 100 in all: CIFAR-100 gets one per class). */
export const SAMPLES_PER_CLASS = 6

/**
 * The dataset the user picked: searches and trainings start from it. Remembered across reloads; a user who never
 * picked one gets the real dataset this machine has (`datasets.found`'s recommendation), not synthetic data. Also
 * which datasets were found and the CIFAR downloads under way (their progress events).
 */
export const useDatasetStore = defineStore('dataset', () => {
  const chosen = window.localStorage.getItem(STORAGE_KEY)
  const spec = ref(chosen ?? DEFAULT_DATASET)
  const summary = ref<DatasetSummary | null>(null)
  const error = ref<string | null>(null)
  const loading = ref(false)
  const found = ref<DatasetsFound | null>(null)
  const foundError = ref<string | null>(null)
  const downloads = ref<Partial<Record<DownloadableKind, DatasetDownload>>>({})
  /** Whether the user (or this store, once) picked the spec: until then the recommendation replaces the default. */
  let picked = chosen !== null
  watch(spec, (value) => {
    if (picked) window.localStorage.setItem(STORAGE_KEY, value)
  })

  async function loadFound(): Promise<void> {
    const result = await api.call['datasets.found']({})
    if (!result.ok) {
      foundError.value = result.error.message
      return
    }
    found.value = result.value
    foundError.value = null
    for (const download of result.value.downloads) downloads.value[download.kind] = download
    if (!picked) spec.value = result.value.recommended
  }

  async function inspect(text: string, samples = 100): Promise<void> {
    loading.value = true
    error.value = null
    const result = await api.call['datasets.inspect']({ spec: text, samples, perClass: SAMPLES_PER_CLASS })
    loading.value = false
    if (result.ok) {
      summary.value = result.value
      picked = true
      spec.value = result.value.spec
      window.localStorage.setItem(STORAGE_KEY, result.value.spec)
    } else {
      summary.value = null
      error.value = result.error.message
    }
  }

  async function download(kind: DownloadableKind): Promise<void> {
    const result = await api.call['datasets.download']({ kind })
    if (result.ok) downloads.value[kind] = result.value
    else
      downloads.value[kind] = {
        kind,
        state: 'failed',
        received: 0,
        total: null,
        resumedFrom: 0,
        folder: '',
        message: result.error.message
      }
  }

  api.onEvent((event) => {
    if (event.type !== 'dataset.download') return
    downloads.value[event.payload.kind] = event.payload
    // A finished download is a dataset found: the list says so without a reload.
    if (event.payload.state === 'done') void loadFound()
  })

  // At once (App.vue creates this store with the app): the Search and Train pages start from the recommendation too.
  const foundReady = loadFound()

  return { spec, summary, error, loading, found, foundError, foundReady, downloads, loadFound, inspect, download }
})

import * as tf from '@tensorflow/tfjs-core'
// Gradients are part of "a working backend" for the engine, whichever module the caller imports first.
import '../ops/register-gradients'
import { adviceFor } from './advice'
import { BACKEND_CANDIDATES, isRegistered, type BackendCandidate } from './candidates'

/** 'auto' tries every backend fastest first; a name forces that one (and fails with its reason if unavailable). */
export type BackendPreference = 'auto' | 'tensorflow-gpu' | 'webgpu' | 'tensorflow' | 'native' | 'wasm' | 'cpu'

export const BACKEND_PREFERENCES: readonly BackendPreference[] = [
  'auto',
  ...BACKEND_CANDIDATES.map((c) => c.name)
] as readonly BackendPreference[]

/** The --backend option's help, from the one list of backends. */
export const BACKEND_OPTION_HELP = `compute backend: ${BACKEND_PREFERENCES.join(', ')}`

export interface BackendAttempt {
  backend: string
  available: boolean
  reason?: string
}

export interface BackendReport {
  /** The backend now running (a candidate name such as 'wasm'). */
  name: string
  /** Same as `name`; the engine status contract calls it `backend`. */
  backend: string
  /** One line for the status bar: what it is and, for auto, why it was chosen. */
  detail: string
  /** Every backend tried, in order, with the reason each faster one was not used. */
  tried: BackendAttempt[]
  /** A note every figure measured on this backend must carry (e.g. a software GPU adapter: correctness, not speed). */
  caveat?: string
}

async function tryCandidate(
  candidate: BackendCandidate,
  auto: boolean
): Promise<{ attempt: BackendAttempt; detail?: string }> {
  try {
    await candidate.load()
    if (!isRegistered(candidate.tfName)) throw new Error(`loaded, but no '${candidate.tfName}' backend was registered`)
    // Checked before tf.setBackend, so a declined backend is never initialised (no GPU device is created).
    const declined = auto ? candidate.declineAuto?.() : undefined
    if (declined !== undefined) return { attempt: { backend: candidate.name, available: false, reason: declined } }
    const ok = await tf.setBackend(candidate.tfName)
    if (!ok) throw new Error(`tf.setBackend('${candidate.tfName}') failed to initialise`)
    await tf.ready()
    const detail = candidate.afterInit ? await candidate.afterInit() : undefined
    return { attempt: { backend: candidate.name, available: true }, detail }
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error)
    return { attempt: { backend: candidate.name, available: false, reason } }
  }
}

/**
 * Picks and initialises the TF.js backend. With 'auto' the candidates are tried fastest first and the first that works
 * is used; the report lists each one tried and why it was passed over. A named preference tries only that one and
 * throws if it cannot run.
 */
export async function initBackend(preference: BackendPreference = 'auto'): Promise<BackendReport> {
  // Production mode: no debug checks, and no console banner from the cpu backend advertising tfjs-node; the report
  // below already says which backend runs and why the faster ones do not.
  tf.env().set('PROD', true)
  const candidates =
    preference === 'auto' ? BACKEND_CANDIDATES : BACKEND_CANDIDATES.filter((c) => c.name === preference)
  if (candidates.length === 0) {
    throw new Error(`unknown backend '${preference}' (one of: ${BACKEND_PREFERENCES.join(', ')})`)
  }
  const tried: BackendAttempt[] = []
  for (const candidate of candidates) {
    const { attempt, detail } = await tryCandidate(candidate, preference === 'auto')
    tried.push(attempt)
    if (attempt.available) {
      const passedOver = tried.filter((t) => !t.available).map((t) => `${t.backend}: ${t.reason}`)
      const why = passedOver.length > 0 ? ` (not used: ${passedOver.join('; ')})` : ''
      const what = detail ? `${candidate.description}, ${detail}` : candidate.description
      const caveat = candidate.caveat?.()
      return {
        name: candidate.name,
        backend: candidate.name,
        detail: `${what}${why}`,
        tried,
        ...(caveat === undefined ? {} : { caveat })
      }
    }
  }
  const reasons = tried.map((t) => `${t.backend}: ${t.reason}`).join('; ')
  throw new Error(`no TF.js backend could start (${reasons})`)
}

export interface BackendDescription {
  name: string
  description: string
  available: boolean
  reason?: string
  /** What was found here (for webgpu: the adapter, its kind and whether the kind is inferred from the vendor). */
  found?: string
  /** Why 'auto' passes it over although it is available (it runs only when named). */
  notAuto?: string
  /** What to do to use it, where it is not used here (see advice.ts). */
  advice?: string
}

/**
 * Every backend with whether it can run here and why not (for `bnas backends`). Loading is attempted (that is the
 * only reliable test), but no backend is switched to.
 */
export async function describeBackends(): Promise<BackendDescription[]> {
  const out: BackendDescription[] = []
  for (const candidate of BACKEND_CANDIDATES) {
    let available = false
    let reason: string | undefined
    let found: string | undefined
    let notAuto: string | undefined
    try {
      await candidate.load()
      available = isRegistered(candidate.tfName)
      if (!available) reason = `no '${candidate.tfName}' backend was registered`
      found = candidate.describeHere?.()
      notAuto = available ? candidate.declineAuto?.() : undefined
    } catch (error) {
      reason = error instanceof Error ? error.message : String(error)
    }
    const description = {
      name: candidate.name,
      description: candidate.description,
      available,
      ...(reason ? { reason } : {}),
      ...(found ? { found } : {}),
      ...(notAuto ? { notAuto } : {})
    }
    const advice = adviceFor(description)
    out.push({ ...description, ...(advice ? { advice } : {}) })
  }
  return out
}

export { BACKEND_CANDIDATES } from './candidates'
export type { BackendCandidate } from './candidates'

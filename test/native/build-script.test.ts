import { spawnSync } from 'node:child_process'
import * as path from 'node:path'
import { describe, expect, it } from 'vitest'

// scripts/build-native.js's settings are checked before anything is built: a bad one names itself and what to use.
const script = path.resolve(__dirname, '../../scripts/build-native.js')

function run(args: string[], env: Record<string, string>) {
  return spawnSync(process.execPath, [script, ...args], {
    encoding: 'utf8',
    env: { ...process.env, BNAS_SKIP_NATIVE: '', ...env }
  })
}

describe('scripts/build-native.js settings', () => {
  it('refuses a BNAS_NATIVE_DNNL other than 0 or 1, naming both (exit 1 with --strict, 0 without)', () => {
    const strict = run(['--strict'], { BNAS_NATIVE_DNNL: 'yes' })
    expect(strict.status).toBe(1)
    expect(strict.stderr).toContain("BNAS_NATIVE_DNNL must be 0 (own conv kernels) or 1 (oneDNN), got 'yes'")
    expect(run([], { BNAS_NATIVE_DNNL: 'yes' }).status).toBe(0)
  })

  it('says which folder --build-dir needs when none is given', () => {
    const result = run(['--build-dir'], {})
    expect(result.status).toBe(1)
    expect(result.stderr).toContain('--build-dir needs a folder')
  })
})

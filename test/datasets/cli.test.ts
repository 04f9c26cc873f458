import { Command } from 'commander'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { registerDatasets } from '../../src/main/cli/commands/datasets'
import { datasetSummarySchema } from '../../src/shared/datasets'

async function run(...args: string[]): Promise<string> {
  const program = new Command('bnas').exitOverride()
  registerDatasets(program)
  let out = ''
  vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    out += String(chunk)
    return true
  })
  await program.parseAsync(['node', 'bnas', ...args])
  return out
}

afterEach(() => vi.restoreAllMocks())

describe('bnas datasets', () => {
  it('inspect prints a table with counts per class and split', async () => {
    const out = await run('datasets', 'inspect', 'synthetic:100?classes=4')
    expect(out).toContain('input    32×32×3')
    expect(out).toMatch(/^stripes-45 +25 +5$/m)
    expect(out).toMatch(/^total +100 +20$/m)
  })

  it('inspect --json prints the summary the UI validates', async () => {
    const summary = datasetSummarySchema.parse(
      JSON.parse(await run('datasets', 'inspect', 'synthetic:50?size=8', '--json'))
    )
    expect(summary.inputShape).toEqual([8, 8, 3])
    expect(summary.samples).toHaveLength(10)
    const bare = JSON.parse(await run('datasets', 'inspect', 'synthetic:50', '--json', '--no-samples'))
    expect(bare.samples).toEqual([])
  })

  it('errors carry the dataset message', async () => {
    await expect(run('datasets', 'inspect', 'cifar10')).rejects.toThrow(
      "invalid dataset spec 'cifar10': cifar10 needs a folder: cifar10:PATH"
    )
    await expect(run('datasets', 'inspect', 'mnist:/no/such/folder')).rejects.toThrow('/no/such/folder: does not exist')
    await expect(run('datasets', 'download', 'svhn', '/tmp/x')).rejects.toThrow(
      "datasets download takes cifar10 or cifar100, got 'svhn'"
    )
  })
})

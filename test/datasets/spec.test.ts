import { describe, expect, it } from 'vitest'
import {
  DATASET_KIND_INFO,
  DATASET_KINDS,
  DatasetSpecError,
  datasetSpecStringSchema,
  formatDatasetSpec,
  parseDatasetSpec
} from '../../src/shared/datasets'

describe('parseDatasetSpec', () => {
  it('reads every kind with its defaults', () => {
    expect(parseDatasetSpec('cifar10:/data/cifar')).toEqual({ kind: 'cifar10', path: '/data/cifar' })
    expect(parseDatasetSpec('cifar100:/d?labels=coarse')).toEqual({ kind: 'cifar100', path: '/d', labels: 'coarse' })
    expect(parseDatasetSpec('cifar100:/d')).toEqual({ kind: 'cifar100', path: '/d', labels: 'fine' })
    expect(parseDatasetSpec('fashion-mnist')).toEqual({ kind: 'fashion-mnist' })
    expect(parseDatasetSpec('fashion-mnist:./fm')).toEqual({ kind: 'fashion-mnist', path: './fm' })
    expect(parseDatasetSpec('mnist:/m')).toEqual({ kind: 'mnist', path: '/m' })
    expect(parseDatasetSpec('folder:/imgs')).toEqual({
      kind: 'folder',
      path: '/imgs',
      size: 32,
      fit: 'stretch',
      channels: 3,
      testFraction: 0.2,
      seed: 0
    })
    expect(parseDatasetSpec('folder:/imgs?size=64&channels=1&test=0.1&seed=5')).toEqual({
      kind: 'folder',
      path: '/imgs',
      size: 64,
      fit: 'stretch',
      channels: 1,
      testFraction: 0.1,
      seed: 5
    })
    expect(parseDatasetSpec('folder:/imgs?size=48&fit=crop')).toMatchObject({ size: 48, fit: 'crop' })
    expect(formatDatasetSpec(parseDatasetSpec('folder:/imgs?fit=crop'))).toBe('folder:/imgs?fit=crop')
    expect(formatDatasetSpec(parseDatasetSpec('folder:/imgs?fit=stretch'))).toBe('folder:/imgs')
    expect(() => parseDatasetSpec('folder:/imgs?fit=zoom')).toThrow(/option fit must be stretch or crop, got 'zoom'/)
    expect(parseDatasetSpec('synthetic')).toEqual({
      kind: 'synthetic',
      count: 2000,
      seed: 0,
      size: 32,
      channels: 3,
      classes: 10
    })
    expect(parseDatasetSpec('synthetic:500?seed=3')).toMatchObject({ count: 500, seed: 3 })
    expect(parseDatasetSpec('synthetic?seed=3&classes=4')).toMatchObject({ count: 2000, seed: 3, classes: 4 })
  })

  it('keeps colons and question marks that belong to the path', () => {
    expect(parseDatasetSpec('cifar10:C:\\data\\cifar')).toEqual({ kind: 'cifar10', path: 'C:\\data\\cifar' })
    expect(parseDatasetSpec('folder:/odd?name/x')).toMatchObject({ path: '/odd?name/x', size: 32 })
  })

  it('round-trips through formatDatasetSpec', () => {
    for (const text of [
      'cifar10:/a',
      'cifar100:/b?labels=coarse',
      'fashion-mnist',
      'mnist:/m',
      'folder:/f?size=48&test=0',
      'synthetic:300?seed=9&channels=1'
    ]) {
      const spec = parseDatasetSpec(text)
      expect(parseDatasetSpec(formatDatasetSpec(spec))).toEqual(spec)
    }
    expect(formatDatasetSpec(parseDatasetSpec('synthetic'))).toBe('synthetic:2000')
  })

  it.each([
    [
      '',
      "invalid dataset spec '': empty; expected one of cifar10:PATH, cifar100:PATH, fashion-mnist[:PATH], mnist:PATH, folder:PATH, synthetic[:N]"
    ],
    [
      'imagenet:/x',
      "invalid dataset spec 'imagenet:/x': unknown dataset kind 'imagenet'; expected one of cifar10:PATH, cifar100:PATH, fashion-mnist[:PATH], mnist:PATH, folder:PATH, synthetic[:N]"
    ],
    ['cifar10', "invalid dataset spec 'cifar10': cifar10 needs a folder: cifar10:PATH"],
    ['mnist:', "invalid dataset spec 'mnist:': mnist needs a folder: mnist:PATH"],
    ['folder:/f?size=big', "invalid dataset spec 'folder:/f?size=big': option size must be an integer, got 'big'"],
    ['folder:/f?size=2', "invalid dataset spec 'folder:/f?size=2': option size must be between 4 and 1024, got 2"],
    ['folder:/f?channels=4', "invalid dataset spec 'folder:/f?channels=4': option channels must be 1 or 3, got '4'"],
    ['folder:/f?test=1', "invalid dataset spec 'folder:/f?test=1': option test must be a fraction in [0, 1), got '1'"],
    [
      'folder:/f?sise=32',
      "invalid dataset spec 'folder:/f?sise=32': unknown option 'sise' for folder (accepted: size, fit, channels, test, seed)"
    ],
    [
      'cifar10:/c?size=32',
      "invalid dataset spec 'cifar10:/c?size=32': unknown option 'size' for cifar10 (cifar10 takes no options)"
    ],
    [
      'cifar100:/c?labels=all',
      "invalid dataset spec 'cifar100:/c?labels=all': option labels must be fine or coarse, got 'all'"
    ],
    ['synthetic:abc', "invalid dataset spec 'synthetic:abc': option N must be an integer, got 'abc'"],
    ['synthetic?seed', "invalid dataset spec 'synthetic?seed': cannot read options 'seed': expected key=value&..."]
  ])('rejects %j with an exact message', (text, message) => {
    expect(() => parseDatasetSpec(text)).toThrow(DatasetSpecError)
    expect(() => parseDatasetSpec(text)).toThrow(message)
  })

  it('validates spec strings at a boundary with the same messages', () => {
    expect(datasetSpecStringSchema.safeParse('synthetic:100').success).toBe(true)
    const bad = datasetSpecStringSchema.safeParse('cifar10')
    expect(bad.success).toBe(false)
    expect(bad.error?.issues[0].message).toBe("invalid dataset spec 'cifar10': cifar10 needs a folder: cifar10:PATH")
  })
})

describe('DATASET_KIND_INFO', () => {
  it('has an example that parses for every kind', () => {
    for (const kind of DATASET_KINDS) expect(parseDatasetSpec(DATASET_KIND_INFO[kind].example).kind).toBe(kind)
  })
})

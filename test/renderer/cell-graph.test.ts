import { describe, expect, it } from 'vitest'
import { LATEST_CELL, LATEST_CELL_ZEROISE, edgeIndex } from '../../src/shared/genotype'
import { edgeName, layoutCell, weightOpacity } from '../../src/renderer/src/lib/cell-graph'

describe('a cell as a drawable graph', () => {
  it('draws BNAS-A’s normal cell with its Zeroise edges cut and nodes 2 and 3 dead (spec section 7)', () => {
    const graph = layoutCell(LATEST_CELL_ZEROISE, 'normal')
    const ops = graph.edges.filter((edge) => edge.kind === 'op' || edge.kind === 'zeroise')
    expect(ops).toHaveLength(8)
    // 6 of 8 as listed in spec section 7 (n0 1, n1 1, n2 2, n3 2); section 2's prose says 5.
    expect(ops.filter((edge) => edge.kind === 'zeroise')).toHaveLength(6)
    expect(graph.edges.filter((edge) => edge.kind === 'concat')).toHaveLength(4)
    expect(graph.edges.filter((edge) => edge.kind === 'skip')).toHaveLength(1)
    const dead = graph.nodes.filter((node) => node.dead).map((node) => node.label)
    expect(dead).toEqual(['2', '3'])
    // Every node sits inside the drawn extent, inputs left of the output.
    for (const node of graph.nodes) {
      expect(node.x - node.width / 2).toBeGreaterThanOrEqual(graph.minX)
      expect(node.x + node.width / 2).toBeLessThanOrEqual(graph.minX + graph.width)
      expect(node.y - node.height / 2).toBeGreaterThanOrEqual(graph.minY)
      expect(node.y + node.height / 2).toBeLessThanOrEqual(graph.minY + graph.height)
    }
    const x = (id: string) => graph.nodes.find((node) => node.id === id)!.x
    expect(x('s0')).toBeLessThan(x('out'))
    expect(x('s1')).toBeLessThan(x('s2'))
  })

  it('maps each drawn edge to its α row, and labels it with the op weight in α mode', () => {
    const alpha = Array.from({ length: 14 }, (_, row) => Array.from({ length: 7 }, (_, op) => (row * 7 + op) / 1000))
    const graph = layoutCell(LATEST_CELL, 'normal', { alpha })
    const first = graph.edges.find((edge) => edge.id === 'e0')!
    // node 0's first edge is (bin_conv_3x3, 1): α row 1, op column 5
    expect(first.alphaRow).toBe(edgeIndex(0, 1))
    expect(first.weight).toBeCloseTo((1 * 7 + 5) / 1000)
    expect(first.label).toBe('binary conv 3×3 0.01')
    expect(graph.nodes.some((node) => node.dead)).toBe(false)
    expect(edgeName(edgeIndex(2, 3))).toBe('1 → 2')
    expect(edgeName(0)).toBe('c_{k-2} → 0')
  })

  it('scales opacity to the spread of weights (near-uniform early α stays visible)', () => {
    expect(weightOpacity(0.15, [0.14, 0.15])).toBe(1)
    expect(weightOpacity(0.14, [0.14, 0.15])).toBe(0.25)
    expect(weightOpacity(0.2, [0.2, 0.2])).toBe(1)
    expect(weightOpacity(null, [0.1])).toBe(1)
  })
})

import dagre from '@dagrejs/dagre'
import { OP_LABELS, OP_NAMES, edgeEndpoints, edgeIndex, isOpName, type GenotypeOf } from '../../../shared/genotype'

/**
 * A cell of a genotype as a drawable graph, laid out left to right by dagre (the DARTS drawing convention): the two
 * inputs, the intermediate nodes, the output, one labelled edge per (op, input) pair, and the concat edges into the
 * output. Zeroise edges are kept and marked: in BNAS the op wins edges and cuts them (spec section 2), which is the
 * point of drawing them. Pure data, no DOM: the component only maps it to SVG.
 */

export type CellKind = 'normal' | 'reduce'
export type NodeRole = 'input' | 'intermediate' | 'output'

export interface CellNode {
  id: string
  label: string
  role: NodeRole
  /** Intermediate nodes whose every incoming edge is Zeroise output zeros: drawn as dead. */
  dead: boolean
  x: number
  y: number
  width: number
  height: number
}

export interface CellEdge {
  id: string
  from: string
  to: string
  /** The op's key ('bin_conv_3x3'), or '' for concat and skip edges. */
  op: string
  label: string
  kind: 'op' | 'zeroise' | 'concat' | 'skip'
  /** Row of the α matrix this edge is (op and zeroise edges of the BNAS space), for its α history. */
  alphaRow: number | null
  /** Weight of the op on this edge (softmax α), when known. */
  weight: number | null
  /** SVG path through dagre's points. */
  path: string
  labelX: number
  labelY: number
}

export interface CellGraph {
  nodes: CellNode[]
  edges: CellEdge[]
  /** Extent of everything drawn (edge curves included, which dagre's own size leaves out), for the SVG viewBox. */
  minX: number
  minY: number
  width: number
  height: number
}

export interface CellGraphOptions {
  /** softmax(α) of the cell, edges × ops, for labels with weights and opacity by weight. */
  alpha?: number[][] | null
  /** Draw the inter-cell skip into the output (every cell but the first). Default true. */
  skip?: boolean
  /** Smaller boxes and no edge labels, for thumbnails. */
  compact?: boolean
}

export const stateLabel = (state: number): string =>
  state === 0 ? 'c_{k-2}' : state === 1 ? 'c_{k-1}' : String(state - 2)

/** "c_{k-1} → 2": the edge of α row `row`, from its input state into its node. */
export function edgeName(row: number): string {
  const { node, input } = edgeEndpoints(row)
  return `${stateLabel(input)} → ${node}`
}

const opLabel = (op: string): string => (isOpName(op) ? OP_LABELS[op] : op.replace(/_/g, ' '))

export function layoutCell(genotype: GenotypeOf<string>, kind: CellKind, options: CellGraphOptions = {}): CellGraph {
  const compact = options.compact ?? false
  const gene = kind === 'normal' ? genotype.normal : genotype.reduce
  const concat = kind === 'normal' ? genotype.normalConcat : genotype.reduceConcat
  const steps = Math.ceil(gene.length / 2)
  const graph = new dagre.graphlib.Graph({ multigraph: true })
  graph.setGraph({
    rankdir: 'LR',
    nodesep: compact ? 6 : 16,
    ranksep: compact ? 22 : 36,
    edgesep: compact ? 4 : 10,
    marginx: 0,
    marginy: 0
  })
  graph.setDefaultEdgeLabel(() => ({}))

  const nodeSize = compact ? { width: 26, height: 16 } : { width: 64, height: 32 }
  const nodeIds = (state: number): string => `s${state}`
  const roles = new Map<string, { label: string; role: NodeRole }>()
  roles.set(nodeIds(0), { label: 'c_{k-2}', role: 'input' })
  roles.set(nodeIds(1), { label: 'c_{k-1}', role: 'input' })
  for (let node = 0; node < steps; node++) roles.set(nodeIds(node + 2), { label: String(node), role: 'intermediate' })
  roles.set('out', { label: 'c_{k}', role: 'output' })
  for (const [id, { label }] of roles) {
    const width = compact ? nodeSize.width : Math.max(nodeSize.width, label.length * 8 + 16)
    graph.setNode(id, { label, width, height: nodeSize.height })
  }

  interface Pending {
    id: string
    from: string
    to: string
    op: string
    label: string
    kind: CellEdge['kind']
    alphaRow: number | null
    weight: number | null
  }
  const pending: Pending[] = []
  gene.forEach(([op, input], position) => {
    const node = Math.floor(position / 2)
    let alphaRow: number | null = null
    try {
      alphaRow = edgeIndex(node, input)
    } catch {
      alphaRow = null
    }
    const opIndex = options.alpha ? (OP_NAMES as readonly string[]).indexOf(op) : -1
    const weight = alphaRow !== null && opIndex >= 0 ? (options.alpha?.[alphaRow]?.[opIndex] ?? null) : null
    const base = opLabel(op)
    pending.push({
      id: `e${position}`,
      from: nodeIds(input),
      to: nodeIds(node + 2),
      op,
      label: weight === null ? base : `${base} ${weight.toFixed(2)}`,
      kind: op === 'none' ? 'zeroise' : 'op',
      alphaRow,
      weight
    })
  })
  for (const state of concat)
    pending.push({
      id: `c${state}`,
      from: nodeIds(state),
      to: 'out',
      op: '',
      label: '',
      kind: 'concat',
      alphaRow: null,
      weight: null
    })
  if (options.skip ?? true) {
    const label = kind === 'normal' ? '+ identity' : '+ 2×2 conv'
    pending.push({ id: 'skip', from: nodeIds(1), to: 'out', op: '', label, kind: 'skip', alphaRow: null, weight: null })
  }
  for (const edge of pending) {
    const hasLabel = !compact && edge.label !== ''
    graph.setEdge(
      edge.from,
      edge.to,
      hasLabel ? { width: edge.label.length * 5.6 + 6, height: 13, labelpos: 'c' } : { width: 0, height: 0 },
      edge.id
    )
  }
  dagre.layout(graph)

  // A node is dead when everything reaching it is zero: all its incoming op edges are Zeroise, or come from dead nodes.
  const dead = new Set<string>()
  for (let node = 0; node < steps; node++) {
    const incoming = pending.filter(
      (edge) => edge.to === nodeIds(node + 2) && (edge.kind === 'op' || edge.kind === 'zeroise')
    )
    if (incoming.length > 0 && incoming.every((edge) => edge.kind === 'zeroise' || dead.has(edge.from)))
      dead.add(nodeIds(node + 2))
  }

  const nodes: CellNode[] = [...roles].map(([id, { label, role }]) => {
    const laid = graph.node(id)
    return { id, label, role, dead: dead.has(id), x: laid.x, y: laid.y, width: laid.width, height: laid.height }
  })
  const xs: number[] = []
  const ys: number[] = []
  for (const node of nodes) {
    xs.push(node.x - node.width / 2, node.x + node.width / 2)
    ys.push(node.y - node.height / 2, node.y + node.height / 2)
  }
  const edges: CellEdge[] = pending.map((edge) => {
    const laid = graph.edge(edge.from, edge.to, edge.id) as {
      points: Array<{ x: number; y: number }>
      x?: number
      y?: number
      width?: number
    }
    const points = laid.points
    for (const point of points) {
      xs.push(point.x)
      ys.push(point.y)
    }
    const middle = points[Math.floor(points.length / 2)] ?? { x: 0, y: 0 }
    const labelX = laid.x ?? middle.x
    const labelY = laid.y ?? middle.y
    if (!compact && edge.label !== '') {
      const half = (edge.label.length * 5.6) / 2 + 4
      xs.push(labelX - half, labelX + half)
      ys.push(labelY - 8, labelY + 8)
    }
    return { ...edge, path: smoothPath(points), labelX, labelY }
  })
  const pad = compact ? 3 : 8
  const minX = Math.min(...xs) - pad
  const minY = Math.min(...ys) - pad
  return { nodes, edges, minX, minY, width: Math.max(...xs) + pad - minX, height: Math.max(...ys) + pad - minY }
}

/** A curve through dagre's points (quadratic segments between midpoints), as DARTS's graphviz drawings look. */
function smoothPath(points: Array<{ x: number; y: number }>): string {
  if (points.length === 0) return ''
  const [first, ...rest] = points
  if (rest.length === 0) return `M${first!.x},${first!.y}`
  let d = `M${first!.x.toFixed(1)},${first!.y.toFixed(1)}`
  for (let i = 0; i < rest.length - 1; i++) {
    const control = rest[i]!
    const next = rest[i + 1]!
    d += ` Q${control.x.toFixed(1)},${control.y.toFixed(1)} ${((control.x + next.x) / 2).toFixed(1)},${((control.y + next.y) / 2).toFixed(1)}`
  }
  const last = rest[rest.length - 1]!
  d += ` L${last.x.toFixed(1)},${last.y.toFixed(1)}`
  return d
}

/** Opacity for an edge of weight w among the weights of its cell: early α is near-uniform, so it is scaled to the range. */
export function weightOpacity(weight: number | null, weights: readonly number[]): number {
  if (weight === null || weights.length === 0) return 1
  const min = Math.min(...weights)
  const max = Math.max(...weights)
  if (max - min < 1e-9) return 1
  return 0.25 + 0.75 * ((weight - min) / (max - min))
}

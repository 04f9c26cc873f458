import type { FieldGroup } from './config-form'

/** Every hyper-parameter of a BNAS search (BNAS-SPEC sections 4, 5.1, 6), grouped as the method is explained. */
export const SEARCH_FIELDS: FieldGroup[] = [
  {
    title: 'Data',
    fields: [
      {
        key: 'dataset',
        label: 'Dataset',
        type: 'text',
        help: 'The spec picked on the Datasets page, e.g. cifar10:~/data/cifar-10-batches-bin.'
      },
      {
        key: 'subset',
        label: 'Train images used',
        type: 'int',
        optional: true,
        help: 'Use only this many train images (a seeded choice) for a quick search; empty = all.'
      },
      {
        key: 'validationSubset',
        label: 'Validation images',
        type: 'int',
        optional: true,
        help: 'Images of the α half scored at every epoch end; empty = all of it.'
      },
      {
        key: 'trainPortion',
        label: 'Weight share of the split',
        type: 'number',
        step: 0.05,
        help: 'The first part updates the weights w, the rest updates α (paper: 0.5).'
      },
      {
        key: 'augment',
        label: 'Augment (crop + flip)',
        type: 'bool',
        help: 'Random crop with 4-pixel padding and horizontal flip, as the authors’ search.'
      }
    ]
  },
  {
    title: 'Supernet',
    fields: [
      { key: 'cells', label: 'Cells L', type: 'int', help: 'Reduction cells sit at ⌊L/3⌋ and ⌊2L/3⌋ (paper: 8).' },
      {
        key: 'channels',
        label: 'Initial channels C',
        type: 'int',
        help: 'Channels per node of the first cells; the stem outputs 3C (paper: 16).'
      }
    ]
  },
  {
    title: 'Weights w (SGD, cosine schedule)',
    fields: [
      { key: 'epochs', label: 'Epochs', type: 'int', help: 'Passes over the weight half (paper: 50).' },
      {
        key: 'batchSize',
        label: 'Batch size',
        type: 'int',
        help: 'Images per step, for both the w and the α batch (paper: 64).'
      },
      {
        key: 'weightLr',
        label: 'Learning rate',
        type: 'number',
        step: 0.001,
        help: 'Start of the cosine annealing (paper: 0.025).'
      },
      {
        key: 'weightLrMin',
        label: 'Minimum learning rate',
        type: 'number',
        step: 0.0001,
        help: 'End of the cosine annealing (paper: 0.001).'
      },
      { key: 'momentum', label: 'Momentum', type: 'number', step: 0.05, help: 'SGD momentum (paper: 0.9).' },
      {
        key: 'weightDecay',
        label: 'Weight decay',
        type: 'number',
        step: 0.0001,
        help: 'L2 on the weights (paper: 3e-4).'
      },
      {
        key: 'weightGradient',
        label: 'Binary weight gradient',
        type: 'enum',
        options: ['xnor', 'ste'],
        help: 'xnor: the authors’ XNOR-Net gradient transform; ste: plain straight-through.'
      }
    ]
  },
  {
    title: 'Architecture α (Adam)',
    fields: [
      { key: 'archLr', label: 'Learning rate', type: 'number', step: 0.0001, help: 'α step size (paper: 3e-4).' },
      { key: 'archBeta1', label: 'β1', type: 'number', step: 0.05, help: 'Adam’s first-moment decay (paper: 0.5).' },
      {
        key: 'archBeta2',
        label: 'β2',
        type: 'number',
        step: 0.001,
        help: 'Adam’s second-moment decay (paper: 0.999).'
      },
      { key: 'archWeightDecay', label: 'Weight decay', type: 'number', step: 0.0001, help: 'L2 on α (paper: 1e-3).' }
    ]
  },
  {
    title: 'Diversity regularizer',
    note: 'L_arch = CE − λ·exp(−t/τ)·H̄: early epochs reward diverse op weights, so parameter-free ops do not win before the binary convs have trained.',
    fields: [
      {
        key: 'lambda',
        label: 'λ',
        type: 'number',
        step: 0.1,
        help: 'Strength of the entropy term; 0 turns it off (paper: 1).'
      },
      {
        key: 'tau',
        label: 'τ (epochs)',
        type: 'number',
        step: 0.1,
        help: 'Decay of the term: ≈0.37·λ at epoch τ (paper: 7.7).'
      }
    ]
  },
  {
    title: 'Genotype',
    fields: [
      {
        key: 'gamma',
        label: 'γ (transfer)',
        type: 'number',
        step: 0.5,
        help: 'The ImageNet genotype divides Zeroise’s weight by γ before the parse (paper: 3).'
      }
    ]
  },
  {
    title: 'Run',
    fields: [
      { key: 'seed', label: 'Seed', type: 'int', help: 'Seeds the split, the batches, the weights and α (paper: 2).' },
      {
        key: 'checkpointEvery',
        label: 'Checkpoint every',
        type: 'int',
        help: 'Steps between checkpoints (and one at every epoch end); a crash loses at most this many.'
      },
      {
        key: 'progressEvery',
        label: 'Progress every',
        type: 'int',
        help: 'Steps between progress records: the curves’ resolution.'
      }
    ]
  }
]

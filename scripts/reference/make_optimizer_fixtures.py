#!/usr/bin/env python3
"""Reference values for the engine's optimizers, loss and schedules, from PyTorch (Debian's python3-torch 1.13).

Run: /usr/bin/python3 scripts/reference/make_optimizer_fixtures.py
Writes test/fixtures/reference/optimizers.json. Tests compare the TypeScript implementations against it.
(Schedules are checked against the numbers of the authors' training log instead: see test/engine/train-schedules.test.ts.)
"""
import json
import os

import torch

torch.set_num_threads(2)
torch.manual_seed(0)

OUT = os.path.join(os.path.dirname(__file__), '..', '..', 'test', 'fixtures', 'reference', 'optimizers.json')


def run(optimizer_factory, steps=4):
    p = torch.nn.Parameter(torch.randn(3, 4))
    start = p.detach().clone()
    grads = [torch.randn(3, 4) for _ in range(steps)]
    lrs = [0.05, 0.04, 0.03, 0.02][:steps]
    opt = optimizer_factory([p])
    for g, lr in zip(grads, lrs):
        for group in opt.param_groups:
            group['lr'] = lr
        p.grad = g.clone()
        opt.step()
    return {
        'start': start.flatten().tolist(),
        'grads': [g.flatten().tolist() for g in grads],
        'lrs': lrs,
        'final': p.detach().flatten().tolist(),
    }


sgd = run(lambda ps: torch.optim.SGD(ps, lr=0.05, momentum=0.9, weight_decay=3e-4))
adam = run(lambda ps: torch.optim.Adam(ps, lr=0.05, betas=(0.5, 0.999), weight_decay=1e-3))

logits = torch.randn(5, 4)
labels = torch.tensor([0, 3, 1, 1, 2])
ce = torch.nn.functional.cross_entropy(logits, labels).item()
log_probs = torch.log_softmax(logits, 1)
smooth = 0.1
target = torch.zeros_like(log_probs).scatter_(1, labels.unsqueeze(1), 1) * (1 - smooth) + smooth / 4
ce_smooth = (-target * log_probs).sum(1).mean().item()

json.dump(
    {
        'sgd': sgd,
        'adam': adam,
        'crossEntropy': {'logits': logits.flatten().tolist(), 'labels': labels.tolist(), 'loss': ce, 'smoothed': ce_smooth},
    },
    open(OUT, 'w'),
)
print('wrote', os.path.normpath(OUT))

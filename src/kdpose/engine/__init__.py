"""Training engine: one plain trainer for every model family and distillation method (docs/training.md).

Modules: ``config`` (typed recipes + strict YAML loader), ``build`` (recipe -> model, task, datasets, evaluator;
``train``), ``trainer`` (the loop), ``optim`` (AdamW param groups, flat-cosine LR), ``ema`` (ExpMomentumEMA),
``checkpoint`` (atomic, weights_only-safe checkpoints with RNG states), ``loader`` (resumable sampler, seeded
loaders), ``validate`` (COCO-AP evaluator), ``dist`` (torchrun / DDP helpers), ``log`` (tqdm, TensorBoard, JSONL).
Submodules are imported on demand so that ``import kdpose.engine`` stays light.
"""

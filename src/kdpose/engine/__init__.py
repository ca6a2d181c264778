"""Training engine: one plain trainer for every model family and distillation method (docs/training.md).

Modules: ``config`` (typed recipes + strict YAML loader), ``trainer`` (the loop; recipes become models, tasks and
datasets in :mod:`kdpose.tasks`), ``optim`` (AdamW param groups, flat-cosine LR), ``ema`` (ExpMomentumEMA),
``checkpoint`` (atomic, weights_only-safe checkpoints with RNG states), ``loader`` (resumable sampler, seeded
loaders), ``validate`` (COCO-AP evaluator), ``precision`` (``amp`` / ``threads`` resolution), ``stop`` (SIGTERM /
SIGINT become a checkpoint and a clean stop), ``dist`` (torchrun / DDP helpers), ``log`` (tqdm, TensorBoard, JSONL).
Submodules are imported on demand so that ``import kdpose.engine`` stays light.
"""

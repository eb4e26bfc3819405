"""How the loop fine-tunes on people's clicks: the recipe the flywheel and the loop demo share.

Bigger steps and batches than ``pickloop train``'s defaults, and adapters written as three times
the change training made (ExPO): training learns the way people prefer but stops short of it.
Why, measured: docs/training-options.md and docs/loop-demo-history.md.
"""

from __future__ import annotations

from engine.train.options import Method, TrainingOptions

LOOP_TRAINING = TrainingOptions(steps=250, learning_rate=5e-4, batch_size=32, extrapolate=3.0)


def preference_training(
    base: TrainingOptions,
    method: Method,
    *,
    positive_labels: int,
    negative_labels: int,
    seed: int,
) -> TrainingOptions:
    """``base`` for ``method`` on data whose KTO labels number as given, validated and
    checkpointed once at the end."""
    # KTO's labels are mostly undesirable (three pictures passed over for each one chosen, and
    # whole re-rolled grids); weighed alike, they push the adapter away from everything the
    # model draws, whatever people liked. Weighing them down until both sides count the same,
    # as the KTO paper advises, leaves what people chose to steer it.
    balance = positive_labels / max(1, negative_labels)
    return base.changed(
        method=method,
        # A pair is two pictures: the same pictures a step, so both methods cost about alike.
        batch_size=max(1, base.batch_size // 2) if method == "dpo" else base.batch_size,
        seed=seed,
        validate_every=base.steps,
        checkpoint_every=base.steps,
        undesirable_weight=min(1.0, balance) if method == "kto" else 1.0,
    )

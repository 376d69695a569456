"""Test helper: fit one loss term of a trainable model on one fixed synthetic batch (CPU)."""
import torch


def fit_loss_term(model, term: str, out_dir, steps: int, lr: float, max_people: int = 2, seed: int = 1) -> tuple:
    """Take ``steps`` AdamW steps on ``term`` alone -> (its first value, its last value)."""
    from ros_phmr.train.trainer import TrainConfig, Trainer, training_losses

    trainer = Trainer(TrainConfig(out_dir=str(out_dir), steps=1, batch_size=2, max_people=max_people, subdivisions=1,
                                  device="cpu", lr=lr, warmup_steps=1), model)
    batch = trainer.maker.make(2, torch.Generator().manual_seed(seed))
    values = []
    for _ in range(steps):
        losses = training_losses(trainer.model, batch, torch.Generator().manual_seed(seed + 1), trainer.body,
                                 trainer._amp)
        trainer.optimizer.zero_grad()
        losses[term].backward()
        trainer.optimizer.step()
        values.append(float(losses[term].detach()))
    return values[0], values[-1]

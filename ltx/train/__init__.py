"""Training applied from outside the model: LoRA adapters (lora.py), the flow-matching objective as ltx-trainer
1.2.0 computes it (flow.py), the loop with its data, checkpoints and schedule (trainer.py)."""

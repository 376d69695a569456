"""Training, distillation and their losses for ros_phmr's detector (Multi-HMR layout) and
promptable decoder (PromptHMR layout), on synthetic data generated on the fly."""

"""Training on transformers.Trainer: fine-tuning the target model, and unlearning."""

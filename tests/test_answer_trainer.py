"""Fine-tuning from the answer positions alone trains exactly as ``transformers.Trainer``'s own
causal-LM loss on every position's logits, gradient accumulation included."""

from __future__ import annotations

import datasets
import pytest
import torch
from transformers import Trainer, TrainingArguments

from conftest import make_model
from unlearn.data.collate import PadCollator
from unlearn.data.formatting import PromptFormat, tokenize_split
from unlearn.training.answer_trainer import AnswerLossTrainer

PAIRS = [("Where was Ada born?", "Ada was born in London."), ("When was Paavo born?", "In 1984."),
         ("What is the capital of France?", "The capital of France is Paris."), ("Who wrote it?", "Ada did.")]


def trained_weights(trainer_type, tokenizer, tmp_path, **extra):
    model = make_model(len(tokenizer))
    records = datasets.Dataset.from_list([{"question": q, "answer": a} for q, a in PAIRS])
    train_set = tokenize_split(records, tokenizer, PromptFormat.for_tokenizer(tokenizer), 64)
    args = TrainingArguments(output_dir=str(tmp_path / trainer_type.__name__), per_device_train_batch_size=2,
                             gradient_accumulation_steps=2, learning_rate=0.5, num_train_epochs=2,
                             save_strategy="no", report_to=[], use_cpu=True, seed=0, logging_steps=1,
                             lr_scheduler_type="constant", optim="sgd")  # SGD: weights differ as gradients do
    trainer = trainer_type(model=model, args=args, train_dataset=train_set,
                           data_collator=PadCollator(tokenizer.pad_token_id), **extra)
    result = trainer.train()
    return result.training_loss, {k: v.detach().clone() for k, v in model.state_dict().items()}


@pytest.mark.parametrize("chunk", [0, 3])
def test_answer_loss_trains_as_the_trainers_own_loss(tokenizer, tmp_path, chunk):
    own_loss, own_weights = trained_weights(Trainer, tokenizer, tmp_path)
    loss, weights = trained_weights(AnswerLossTrainer, tokenizer, tmp_path, chunk_tokens=chunk)
    assert loss == pytest.approx(own_loss, rel=1e-5)
    initial = make_model(len(tokenizer)).state_dict()
    assert max((own_weights[k] - initial[k]).abs().max().item() for k in initial) > 1e-3  # training moved them
    for key, value in own_weights.items():
        torch.testing.assert_close(weights[key], value, rtol=1e-4, atol=1e-6, msg=key)

"""What pre-training, fine-tuning and doc2query training share: one training loop and its settings.

- :mod:`.params` — :class:`~.params.TrainerParams`, the trainer fields both training jobs take
  (import-light: the config validator reads it without torch);
- :mod:`.batching` — a global batch split over the processes a job gets;
- :mod:`.checkpoints` — what a run's checkpoints belong to (resume only the same run) and what is kept;
- :mod:`.time_limit` — save at SLURM's time-limit signal and requeue;
- :mod:`.trainer` — the loop: Hugging Face ``Trainer`` over a loss module, ``TrainingArguments`` built
  from the params, resume, final save.

Nothing is imported here, so ``qcpt.training.params`` stays as light as it is.
"""

"""A training job longer than its SLURM allocation: save at the signal, then come back.

SLURM signals a job's processes before it kills them: SIGTERM at the time limit (then SIGKILL after
the cluster's ``KillWait``, 30 s by default), or earlier to the job's steps with ``sbatch
--signal=TERM@<seconds>``, which profiles/slurm asks for on the training rules so that the save has
minutes, not seconds. SIGTERM, because Snakemake inside the job waits for its running job on
SIGTERM (and dies of SIGUSR1); the rule ``exec``s the trainer so that it is that job. SIGUSR1, for
a cluster set up to send it, means the same.
:class:`TimeLimit` notes either signal; :class:`StopAtSignal` then ends training at the end of the
current step with a checkpoint (every process agrees on it under torchrun, since a save is
collective); :func:`resubmit` asks SLURM to requeue the same job (``scontrol requeue``: the
allocation, memory and Snakemake's retry count stay as they were) and exits with
:data:`EXIT_RESUBMIT`. The requeued job resumes from that checkpoint, as after any kill, so a chain
of submissions ends with the weights of one unbroken run.

A SIGTERM long before the allocation ends is a cancellation (``scancel``) or a preemption, which
SLURM requeues itself where the partition says so: the job saves and exits, and requeues nothing.
Outside SLURM the job saves and exits with :data:`EXIT_RESUBMIT`; running Snakemake again resumes it.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from typing import Any, NoReturn

from transformers import TrainerCallback

# EX_TEMPFAIL: "try again later"; the job's log says why.
EXIT_RESUBMIT = 75
# A SIGTERM this close to SLURM's projected end of the job ($SLURM_JOB_END_TIME) is the time limit.
TIME_LIMIT_MARGIN_S = 900


class TimeLimit:
    """Notes SIGTERM and SIGUSR1 instead of dying of them; ``received`` is the signal's name."""

    SIGNALS = (signal.SIGTERM, signal.SIGUSR1)

    def __init__(self) -> None:
        self.received: str | None = None

    def install(self) -> TimeLimit:
        for sig in self.SIGNALS:
            signal.signal(sig, self._note)
        return self

    def _note(self, signum: int, _frame: Any) -> None:
        self.received = signal.Signals(signum).name
        print(f"[qcpt] {self.received} received: saving a checkpoint at the end of this step", flush=True)


class StopAtSignal(TrainerCallback):
    """Ends training with a checkpoint at the end of the step during which a signal came."""

    def __init__(self, limit: TimeLimit):
        self.limit = limit
        self.stopped_at: int | None = None

    def on_step_end(self, args, state, control, **kwargs):
        if self._any_process_signalled(args):
            control.should_save = True
            control.should_training_stop = True
            self.stopped_at = state.global_step
        return control

    def _any_process_signalled(self, args: Any) -> bool:
        import torch
        import torch.distributed as dist

        flag = self.limit.received is not None
        if dist.is_available() and dist.is_initialized():
            # One collective per step: every rank must take part in the save, or it hangs.
            value = torch.tensor([int(flag)], device=args.device)
            dist.all_reduce(value, op=dist.ReduceOp.MAX)
            flag = bool(value.item())
        return flag


def is_time_limit(received: str | None, env: dict[str, str] | None = None, now: float | None = None) -> bool:
    """Whether the signal means the allocation is ending: the early warning (SIGUSR1), or SIGTERM
    within :data:`TIME_LIMIT_MARGIN_S` of ``$SLURM_JOB_END_TIME`` (SIGTERM where SLURM gives no end
    time counts as the limit too)."""
    env = os.environ if env is None else env
    if received == "SIGUSR1":
        return True
    if received != "SIGTERM":
        return False
    end = env.get("SLURM_JOB_END_TIME")
    if not end:
        return True
    return float(end) - (time.time() if now is None else now) <= TIME_LIMIT_MARGIN_S


def resubmit(limit: TimeLimit, step: int, main_process: bool = True) -> NoReturn:
    """After the checkpoint of ``step``: requeue this SLURM job if its time is up, then exit."""
    job = os.environ.get("SLURM_JOB_ID")
    if main_process and job and is_time_limit(limit.received):
        scontrol = shutil.which("scontrol")
        if scontrol is None:
            print(f"[qcpt] checkpoint at step {step}; no scontrol on PATH to requeue SLURM job {job}: "
                  "Snakemake's retry resumes it", flush=True)
        else:
            done = subprocess.run([scontrol, "requeue", job], capture_output=True, text=True)
            what = "requeued" if done.returncode == 0 else f"not requeued ({done.stderr.strip()})"
            print(f"[qcpt] checkpoint at step {step}; SLURM job {job} {what}", flush=True)
    else:
        print(f"[qcpt] checkpoint at step {step} after {limit.received}; run the workflow again to resume",
              flush=True)
    sys.exit(EXIT_RESUBMIT)

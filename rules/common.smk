# What all rule files share. Config validation, the jobs' environment, and the helpers the rules
# use to state a job. A rule states its own inputs (path templates of qcpt/workflow/paths.py as P.*,
# filled by its wildcards), its params and its whole command line (the command's flags in `shell:`,
# or in a params function of flags() beside it where an option exists for some jobs only). Where an
# input or a value depends on the config or on a parsed wildcard (a shard list, a grid expansion, a
# choice of run), the rule calls a function of its stage's jobs module (imported at the top of the
# rule file) named for what it returns, through per_job(). Every command is named after its module (qcpt/cli.py), e.g. `retrieval.evaluate` is
# qcpt/retrieval/evaluate.py, so from an artifact's template to the code that writes it is
# paths.py -> its rule -> the command's module (tests/workflow/test_rules_trace.py).

import inspect
import os
import shlex
import sys
from pathlib import Path

sys.path.insert(0, workflow.basedir)

from qcpt import config as qconfig  # noqa: E402
from qcpt.training.checkpoints import RETENTION_ENV  # noqa: E402
from qcpt.cli import (  # noqa: E402
    GENERATOR_PYTHON_ENV,
    JOB_ENTRY_ENV,
    JOB_PYTHON_ENV,
    command_with_version,
    job_python,
)
from qcpt.training.params import REPORT_TO_ENV  # noqa: E402

# a preset's include:
from qcpt.core.config_files import ConfigFileError, merge_includes  # noqa: E402
from qcpt import inputs as qinputs  # noqa: E402
from qcpt.corpus.irds import IrdsError  # noqa: E402
from qcpt.workflow import cells, grid  # noqa: E402
from qcpt.workflow import jobs as workflow_jobs  # noqa: E402
from qcpt.workflow.defaults import resource  # noqa: E402
from qcpt.workflow.jobs import as_json  # noqa: E402
from qcpt.workflow.paths import Paths  # noqa: E402

try:
    merge_includes(config, workflow.configfiles)
    qconfig.validate(config)
except (qconfig.ConfigError, ConfigFileError) as err:
    raise WorkflowError(str(err)) from None


# A real run (not a dry run) checks the external inputs before its first job (qcpt/inputs.py): an
# ir_datasets dataset neither cached nor downloadable, a file whose recorded checksum differs.
onstart:
    if workflow.is_main_process:
        try:
            qinputs.preflight(config)
        except (qinputs.DataError, IrdsError) as err:
            raise WorkflowError(str(err)) from None


R = config["results"]
P = Paths(R)
METRICS_TARGETS = grid.metrics_targets(config)
# A fine-tuning dataset's training topics and qrels: topic set train-<dataset> (grid.train_topicset).
TRAIN_TOPICS = P.of("topics", topicset=grid.train_topicset("{dataset}"))
TRAIN_QRELS = P.of("qrels", topicset=grid.train_topicset("{dataset}"))
# The interpreter of local jobs: the one running Snakemake, so `.venv/bin/snakemake` works without
# activating the venv; under --software-deployment-method conda each rule's environment puts its own
# `python` first on PATH. A generator's `python:` key overrides both (QCPT_GENERATOR_PYTHON below).
PY = job_python(workflow.deployment_settings)
PY_EXECUTABLE = shlex.split(PY)[0]  # unquoted: the shell quotes "$QCPT_PYTHON"
# Every job's shell starts with "$QCPT_PYTHON" "$QCPT_ENTRY": the interpreter, and the entry point
# found next to the Snakefile (so `--directory` can point anywhere). Both are where this checkout and
# its environment happen to be, so they reach the jobs through the environment, never through
# `params:`: params are a job's identity (Snakemake reruns a job when they change), and a moved
# checkout, a new venv or a conda env must rerun nothing. Every Snakemake process that runs jobs
# parses this file (a cluster job's too), so each job gets its own machine's values. Provenance still
# records the interpreter and the checkout.
os.environ[JOB_PYTHON_ENV] = PY_EXECUTABLE
os.environ[JOB_ENTRY_ENV] = str(Path(workflow.basedir) / "scripts" / "qcpt.py")
# Config `checkpoints:` (retention) reaches the training jobs in their environment, not as a param:
# what is kept of checkpoints never changes a result, so changing it must not rerun the jobs
# (Snakemake reruns on changed params and shell code). Every Snakemake process that runs jobs
# parses this file, a cluster job step included, so each job inherits it. Generators' `python:`
# interpreters (a vLLM venv) travel the same way, for the same reason.
os.environ[RETENTION_ENV] = as_json(config.get("checkpoints", {}))
os.environ[GENERATOR_PYTHON_ENV] = as_json(
    {name: spec["python"] for name, spec in config["generators"].items() if spec.get("python")}
)
# Config `report_to` (training-curve loggers) reaches them the same way, for the same reason.
os.environ[REPORT_TO_ENV] = as_json(config.get("report_to", []))


def version(name):
    """Command ``name`` of qcpt/cli.py's table with its version (``name@N``, VERSIONS there), as a
    param: a bumped version reruns exactly that command's jobs and what depends on them."""
    return command_with_version(name)


def identity_config(cfg):
    """The config as a job's identity sees it: without the settings that never change an output
    (resources, checkpoint retention, interpreters)."""
    out = {k: v for k, v in cfg.items() if k not in ("resources", "checkpoints")}
    out["generators"] = {
        name: {k: v for k, v in spec.items() if k != "python"}
        for name, spec in cfg.get("generators", {}).items()
    }
    return out


def per_job(fn):
    """``fn(config, <the wildcards it names>)``, a function of a stage's jobs module, as an input or
    params function of a job: it gets the config and, by name, the job's wildcards it asks for. It
    reads the wildcards only, so a param made of it is part of the job's recorded identity (one that
    reads `input`, `output`, `threads` or `resources` is not: Snakemake records no derived params).
    """
    kinds = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    wanted = [
        p.name
        for p in inspect.signature(fn).parameters.values()
        if p.kind in kinds and p.name != "config"
    ]

    def of_job(wildcards):
        values = dict(wildcards.items())
        return fn(config, **{name: values[name] for name in wanted if name in values})

    of_job.__name__ = fn.__name__
    return of_job


def json_per_job(fn):
    """:func:`per_job` as one JSON object: a job's ``--params`` (Snakemake reruns it when they change)."""
    of_job = per_job(fn)
    return lambda wildcards: as_json(of_job(wildcards))


def filled(template):
    """A path template filled with a job's wildcards, as a params function."""
    return lambda wildcards: template.format(**dict(wildcards.items()))


def _words(found):
    return [found] if isinstance(found, str) else list(found or [])


def flags(*options, lead=""):
    """Options a job has only sometimes, as shell words: ``flags("--shards", f, "--collection", g)``
    gives each option followed by its value (a path, a list, None, or a function of the wildcards
    giving one), shell-quoted, and leaves out an option whose value is empty; ``lead`` goes before
    a non-empty result. A params function of the wildcards."""
    pairs = list(zip(options[::2], options[1::2]))

    def flags_of_job(wildcards):
        words = []
        for option, value in pairs:
            found = _words(value(wildcards) if callable(value) else value)
            if found:
                words.append(shlex.join([option, *found]))
        return f"{lead}{' '.join(words)}" if words else ""

    return flags_of_job


def name_value_args(mapping, option=None):
    """A mapping (or a function of the wildcards giving one) as shell words ``NAME=VALUE``, each
    after ``option`` where given (``--member a=x --member b=y``). A params function of the wildcards.
    """

    def args_of_job(wildcards):
        found = mapping(wildcards) if callable(mapping) else mapping
        pairs = [f"{name}={value}" for name, value in found.items()]
        return " ".join(shlex.join([option, p]) if option else shlex.quote(p) for p in pairs)

    return args_of_job


def family_resources(family, mem_mb=4000, runtime=60, gpu=0):
    """Resources of a rule family from config['resources'], with local defaults; ``family`` may be
    a function of the wildcards (per_job of a jobs function). GPU options exist only where the
    family asks for GPUs, and unset string options are absent: the SLURM plugin sends `--qos=''` /
    `-C ''` for an empty string and `--gpus=<model>:1` for a gpu_model without a count. For a fixed family an unset key
    is left out (the profile's default-resources apply); for a family chosen per job the key is a
    function returning None there, and Snakemake drops None-valued resources from the job."""
    # String options the plugin turns into sbatch flags: gpu_model -> --gpus=<model>:<n>,
    # slurm_partition -> -p, qos -> --qos, constraint -> -C.
    optional_keys = ("gpu_model", "slurm_partition", "qos", "constraint")
    table = config.get("resources", {})

    def pick(wc):
        return family(wc) if callable(family) else family

    def gpus_of(fam):
        return resource(config, fam, "gpu", gpu)

    def option(fam, key):
        if key == "gpu_model" and not gpus_of(fam):
            return None
        return resource(config, fam, key, None) or None

    out = {}
    if callable(family):
        out["gpu"] = lambda wc: gpus_of(pick(wc)) or None
        for key in optional_keys:
            if any(key in spec for spec in table.values()):
                out[key] = lambda wc, key=key: option(pick(wc), key)
    else:
        if gpus_of(family):
            out["gpu"] = gpus_of(family)
        for key in optional_keys:
            if option(family, key) is not None:
                out[key] = option(family, key)
    # A retry (the profile's `retries`) gets more memory; the runtime stays, since the long GPU jobs
    # resume from their last checkpoint.
    out["mem_mb"] = lambda wc, attempt: resource(config, pick(wc), "mem_mb", mem_mb) * attempt
    out["runtime"] = lambda wc: resource(config, pick(wc), "runtime", runtime)
    out["cpus_per_task"] = lambda wc, threads: resource(config, pick(wc), "cpus_per_task", threads)
    return out


def devices(resources):
    """A training job's processes: its `gpu` resource, i.e. the number the SLURM plugin puts into
    `--gpus` (after `--set-resources` overrides and local `--resources gpu=N` limits); 1 on CPU."""
    return max(int(resources.get("gpu", 0) or 0), 1)


def launcher(name):
    """Command ``name`` (with its version) under torchrun, one process per GPU (see devices), for
    multi-GPU jobs: ``--processes N`` of scripts/qcpt.py, which starts `python -m
    torch.distributed.run` with its own interpreter. It is a param, so a changed GPU count (which
    changes the global batch: batch sizes are per device) reruns the job."""

    def launch(wildcards, resources):
        gpus = devices(resources)
        return f"--processes {gpus} {version(name)}" if gpus > 1 else version(name)

    return launch


def batch(stage_batch):
    """The training job's effective global batch on the GPUs it gets (``stage_batch``: the stage's
    jobs.batch), which stops the DAG, naming the key, where the devices cannot make a stated global
    batch."""

    def describe(wc, resources):
        try:
            return stage_batch(config, devices(resources), **dict(wc.items()))
        except qconfig.ConfigError as err:
            raise WorkflowError(str(err)) from None

    return describe

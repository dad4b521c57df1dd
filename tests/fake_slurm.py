"""A fake SLURM that runs its jobs, on this machine: ``sbatch`` starts each job's script in its own
process group under a supervisor, ``sacct`` reports the supervisor's state of it, ``scontrol
requeue`` makes the supervisor run the job again when it exits (as SLURM requeues a batch job),
and ``srun`` runs its command. A job whose script names ``term_rule`` gets SIGTERM in every process
but the batch shell (``sbatch --signal=TERM@<s>``) once the glob ``term_when`` matches, with
``$SLURM_JOB_END_TIME`` ``limit_s`` after its start, and SIGKILL after ``grace_s``, like a job that
outlives its allocation. Nothing here reaches a real cluster: the fakes come first on PATH and
every record lives under the folder given."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

SBATCH = r'''
import json, os, subprocess, sys, time
state = os.environ["FAKE_SLURM_DIR"]
argv = sys.argv[1:]
script = sys.stdin.read() if not sys.stdin.isatty() else ""
jobid = 7200000 + len(os.listdir(os.path.join(state, "jobs")))
name = argv[argv.index("--job-name") + 1]
wrap = next((a[len("--wrap="):] for a in argv if a.startswith("--wrap=")), None)
if wrap is None and "--wrap" in argv:
    wrap = argv[argv.index("--wrap") + 1]
job = {"jobid": jobid, "name": name, "argv": argv, "command": wrap if wrap is not None else script}
with open(os.path.join(state, "jobs", f"{jobid}.json"), "w") as f:
    json.dump(job, f)
with open(os.path.join(state, "jobs", f"{jobid}.state"), "w") as f:
    f.write("PENDING")
subprocess.Popen([sys.executable, os.path.join(state, "supervisor.py"), str(jobid)], start_new_session=True,
                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
print(jobid)
'''

SUPERVISOR = r'''
import glob, json, os, signal, subprocess, sys, time
state = os.environ["FAKE_SLURM_DIR"]
jobid = sys.argv[1]
base = os.path.join(state, "jobs", jobid)
job = json.load(open(base + ".json"))
conf = json.load(open(os.path.join(state, "conf.json")))
def steps(pgid):
    for entry in os.listdir("/proc"):
        if entry.isdigit() and int(entry) != pgid:
            try:
                stat = open(f"/proc/{entry}/stat").read()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[2]) == pgid:
                yield int(entry)
def set_state(value):
    with open(base + ".state.tmp", "w") as f:
        f.write(value)
    os.replace(base + ".state.tmp", base + ".state")
restarts, final = 0, "FAILED"
while True:
    env = dict(os.environ, SLURM_JOB_ID=jobid, SLURM_RESTART_COUNT=str(restarts),
               SLURM_JOB_END_TIME=str(int(time.time()) + conf["limit_s"]))
    log = open(base + f".run{restarts}.log", "w")
    proc = subprocess.Popen(["/bin/sh", "-c", job["command"]], env=env, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    set_state("RUNNING")
    signalled = False
    marker = os.path.join(state, "terminated-once")
    while proc.poll() is None:
        if (conf.get("term_rule") and f"rule_{conf['term_rule']}" in " ".join(job["argv"])
                and not os.path.exists(marker) and glob.glob(conf["term_when"], recursive=True)):
            open(marker, "w").close()
            # SLURM at the time limit: SIGTERM to every process of the job, SIGKILL after KillWait
            with open(base + ".signals", "a") as f:
                f.write("SIGTERM\n")
            # sbatch --signal=TERM@<s> (no "B:"): every process of the job's steps, not the batch shell
            for pid in steps(proc.pid):
                try:
                    os.kill(pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
            signalled = True
            deadline = time.time() + conf["grace_s"]
            while proc.poll() is None and time.time() < deadline:
                time.sleep(0.1)
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
            break
        time.sleep(0.1)
    rc = proc.wait()
    log.close()
    if os.path.exists(base + ".requeue"):
        os.remove(base + ".requeue")
        restarts += 1
        set_state("REQUEUED")
        time.sleep(0.5)
        continue
    final = "COMPLETED" if rc == 0 and not signalled else ("TIMEOUT" if signalled else "FAILED")
    break
set_state(final)
'''

SACCT = r'''
import glob, json, os, sys
state = os.environ["FAKE_SLURM_DIR"]
if "--name" in sys.argv:
    name = sys.argv[sys.argv.index("--name") + 1]
    for path in sorted(glob.glob(os.path.join(state, "jobs", "*.json"))):
        job = json.load(open(path))
        if job["name"] == name:
            print(f"{job['jobid']}|{open(path[:-5] + '.state').read().strip()}")
'''

SCONTROL = r'''
import os, sys
state = os.environ["FAKE_SLURM_DIR"]
if sys.argv[1:2] == ["requeue"]:
    open(os.path.join(state, "jobs", sys.argv[2] + ".requeue"), "w").close()
    with open(os.path.join(state, "requeues.log"), "a") as f:
        f.write(sys.argv[2] + "\n")
else:
    print("MinJobAge               = 300 sec")
    print("MaxArraySize            = 1001")
'''

# srun [options] command...: run the command (srun's options all come as --key=value or -n1 here)
SRUN = r'''
import os, sys
args = sys.argv[1:]
while args and args[0].startswith("-"):
    args = args[1:]
os.execvp(args[0], args)
'''

SHELL = {
    "sinfo": 'echo PARTITION; echo "cpu*"',
    "squeue": "exit 0",
    "scancel": "exit 0",
    "sacctmgr": "exit 0",
    "sshare": "exit 0",
}


def install(folder: Path, term_rule: str | None = None, term_when: str | None = None,
            grace_s: float = 60.0, limit_s: int = 300) -> dict[str, str]:
    """Write the fakes under ``folder``; returns the environment to run Snakemake with."""
    bin_dir, state = folder / "bin", folder / "state"
    bin_dir.mkdir(parents=True)
    (state / "jobs").mkdir(parents=True)
    (state / "supervisor.py").write_text(SUPERVISOR)
    (state / "conf.json").write_text(json.dumps({"term_rule": term_rule, "term_when": str(term_when or ""),
                                                 "grace_s": grace_s, "limit_s": limit_s}))
    for name, body in (("sbatch", SBATCH), ("sacct", SACCT), ("scontrol", SCONTROL), ("srun", SRUN)):
        (bin_dir / name).write_text(f"#!{sys.executable}\n{body}")
    for name, body in SHELL.items():
        (bin_dir / name).write_text(f"#!/bin/sh\n{body}\n")
    for path in bin_dir.iterdir():
        path.chmod(0o755)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLURM_", "SBATCH_", "SRUN_"))}
    env.update(PATH=f"{bin_dir}{os.pathsep}{env['PATH']}", FAKE_SLURM_DIR=str(state))
    return env


def submissions(folder: Path) -> list[dict]:
    """Every sbatch call, in order, with its final state and how often SLURM requeued it."""
    jobs = []
    for path in sorted((folder / "state" / "jobs").glob("*.json")):
        job = json.loads(path.read_text())
        job["state"] = path.with_suffix(".state").read_text().strip()
        job["runs"] = len(list(path.parent.glob(f"{job['jobid']}.run*.log")))
        jobs.append(job)
    return jobs

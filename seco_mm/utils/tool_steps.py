"""Run one tool of ``tools/`` as a subprocess step of a bigger job.

``tools/run_demo.py`` and ``tools/run_ablation.py`` chain the project's own
command-line tools (train, export, probe, tracking) and must run each the
way a reader would from a shell: this Python, a fixed torch thread count (the
same table on every machine of one kind), the repository on ``PYTHONPATH``,
and a stop that names the failed step.
"""
import os
import shlex
import subprocess
import sys
import time
from typing import Optional, Sequence

__all__ = ['command_line', 'run_tool_step']


def command_line(argv: Sequence[str]) -> str:
    """The shell command a reader would type for ``python argv...``."""
    return shlex.join(['python', *argv])


def run_tool_step(step: str,
                  argv: Sequence[str],
                  threads: int,
                  root: str,
                  job: str = 'job',
                  cwd: Optional[str] = None) -> float:
    """Run ``python argv...`` with ``OMP_NUM_THREADS=threads`` and ``root``
    on ``PYTHONPATH``; print the command before and the seconds after.

    Returns:
        float: seconds the step took.

    Raises:
        SystemExit: the step failed; the message names ``job``, the step,
            its exit code and its command.
    """
    print(f'\n=== [{step}] {command_line(argv)}', flush=True)
    env = dict(os.environ, OMP_NUM_THREADS=str(threads),
               PYTHONPATH=root + os.pathsep + os.environ.get('PYTHONPATH', ''))
    start = time.time()
    code = subprocess.call([sys.executable, *argv], cwd=cwd, env=env)
    if code != 0:
        raise SystemExit(f'{job} step "{step}" failed with exit code {code}: '
                         f'{command_line(argv)}')
    elapsed = time.time() - start
    print(f'=== [{step}] done in {elapsed:.0f} s', flush=True)
    return elapsed

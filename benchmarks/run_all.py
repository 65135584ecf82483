"""Run every seco-mm benchmark and write benchmarks/results.md (+ JSONs).

Each script runs in its own process with its short default settings (a
few minutes in all on 2 cores; more on a busy machine) and writes
``work_dirs/bench/<name>.json``; this script prints the tables and
collects them, with the exact commands and the machine, into one markdown
file for the README.

    python benchmarks/run_all.py                     # what `make bench` runs
    python benchmarks/run_all.py --only data augment
    python benchmarks/run_all.py --device cuda       # GPU figures
    python benchmarks/run_all.py --quick             # tiny sizes (smoke)
    python benchmarks/run_all.py --collect           # rebuild results.md
                                                     # from existing JSONs
"""
import argparse
import datetime
import json
import os
import os.path as osp
import shlex
import subprocess
import sys
import time


from common import DEFAULT_OUT_DIR, ROOT  # noqa: E402

HERE = osp.dirname(osp.abspath(__file__))

# name -> (script, default args, quick args, takes --device)
BENCHMARKS = {
    'data': ('bench_data.py', [],
             ['--clips', 'carphone_distorted', 'bikes', '--rounds', '1',
              '--skip-decode-all'], False),
    'augment': ('bench_augment.py', [], ['--rounds', '3'], False),
    'dataloader': ('bench_dataloader.py', [],
                   ['--clips', 'carphone_distorted', '--samples', '4',
                    '--batch-size', '2', '--epochs', '1', '--repeats', '1',
                    '--max-workers', '1', '--crop', '32'], True),
    'train_step': ('bench_train_step.py', ['--threads', '1'],
                   ['--presets', 'r18_112', '--batch', '2', '--crop', '32',
                    '--rounds', '1', '--warmup', '1', '--queue-len', '64',
                    '--options', 'batched', 'per_view', '--probe-variants',
                    'mmengine', '--threads', '1'], True),
    'scaling': ('bench_scaling.py', [],
                ['--layouts', '1x1', '--total-batch', '4', '--crop', '32',
                 '--iters', '1', '--warmup', '1', '--repeats', '1',
                 '--queue-lens', '64', '256', '--queue-iters', '2',
                 '--queue-crop', '32'], True),
    'tracking': ('bench_tracking.py', [],
                 ['--repeats', '1', '--max-frames', '3'], True),
}


def command(name, quick, device, json_out):
    script, default, quick_args, takes_device = BENCHMARKS[name]
    cmd = [sys.executable, osp.join(HERE, script)]
    cmd += list(quick_args if quick else default)
    if takes_device and device != 'cpu':
        cmd += ['--device', device]
    cmd += ['--json-out', json_out]
    return cmd


def shown(cmd):
    """The command as a user types it from the repository root."""
    parts = ['python'] + [osp.relpath(c, ROOT) if osp.isabs(c) and
                          c.startswith(ROOT) else c for c in cmd[1:]]
    return ' '.join(shlex.quote(p) for p in parts)


def extra_sections(name, out_dir):
    """Other runs of the same script kept as ``<name>_<label>.json`` (e.g.
    longer or differently configured runs), with the command that made
    them."""
    import glob
    out = []
    for path in sorted(glob.glob(osp.join(out_dir, f'{name}_*.json'))):
        with open(path) as f:
            res = json.load(f)
        if 'markdown' not in res or 'argv' not in res:
            continue
        cmd = ' '.join(shlex.quote(a) for a in ['python'] + res['argv'])
        load = res.get('env', {}).get('loadavg_end', [float('nan')])[0]
        out.append(f'### {name}, extra run\n\n`{cmd}` (load average '
                   f'{load:.1f} at the end)\n\n{res["markdown"]}')
    return out


def _rerender(name, json_out):
    """Load a benchmark JSON; re-render its tables with the current code."""
    import argparse as _ap
    import importlib
    with open(json_out) as f:
        res = json.load(f)
    module = importlib.import_module(BENCHMARKS[name][0][:-3])
    summarise = getattr(module, 'summarise', None)
    if summarise is not None:
        try:
            res['markdown'] = (summarise(res) if name != 'scaling' else
                               summarise(res, _ap.Namespace(**res['args'])))
        except (KeyError, TypeError, ValueError) as err:
            print(f'{name}: keeping the stored tables ({err!r})')
    return res


def environment_md(with_load=True):
    import platform
    try:
        import torch
        torch_v = torch.__version__
        gpu = torch.cuda.get_device_name() if torch.cuda.is_available() \
            else 'none'
    except Exception:  # pragma: no cover
        torch_v, gpu = '?', '?'
    cpu = platform.processor() or platform.machine()
    try:
        with open('/proc/cpuinfo') as f:
            for line in f:
                if line.startswith('model name'):
                    cpu = line.split(':', 1)[1].strip()
                    break
    except OSError:
        pass
    return (f'{datetime.date.today().isoformat()}; {os.cpu_count()} cores '
            f'({cpu}); GPU: {gpu}; Python {platform.python_version()}, '
            f'torch {torch_v}' + (f'; load average at start '
                                  f'{os.getloadavg()[0]:.1f}'
                                  if with_load else ''))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--only', nargs='+', choices=list(BENCHMARKS),
                        default=list(BENCHMARKS))
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--quick', action='store_true',
                        help='tiny sizes: checks that everything runs')
    parser.add_argument('--collect', action='store_true',
                        help='run nothing: rebuild the summary from the '
                        'JSONs already in --out-dir (tables re-rendered by '
                        'the scripts\' summarise functions where they have '
                        'one)')
    parser.add_argument('--out-dir', default=DEFAULT_OUT_DIR,
                        help='where the per-benchmark JSONs go')
    parser.add_argument('--results', default=None,
                        help='markdown summary (default: benchmarks/'
                        'results.md, or <out-dir>/results.md with --quick)')
    args = parser.parse_args(argv)
    results_md = args.results or (osp.join(args.out_dir, 'results.md')
                                  if args.quick else
                                  osp.join(HERE, 'results.md'))
    os.makedirs(args.out_dir, exist_ok=True)
    sections, failures = [], []
    env_line = environment_md(with_load=not args.collect)
    for name in args.only:
        json_out = osp.join(args.out_dir, f'{name}.json')
        cmd = command(name, args.quick, args.device, json_out)
        if args.collect:
            if not osp.isfile(json_out):
                continue
            res = _rerender(name, json_out)
            secs = res.get('seconds', float('nan'))
        else:
            print(f'\n=== {name}: {shown(cmd)}', flush=True)
            t0 = time.time()
            proc = subprocess.run(cmd, cwd=ROOT)
            secs = time.time() - t0
            if proc.returncode != 0 or not osp.isfile(json_out):
                failures.append(name)
                sections.append(f'## {name}\n\n`{shown(cmd)}` FAILED '
                                f'(exit code {proc.returncode}).')
                continue
            with open(json_out) as f:
                res = json.load(f)
            res['seconds'] = secs
            with open(json_out, 'w') as f:
                json.dump(res, f, indent=1)
        load = res.get('env', {}).get('loadavg_end', [float('nan')])[0]
        took = f'{secs:.0f} s; ' if secs == secs else ''
        sections.append(f'## {name}\n\n`{shown(cmd)}` ({took}load '
                        f'average {load:.1f} at the end)\n\n'
                        f'{res.get("markdown", "")}')
        sections += extra_sections(name, args.out_dir)
    text = ('# seco-mm benchmark results\n\n'
            f'Measured {env_line}. Medians with inter-quartile ranges; '
            'variants compared in one run, interleaved, and ratios taken '
            'per round. The load average shown per section counts every '
            'job on the machine: where it exceeds the core count, wall '
            'times inflate and CPU times are the steadier figure. '
            'Regenerate with `make bench` (or the command shown per '
            'section).\n\n' +
            '\n\n'.join(sections) + '\n')
    os.makedirs(osp.dirname(osp.abspath(results_md)), exist_ok=True)
    with open(results_md, 'w') as f:
        f.write(text)
    print(f'\nwrote {results_md}')
    if failures:
        print(f'FAILED: {failures}', file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())

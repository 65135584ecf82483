"""Choose the demo SiamFC head on a held-out selection split.

The head setting of configs/tracking/siamfc_r18_demo.py is a choice; a
choice made by comparing numbers on the test sequences would make the
reported test numbers optimistic. This tool compares the candidate heads on
tracking sequences rendered from a seed that is neither the test data's
(``--test-seed``, 0 in the README) nor the head-training data's, and writes
the selection table (docs/tracking.md, "Choosing the demo head").

    python tools/select_tracking_head.py --make-data \\
        --sel-data /tmp/track_sel --train-data /tmp/track_train \\
        --work-dir work_dirs/select_head --seeds 0 1 2 --corr-scales 5 10 20 40 80

Candidates, each run by tools/eval_tracking.py on a random-init ResNet-18
(``--random-init --train --seeds ...``; no SeCo backbone is needed):
  * ``classic``: Kaiming adjust, raw correlation x 0.001, template cut from
    the exemplar crop (public SiamFC practice), trained and untrained;
  * ``exact<S>``: the exact matcher (identity adjust, cosine response x S,
    template from a search-sized crop) for each S of ``--corr-scales``.
    Its untrained tracker does not depend on S (the peak search and the
    response normalisation ignore a positive factor), so the untrained head
    is scored once, with ``--untrained-scale``.

The winner is the candidate with the highest mean trained-head success AUC
over the seeds (the number the demo reports). A candidate whose
``WORK_DIR/<name>/tracking_results.json`` already holds the same selection
data and seeds is not run again, so re-running only rebuilds the table; pass
``--rerun`` to redo the runs. Outputs: ``WORK_DIR/selection.json`` and
``WORK_DIR/selection.md``.
"""
import argparse
import json
import os
import os.path as osp
import subprocess
import sys
import time

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
CONFIG = 'configs/tracking/siamfc_r18_demo.py'

# Every head setting is passed explicitly, so a candidate means the same
# whatever the demo config currently says.
CLASSIC = ('model.head.adjust_init=kaiming', 'model.head.response_norm=scale',
           'model.head.corr_scale=0.001',
           'model.test_cfg.template_context=exemplar',
           'train_dataloader.dataset.pipeline.1.template_context=exemplar')


def exact_options(scale):
    """--cfg-options of the exact-matcher head with cosine scale ``scale``."""
    return ('model.head.adjust_init=identity',
            'model.head.response_norm=cosine',
            f'model.head.corr_scale={float(scale)}',
            'model.test_cfg.template_context=search',
            'train_dataloader.dataset.pipeline.1.template_context=search')


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--sel-data', required=True,
                   help='demo data folder of the selection split (its otb/ '
                   'sequences are tracked)')
    p.add_argument('--train-data', required=True,
                   help='demo data folder whose otb/ sequences train the head')
    p.add_argument('--work-dir', required=True)
    p.add_argument('--make-data', action='store_true',
                   help='render --sel-data / --train-data with '
                   'tools/make_demo_data.py when missing')
    p.add_argument('--sel-seed', type=int, default=2,
                   help='seed of the selection split (with --make-data)')
    p.add_argument('--train-seed', type=int, default=1,
                   help='seed of the training split (with --make-data; '
                   'tools/run_demo.py uses test seed + 1)')
    p.add_argument('--test-seed', type=int, default=0,
                   help='seed of the reported test data: the selection '
                   'split must not use it')
    p.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2])
    p.add_argument('--corr-scales', type=float, nargs='+',
                   default=[5.0, 10.0, 20.0, 40.0, 80.0])
    p.add_argument('--untrained-scale', type=float, default=10.0,
                   help='exact-matcher candidate that also scores the '
                   'untrained head')
    p.add_argument('--threads', type=int, default=1,
                   help='torch threads per run')
    p.add_argument('--jobs', type=int, default=1,
                   help='candidates run at once')
    p.add_argument('--rerun', action='store_true',
                   help='run every candidate even if its results exist')
    return p.parse_args(argv)


def candidates(corr_scales, untrained_scale):
    """``[(name, cfg options, eval untrained)]`` in table order."""
    out = [('classic', CLASSIC, True)]
    for s in corr_scales:
        out.append((f'exact{s:g}', exact_options(s),
                    float(s) == float(untrained_scale)))
    return out


def read_seed(data, role):
    """The ``seed`` in ``data/meta.json`` (written by make_demo_data)."""
    path = osp.join(data, 'meta.json')
    if not osp.isfile(path):
        raise SystemExit(f'{role} data: {path} not found (render it with '
                         'tools/make_demo_data.py or pass --make-data)')
    with open(path) as f:
        meta = json.load(f)
    if 'seed' not in meta:
        raise SystemExit(f'{role} data: {path} has no "seed" key')
    return int(meta['seed'])


def check_splits(sel_seed, train_seed, test_seed, sel_data, train_data):
    """Refuse a selection split that is the test or the training split."""
    if osp.realpath(sel_data) == osp.realpath(train_data):
        raise SystemExit(f'--sel-data and --train-data are the same folder '
                         f'({sel_data})')
    if sel_seed == test_seed:
        raise SystemExit(f'selection data {sel_data} has seed {sel_seed}, '
                         f'the test seed (--test-seed {test_seed}): choosing '
                         'on the test sequences is what this tool avoids')
    if sel_seed == train_seed:
        raise SystemExit(f'selection data {sel_data} has seed {sel_seed}, '
                         f'the same as the training data {train_data}')


def make_data(out, seed):
    """Render the smallest demo set (1 + 1 clips; the 4 tracking sequences
    depend only on the seed)."""
    cmd = [sys.executable, 'tools/make_demo_data.py', '--out', out, '--seed',
           str(seed), '--num-train', '1', '--num-val', '1']
    print(' '.join(cmd[1:]), flush=True)
    subprocess.run(cmd, cwd=ROOT, env=_env(), check=True)


def _env():
    return dict(os.environ, PYTHONPATH=ROOT + os.pathsep +
                os.environ.get('PYTHONPATH', ''))


def eval_command(name, options, untrained, args):
    """tools/eval_tracking.py argv (without the interpreter)."""
    cmd = ['tools/eval_tracking.py', CONFIG, '--random-init', '--data',
           osp.join(args.sel_data, 'otb'), '--train', '--train-data',
           osp.join(args.train_data, 'otb'), '--seeds',
           *map(str, args.seeds), '--no-progress', '--threads',
           str(args.threads), '--work-dir', osp.join(args.work_dir, name),
           '--name', name]
    if untrained:
        cmd.append('--eval-untrained')
    return cmd + ['--cfg-options', *options]


def load_result(path, sel_data, seeds):
    """A finished run's tracking_results.json, or None if it is missing or
    was made on other data / seeds (then it is run again)."""
    if not osp.isfile(path):
        return None
    with open(path) as f:
        res = json.load(f)
    same_data = osp.realpath(res.get('data', '')) == osp.realpath(
        osp.join(sel_data, 'otb'))
    if not same_data or list(res.get('seeds') or []) != list(seeds):
        print(f'{path}: other data or seeds ({res.get("data")}, '
              f'{res.get("seeds")}), running again', flush=True)
        return None
    return res


def run_all(todo, args):
    """Run ``[(name, argv)]``, at most ``args.jobs`` at once; stop on the
    first failure."""
    pending, running = list(todo), []
    while pending or running:
        while pending and len(running) < max(1, args.jobs):
            name, cmd = pending.pop(0)
            os.makedirs(osp.join(args.work_dir, name), exist_ok=True)
            log = open(osp.join(args.work_dir, f'{name}.log'), 'w')
            print(f'[{name}] python {" ".join(cmd)}', flush=True)
            proc = subprocess.Popen([sys.executable, *cmd], cwd=ROOT,
                                    env=_env(), stdout=log,
                                    stderr=subprocess.STDOUT)
            running.append((name, proc, log, time.time()))
        time.sleep(2)
        for item in list(running):
            name, proc, log, start = item
            if proc.poll() is None:
                continue
            log.close()
            running.remove(item)
            if proc.returncode != 0:
                for _, other, _, _ in running:
                    other.terminate()
                raise SystemExit(
                    f'[{name}] eval_tracking failed (exit {proc.returncode})'
                    f', see {osp.join(args.work_dir, name + ".log")}')
            print(f'[{name}] done in {time.time() - start:.0f} s', flush=True)


def _stat(over):
    vals = ', '.join(f'{v:.1f}' for v in over['values'])
    return f"{over['mean']:.1f} +- {over['std']:.1f} ({vals})"


def selection_rows(results):
    """Table rows and the winner's name.

    Args:
        results: ``{candidate name: tracking_results.json dict}`` in table
            order.

    Returns:
        tuple: ``(rows, winner)``; rows[0] is the header. The winner has the
        highest mean trained-head success AUC (first listed on a tie).
    """
    rows = [('head', 'trained AUC', 'trained prec@20', 'untrained AUC',
             'untrained prec@20')]
    best, best_auc = None, None
    for name, res in results.items():
        over = res['metrics']['over_runs']
        un = (res.get('untrained') or {}).get('metrics')
        rows.append((name, _stat(over['success']), _stat(over['precision']),
                     _stat(un['over_runs']['success']) if un else '-',
                     _stat(un['over_runs']['precision']) if un else '-'))
        auc = over['success']['mean']
        if best_auc is None or auc > best_auc:
            best, best_auc = name, auc
    return rows, best


def markdown(rows):
    out = ['| ' + ' | '.join(rows[0]) + ' |',
           '|' + '---|' * len(rows[0])]
    return '\n'.join(out + ['| ' + ' | '.join(r) + ' |' for r in rows[1:]])


def main(argv=None):
    args = parse_args(argv)
    for data, seed, role in ((args.sel_data, args.sel_seed, 'selection'),
                             (args.train_data, args.train_seed, 'training')):
        if args.make_data and not osp.isfile(osp.join(data, 'meta.json')):
            make_data(data, seed)
    sel_seed = read_seed(args.sel_data, 'selection')
    train_seed = read_seed(args.train_data, 'training')
    check_splits(sel_seed, train_seed, args.test_seed, args.sel_data,
                 args.train_data)

    cands = candidates(args.corr_scales, args.untrained_scale)
    results, todo = {}, []
    for name, options, untrained in cands:
        path = osp.join(args.work_dir, name, 'tracking_results.json')
        res = None if args.rerun else load_result(path, args.sel_data,
                                                  args.seeds)
        if res is None:
            todo.append((name, eval_command(name, options, untrained, args)))
    run_all(todo, args)
    for name, options, _ in cands:
        path = osp.join(args.work_dir, name, 'tracking_results.json')
        res = load_result(path, args.sel_data, args.seeds)
        if res is None:
            raise SystemExit(f'[{name}] no results in {path}')
        results[name] = res

    rows, winner = selection_rows(results)
    table = markdown(rows)
    opts = dict((n, list(o)) for n, o, _ in cands)
    summary = dict(selection_data=args.sel_data, selection_seed=sel_seed,
                   train_data=args.train_data, train_seed=train_seed,
                   test_seed=args.test_seed, seeds=args.seeds,
                   criterion='highest mean trained-head success AUC',
                   winner=winner, winner_cfg_options=opts[winner],
                   cfg_options=opts, table=rows)
    os.makedirs(args.work_dir, exist_ok=True)
    with open(osp.join(args.work_dir, 'selection.json'), 'w') as f:
        json.dump(summary, f, indent=1)
    with open(osp.join(args.work_dir, 'selection.md'), 'w') as f:
        f.write(table + '\n')
    print(f'\nselection split: seed {sel_seed} ({args.sel_data}); head '
          f'training: seed {train_seed}; seeds {args.seeds}; AUC / prec@20 '
          'x100, mean +- std (per seed)\n')
    print(table)
    print(f'\nwinner: {winner} ({" ".join(opts[winner])})')
    return 0


if __name__ == '__main__':
    sys.exit(main())

#!/usr/bin/env python3
"""scripts/valgrind.sh's log scan:  valgrind_scan.py BUILD_DIR REPORT

Scans valgrind's logs (one per process, BUILD_DIR/vg-SUITE/PID.log).  A
record starts with an unindented line and ends at an empty "==PID== " line or
the next unindented one; it is an error if it has frames ("at 0x..."/"by
0x..."; a warning has none).  It is
querycache's when any frame is in querycache's sources (with
--fullpath-after= valgrind shows full paths: B/src/x.c) or querycache.so.
Exit status: 1 if any error is querycache's, else 0.
"""
import collections, glob, os, re, sys
B, report = sys.argv[1], sys.argv[2]
line_re = re.compile(r'^==(\d+)== ?(.*)$')
frame_re = re.compile(r'^\s+(?:at|by) 0x[0-9A-Fa-f]+: (.*)$')
ours_re = re.compile(r'\((?:' + re.escape(B) + r'/)?src/[^/():]+:\d+\)|querycache\.so\)')
pg_tree = re.compile(r'/var/cache/querycache/build/pg15-valgrind/')
app_re = re.compile(r'\[(\d+)\] .*connection authorized: .*application_name=(\S+)')

apps = {}
for sl in glob.glob(os.path.join(B, '*-server.log')):  # SUITE-server.log
    suite = os.path.basename(sl)[:-len('-server.log')]
    with open(sl, errors='replace') as f:
        for l in f:
            m = app_re.search(l)
            if m:
                apps[suite, m.group(1)] = m.group(2)

def signature(rec):
    # the kind of error and every frame (function, file, line), without addresses
    sig = [re.sub(r'0x[0-9A-Fa-f]+', '0x', rec[0])]
    sig += [m.group(1) for m in map(frame_re.match, rec) if m]
    return tuple(sig)

ours = collections.OrderedDict()	# signature -> [first record, count, {pid: suite}]
other = collections.Counter()
nlogs = 0
for lf in sorted(glob.glob(os.path.join(B, 'vg-*', '*.log'))):
    nlogs += 1
    suite = os.path.basename(os.path.dirname(lf))[3:]
    recs, cur = [], []
    with open(lf, errors='replace') as f:
        for raw in f:
            m = line_re.match(raw.rstrip('\n'))
            text = m.group(2) if m else raw.rstrip('\n')
            if text.strip() == '' or not text.startswith(' '):
                # an empty line ends a record, an unindented one starts one
                # (a one-line warning has no empty line after it)
                if cur:
                    recs.append(cur)
                cur = []
            if text.strip() != '':
                cur.append(text)
    if cur:
        recs.append(cur)
    pid = os.path.basename(lf)[:-4]
    for rec in recs:
        if rec[0].startswith(' ') or not any(frame_re.match(l) for l in rec):
            continue	# not an error (a warning without a stack)
        sig = signature(rec)
        if any(ours_re.search(l) for l in rec):
            e = ours.setdefault(sig, [rec, 0, {}])
            e[1] += 1
            e[2][pid] = suite
        else:
            other[sig] += 1

def short(l):
    return pg_tree.sub('', l.replace(B + '/', ''))

out = []
nours = sum(e[1] for e in ours.values())
out.append('querycache-attributed valgrind errors: %d (%d distinct)' % (nours, len(ours)))
for i, (sig, (rec, n, pids)) in enumerate(ours.items(), 1):
    who = sorted({'%s: %s' % (s, apps.get((s, p), 'pid %s (no client: a background or auxiliary process)' % p))
        for p, s in pids.items()})
    out.append('')
    out.append('----- querycache error %d of %d: %d occurrence(s), in %s -----' % (i, len(ours), n, '; '.join(who)))
    out.append('(first seen in %s)' % ', '.join('vg-%s/%s.log' % (s, p) for p, s in list(pids.items())[:3]))
    out.extend(short(l) for l in rec)
out.append('')
out.append('other (PostgreSQL-internal) valgrind errors: %d (%d distinct)%s' % (
    sum(other.values()), len(other), ':' if other else ''))
for sig, n in other.most_common(20):
    frames = [short(f) for f in sig[1:4]]
    out.append('  %5d x %s  at %s' % (n, sig[0], ' < '.join(frames)))
out.append('(%d valgrind logs, one per server process)' % nlogs)
text = '\n'.join(out) + '\n'
with open(report, 'w') as f:
    f.write(text)
sys.stdout.write(text)
sys.exit(1 if nours else 0)

#!/usr/bin/env python3
"""benchtool.py — the arithmetic and data generation behind scripts/bench-step1.sh.

  gen-large DIR COUNT SIZE           COUNT files of SIZE bytes of random data
  gen-small DIR FILES DIRS MIN MAX   FILES files of MIN..MAX random bytes spread
                                     over DIRS directories (names sort like real data)
  run [--stdout FILE] [--rss] [--cpu PID,...] -- CMD...
                                     runs CMD, prints "<wall seconds> <peak RSS KiB>";
                                     with --cpu also the CPU seconds used meanwhile
                                     by CMD, by the whole machine, and by each PID
                                     (0 without --rss); exits with CMD's status
  hwm PID                            VmHWM of a live process, in KiB
  fio-iops FILE                      read IOPS of a fio --output-format=json report
  report SAMPLES OUT [--info K=V]... medians of every sample, the Markdown table,
                                     printed and written to OUT

Content is random (os.urandom) so no two files and no two chunks share bytes:
the commit benchmark measures hashing, transfer and durable writes, never
deduplication.

SAMPLES is a tab-separated file, one sample per line: "metric<TAB>value".
Metric names say what and the unit: *.s seconds, *.kb KiB, *.iops, *.bytes,
*.files. A metric measured N times has N lines; the report uses the median.
"""
import os
import statistics
import subprocess
import sys
import time

BLOCK = 4 << 20
GNU_TIME = "/usr/bin/time"


def parse_size(s):
    units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
    s = s.strip()
    if s and s[-1].upper() in units:
        return int(s[:-1]) * units[s[-1].upper()]
    return int(s)


def write_random(path, size):
    with open(path, "wb") as f:
        left = size
        while left > 0:
            n = min(left, BLOCK)
            f.write(os.urandom(n))
            left -= n


def gen_large(root, count, size):
    os.makedirs(root, exist_ok=True)
    for i in range(count):
        write_random(os.path.join(root, "part-%03d.bin" % i), size)


def gen_small(root, files, dirs, lo, hi):
    # Sizes come from a seeded generator so every run of the benchmark commits
    # the same shape; the bytes themselves are fresh random data.
    import random
    rnd = random.Random(42)
    per_dir = (files + dirs - 1) // dirs
    made = 0
    for d in range(dirs):
        sub = os.path.join(root, "plate-%03d" % d)
        os.makedirs(sub, exist_ok=True)
        for j in range(per_dir):
            if made == files:
                return
            with open(os.path.join(sub, "cell-%05d.tsv" % j), "wb") as f:
                f.write(os.urandom(rnd.randint(lo, hi)))
            made += 1


def proc_cpu(pid):
    """CPU seconds (user + system) process pid has used: all its threads,
    not its children. 0 once it is gone."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    # fields[0] is the state, field 3 of stat(5); utime and stime are 14, 15.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_cpu():
    """CPU seconds the whole machine has been busy: user, nice, system, irq
    and softirq of every core; not idle, iowait or steal."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    return (v[0] + v[1] + v[2] + v[5] + v[6]) / os.sysconf("SC_CLK_TCK")


def run(argv):
    out = "/dev/null"
    rss = False
    watch = None
    while argv and argv[0] in ("--stdout", "--rss", "--cpu"):
        if argv[0] == "--rss":
            rss = True
            argv = argv[1:]
        elif argv[0] == "--cpu":
            watch = [int(x) for x in argv[1].split(",") if x]
            argv = argv[2:]
        else:
            out = argv[1]
            argv = argv[2:]
    if argv and argv[0] == "--":
        argv = argv[1:]
    if not argv:
        sys.exit("run: no command")
    rss_file = None
    if rss and os.access(GNU_TIME, os.X_OK):
        # The peak RSS that wait4 reports for a child of ours starts at our
        # own size: the child is a copy of this interpreter until it execs.
        # GNU time is a small C program, so its child starts near 1 MiB.
        import tempfile
        fd, rss_file = tempfile.mkstemp(prefix="bench-rss.")
        os.close(fd)
        argv = [GNU_TIME, "-f", "%M", "-o", rss_file, "--"] + argv
    with open(out, "wb") as f:
        if watch is not None:
            before = [machine_cpu()] + [proc_cpu(pid) for pid in watch]
        t0 = time.perf_counter()
        p = subprocess.Popen(argv, stdout=f)
        _, status, ru = os.wait4(p.pid, 0)
        t1 = time.perf_counter()
        if watch is not None:
            after = [machine_cpu()] + [proc_cpu(pid) for pid in watch]
        p.returncode = os.waitstatus_to_exitcode(status)
    peak = ru.ru_maxrss if rss else 0
    if rss_file:
        with open(rss_file) as f:
            lines = f.read().split()
        os.unlink(rss_file)
        # GNU time prints "Command exited with non-zero status N" first on failure.
        peak = int(lines[-1]) if lines and lines[-1].isdigit() else 0
    line = "%.6f %d" % (t1 - t0, peak)
    if watch is not None:
        used = [ru.ru_utime + ru.ru_stime] + [a - b for a, b in zip(after, before)]
        line += "".join(" %.3f" % u for u in used)
    print(line)
    sys.exit(p.returncode if p.returncode >= 0 else 128 - p.returncode)


def hwm(pid):
    with open("/proc/%s/status" % pid) as f:
        for line in f:
            if line.startswith("VmHWM:"):
                print(line.split()[1])
                return
    sys.exit("hwm: no VmHWM for pid %s" % pid)


def fio_iops(path):
    import json
    with open(path) as f:
        text = f.read()
    # fio may print notes before the JSON document.
    doc = json.loads(text[text.index("{"):])
    print("%.1f" % sum(job["read"]["iops"] for job in doc["jobs"]))


# --- report -------------------------------------------------------------

def load(path):
    samples = {}
    if os.path.exists(path):
        with open(path) as f:
            for line in f:
                line = line.rstrip("\n")
                if not line or "\t" not in line:
                    continue
                k, v = line.split("\t", 1)
                samples.setdefault(k, []).append(float(v))
    return samples


class Report:
    def __init__(self, samples):
        self.s = samples
        self.rows = []

    def med(self, k):
        v = self.s.get(k)
        return statistics.median(v) if v else None

    def one(self, k):
        v = self.s.get(k)
        return v[0] if v else None

    def rate_row(self, what, num, t_cairn, t_base, base_name, unit, scale, target):
        """A throughput row: num units over a median time, higher is better."""
        a, b = self.med(t_cairn), self.med(t_base)
        ca = "%s %s" % (fmt(num / a / scale), unit) if num and a else "n/a"
        cb = "%s: %s %s" % (base_name, fmt(num / b / scale), unit) if num and b else base_name + ": n/a"
        ratio = "%.2f×" % (b / a) if a and b else "n/a"
        self.rows.append((what, ca, cb, ratio, target))

    def value_row(self, what, k_cairn, k_base, base_name, unit, target):
        """A measured rate (fio's IOPS): higher is better."""
        a, b = self.med(k_cairn), self.med(k_base)
        ca = "%s %s" % (fmt(a), unit) if a is not None else "n/a"
        cb = "%s: %s %s" % (base_name, fmt(b), unit) if b is not None else base_name + ": n/a"
        ratio = "%.2f×" % (a / b) if a and b else "n/a"
        self.rows.append((what, ca, cb, ratio, target))

    def time_row(self, what, k_cairn, k_base, base_name, target):
        """A latency row: median milliseconds, ratio cairn/baseline (lower is better)."""
        a, b = self.med(k_cairn), self.med(k_base)
        ca = "%s ms" % fmt(a * 1000) if a is not None else "n/a"
        cb = "%s: %s ms" % (base_name, fmt(b * 1000)) if b is not None else base_name + ": n/a"
        ratio = "%.2f×" % (a / b) if a and b else "n/a"
        self.rows.append((what, ca, cb, ratio, target))

    def rss_row(self, what, k_big, k_small, small_name):
        """Peak RSS (the highest of the runs) after the larger workload
        against the smaller one: memory that tracks dataset size shows here."""
        a, b = self.one_or_max(k_big), self.one_or_max(k_small)
        ca = "%s MiB" % fmt(a / 1024) if a is not None else "n/a"
        cb = "%s: %s MiB" % (small_name, fmt(b / 1024)) if b is not None else small_name + ": n/a"
        ratio = "%.2f×" % (a / b) if a and b else "n/a"
        self.rows.append((what, ca, cb, ratio, "flat (≈1×)"))

    def one_or_max(self, k):
        v = self.s.get(k)
        return max(v) if v else None


def fmt(x):
    if x is None:
        return "n/a"
    if x >= 100:
        return "%.0f" % x
    if x >= 10:
        return "%.1f" % x
    return "%.2f" % x


def report(samples_path, out_path, info_args):
    info = dict(a.split("=", 1) for a in info_args)
    s = load(samples_path)
    r = Report(s)
    MiB = 1 << 20

    lb, lf = r.one("commit.large.bytes"), r.one("commit.large.files")
    sb, sf = r.one("commit.small.bytes"), r.one("commit.small.files")
    lname = info.get("large", "large files")
    sname = info.get("small", "small files")
    for base, label in (("cp", "cp -r"), ("cpsync", "cp -r + sync")):
        r.rate_row("commit %s (MiB/s)" % lname, lb, "commit.large.cairn.s",
                   "commit.large.%s.s" % base, label, "MiB/s", MiB, "≥ 0.7×")
    for base, label in (("cp", "cp -r"), ("cpsync", "cp -r + sync")):
        r.rate_row("commit %s (files/s)" % sname, sf, "commit.small.cairn.s",
                   "commit.small.%s.s" % base, label, "files/s", 1, "≥ 0.7×")

    seqb = r.one("seq.bytes")
    fname = info.get("seq", "file")
    r.rate_row("sequential read %s, page cache cold (MiB/s)" % fname, seqb,
               "seq.cairn.cold.s", "seq.native.cold.s", "native file", "MiB/s", MiB, "≥ 0.95×")
    r.rate_row("sequential read %s, page cache warm (MiB/s)" % fname, seqb,
               "seq.cairn.warm.s", "seq.native.warm.s", "native file", "MiB/s", MiB, "≥ 0.8×")
    r.value_row("random 4 KiB reads, psync, %s jobs, warm (IOPS)" % info.get("fio_jobs", "2"),
                "rand.cairn.iops", "rand.native.iops", "native file", "IOPS", "≥ 0.9×")

    tree = info.get("tree", "tree")
    r.time_row("`find` of %s, warm" % tree, "find.cairn.warm.s", "find.native.warm.s",
               "local disk", "≤ 1.5×")
    r.time_row("`find` of %s, cold" % tree, "find.cairn.cold.s", "find.native.cold.s",
               "local disk", "≤ 5×")
    r.time_row("`find -printf %%s…` (stat every entry) of %s, warm" % tree,
               "stat.cairn.warm.s", "stat.native.warm.s", "local disk", "≤ 1.5×")
    r.time_row("`find -printf %%s…` (stat every entry) of %s, cold" % tree,
               "stat.cairn.cold.s", "stat.native.cold.s", "local disk", "≤ 5×")
    r.time_row("read every file of %s, cold" % tree, "readall.small.cairn.s",
               "readall.small.native.s", "local disk", "—")

    ref = info.get("ref", "small tree")
    r.rss_row("catalogd peak RSS, commit of %s" % sname, "rss.catalogd.commit.small.kb",
              "rss.catalogd.commit.ref.kb", ref)
    r.rss_row("catalogd peak RSS, commit of %s" % lname, "rss.catalogd.commit.large.kb",
              "rss.catalogd.commit.seq.kb", fname)
    r.rss_row("cairn CLI peak RSS, commit of %s" % sname, "rss.cli.commit.small.kb",
              "rss.cli.commit.ref.kb", ref)
    r.rss_row("cairn CLI peak RSS, commit of %s" % lname, "rss.cli.commit.large.kb",
              "rss.cli.commit.seq.kb", fname)
    r.rss_row("cairnfs peak RSS, walk + stat + read all of %s" % tree,
              "rss.cairnfs.walk.small.kb", "rss.cairnfs.walk.ref.kb", ref)
    r.rss_row("catalogd peak RSS, serving that walk", "rss.catalogd.walk.small.kb",
              "rss.catalogd.walk.ref.kb", ref)
    v = r.one_or_max("rss.cairnfs.read.kb")
    w = r.one_or_max("rss.catalogd.read.kb")
    r.rows.append(("cairnfs / catalogd peak RSS after sequential + random reads of %s" % fname,
                   "%s / %s MiB" % (fmt(v / 1024) if v else "n/a", fmt(w / 1024) if w else "n/a"),
                   "—", "—", "flat"))

    lines = []
    lines.append("# cairn step-1 benchmark")
    lines.append("")
    for k in ("date", "host", "kernel", "pool_fs", "source", "build", "runs",
              "chunk_size", "commit", "reads", "walk", "notes"):
        if k in info:
            lines.append("- %s: %s" % (k.replace("_", " "), info[k]))
    lines.append("")
    lines.append("Ratios are cairn / baseline for rates (higher is better) and for times and "
                 "memory (lower is better); each value is the median of the runs.")
    lines.append("")
    lines.append("| what | cairn | baseline | ratio | target |")
    lines.append("| --- | --- | --- | --- | --- |")
    for row in r.rows:
        if row[1].startswith("n/a"):
            continue    # not measured in this run (--only)
        lines.append("| " + " | ".join(row) + " |")
    lines.append("")
    lines.append("## Raw medians")
    lines.append("")
    lines.append("| metric | median | min | max | n |")
    lines.append("| --- | --- | --- | --- | --- |")
    for k in sorted(s):
        v = s[k]
        lines.append("| %s | %s | %s | %s | %d |" % (
            k, raw(statistics.median(v)), raw(min(v)), raw(max(v)), len(v)))
    text = "\n".join(lines) + "\n"
    sys.stdout.write(text)
    with open(out_path, "w") as f:
        f.write(text)


def raw(x):
    if x == int(x) and abs(x) >= 1:
        return "%d" % x
    return "%.4g" % x


def parse_infos(rest):
    """The values of report's "--info K=V" arguments (step2tool.py's too)."""
    infos = []
    while rest:
        if rest[0] == "--info" and len(rest) > 1:
            infos.append(rest[1])
            rest = rest[2:]
        else:
            sys.exit("report: unexpected %r" % rest[0])
    return infos


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "gen-large":
        gen_large(args[0], int(args[1]), parse_size(args[2]))
    elif cmd == "gen-small":
        gen_small(args[0], int(args[1]), int(args[2]), parse_size(args[3]), parse_size(args[4]))
    elif cmd == "run":
        run(args)
    elif cmd == "hwm":
        hwm(args[0])
    elif cmd == "fio-iops":
        fio_iops(args[0])
    elif cmd == "report":
        report(args[0], args[1], parse_infos(args[2:]))
    else:
        sys.exit("unknown command %r\n%s" % (cmd, __doc__))


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""step2tool.py — helpers behind scripts/bench-step2.sh.

  put-file ENDPOINT BUCKET KEY FILE      one object, a plain key, from FILE
  put-tree ENDPOINT BUCKET PREFIX DIR N  every regular file under DIR as
                                         PREFIX/<relative path>, N in flight
  ttfb FILE                              seconds to open FILE and read its
                                         first 4 KiB (checks 4096 bytes came)
  fio-stats FILE                         "<read IOPS> <mean completion latency
                                         in µs>" of job 0 of a fio
                                         --output-format=json report
  wait-tier SOCK STATE COUNT SECONDS     polls catalogd's tier status until
                                         COUNT objects are in STATE and
                                         nothing moves; prints the seconds
                                         it waited; exits 1 on timeout
  report SAMPLES OUT [--info K=V]...     the Markdown table, printed and
                                         written to OUT

The uploads give s3fs and rclone the same bytes cairn keeps as objects, under
plain keys. They sign with AWS signature V2 (s3rver checks it on object
requests); credentials come from S3_ACCESS_KEY / S3_SECRET_KEY (default
s3rver's S3RVER / S3RVER).

Samples are benchtool.py's: "metric<TAB>value" lines, *.s seconds, *.iops,
*.lat_us microseconds; the report shows medians.
"""
import base64
import concurrent.futures
import hashlib
import hmac
import http.client
import json
import os
import socket
import statistics
import sys
import time
import urllib.parse
from email.utils import formatdate

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchtool  # noqa: E402  (load, fmt, raw, parse_infos)

MiB = 1 << 20
GiB = 1 << 30


# --- uploads ------------------------------------------------------------

def _creds():
    return (os.environ.get("S3_ACCESS_KEY", "S3RVER"),
            os.environ.get("S3_SECRET_KEY", "S3RVER"))


def put(conn, bucket, key, body):
    access, secret = _creds()
    date = formatdate(usegmt=True)
    ctype = "application/octet-stream"
    path = "/%s/%s" % (bucket, urllib.parse.quote(key))
    # The date travels as x-amz-date: s3rver leaves the Date header out of
    # the string it signs.
    sts = "PUT\n\n%s\n\nx-amz-date:%s\n%s" % (ctype, date, path)
    sig = base64.b64encode(hmac.new(secret.encode(), sts.encode(), hashlib.sha1).digest()).decode()
    conn.request("PUT", path, body=body, headers={
        "x-amz-date": date, "Content-Type": ctype, "Content-Length": str(len(body)),
        "Authorization": "AWS %s:%s" % (access, sig)})
    r = conn.getresponse()
    text = r.read()
    if r.status != 200:
        raise RuntimeError("PUT %s: %d %s" % (path, r.status, text[:300]))


def _conn(endpoint):
    host, port = endpoint.rsplit(":", 1)
    return http.client.HTTPConnection(host, int(port), timeout=120)


def put_file(endpoint, bucket, key, path):
    with open(path, "rb") as f:
        body = f.read()
    put(_conn(endpoint), bucket, key, body)


def put_tree(endpoint, bucket, prefix, root, threads):
    files = []
    for d, _, names in os.walk(root):
        for n in names:
            p = os.path.join(d, n)
            files.append((prefix + "/" + os.path.relpath(p, root), p))
    local = __import__("threading").local()

    def one(item):
        key, p = item
        if not hasattr(local, "c"):
            local.c = _conn(endpoint)
        with open(p, "rb") as f:
            body = f.read()
        try:
            put(local.c, bucket, key, body)
        except (http.client.HTTPException, OSError):
            local.c = _conn(endpoint)     # a dropped keep-alive: once more
            put(local.c, bucket, key, body)

    with concurrent.futures.ThreadPoolExecutor(threads) as ex:
        for _ in ex.map(one, files):
            pass
    print(len(files))


# --- timing -------------------------------------------------------------

def ttfb(path):
    t0 = time.perf_counter()
    fd = os.open(path, os.O_RDONLY)
    try:
        b = os.read(fd, 4096)
    finally:
        t1 = time.perf_counter()
        os.close(fd)
    if len(b) != 4096:
        sys.exit("ttfb: %d bytes from %s" % (len(b), path))
    print("%.6f" % (t1 - t0))


def fio_stats(path):
    with open(path) as f:
        text = f.read()
    # fio may print notes before the JSON document.
    doc = json.loads(text[text.index("{"):])
    rd = doc["jobs"][0]["read"]
    if not rd.get("total_ios"):
        sys.exit("fio-stats: no reads completed in %s" % path)
    print("%.1f %.1f" % (rd["iops"], rd["clat_ns"]["mean"] / 1000))


def tier_status(sock):
    s = socket.socket(socket.AF_UNIX)
    s.connect(sock)
    c = http.client.HTTPConnection("cairn")
    c.sock = s
    c.request("GET", "/v1/tier/status")
    r = c.getresponse()
    body = r.read()
    c.close()
    if r.status != 200:
        raise RuntimeError("tier status: %d" % r.status)
    return json.loads(body)


def wait_tier(sock, state, count, secs):
    t0 = time.perf_counter()
    last = None
    while time.perf_counter() - t0 < secs:
        st = tier_status(sock)
        q = st.get("queue", {})
        s = st.get("states", {})
        moving = (q.get("migrate", 0) + q.get("release", 0) + q.get("recall", 0) + q.get("busy", 0) +
                  sum(s.get(k, {}).get("objects", 0) for k in ("migrating", "releasing", "recalling")))
        if s.get(state, {}).get("objects") == count and moving == 0:
            print("%.6f" % (time.perf_counter() - t0))
            return
        if st.get("suspended"):
            sys.exit("wait-tier: tiering suspended: %s; errors: %s" %
                     (st.get("suspended_reason"), json.dumps(st.get("errors", [])[:3])))
        last = st
        time.sleep(0.05)
    sys.exit("wait-tier: %d objects %s not reached in %ss; last status: %s" %
             (count, state, secs, json.dumps(last)[:2000]))


# --- report -------------------------------------------------------------

def report(samples_path, out_path, info_args):
    info = dict(a.split("=", 1) for a in info_args)
    s = benchtool.load(samples_path)
    fmt = benchtool.fmt

    def med(k):
        v = s.get(k)
        return statistics.median(v) if v else None

    def one(k):
        v = s.get(k)
        return v[0] if v else None

    rows = []

    def ratio_of(k_c, k_b, invert, unit):
        """cairn against its baseline, from the median times (or rates).

        When both were measured in every run, back to back, the ratio is
        the median of the runs' own ratios, which are listed after it: on
        a machine whose speed drifts between runs this is the steadier
        figure. Otherwise the ratio of the medians."""
        a, b = s.get(k_c), s.get(k_b)
        if not a or not b:
            return "n/a"
        if len(a) == len(b) and len(a) > 1 and all(a) and all(b):
            each = [(x / y) if invert else (y / x) for x, y in zip(a, b)]
            return "%.2f%s (runs: %s)" % (statistics.median(each), unit,
                                          " ".join("%.2f" % r for r in each))
        x, y = statistics.median(a), statistics.median(b)
        if not x or not y:
            return "n/a"
        return "%.2f%s" % ((x / y) if invert else (y / x), unit)

    def why_not(peer):
        return info.get("skip_" + peer)

    def rate(what, nbytes, k_c, k_b, bname, target, peer=None):
        """Throughput from a byte count over median times; ratio cairn/base."""
        a, b = med(k_c), med(k_b)
        ca = "%s MiB/s" % fmt(nbytes / a / MiB) if nbytes and a else "n/a"
        if peer and why_not(peer):
            rows.append((what, ca, "%s: not run (%s)" % (bname, why_not(peer)), "—", target))
            return
        cb = "%s: %s MiB/s" % (bname, fmt(nbytes / b / MiB)) if nbytes and b else bname + ": n/a"
        ratio = ratio_of(k_c, k_b, False, "×")
        rows.append((what, ca, cb, ratio, target))

    def lat(what, k_c, k_b, bname, target, peer=None, unit="ms"):
        """A time, lower is better; ratio baseline/cairn (how many times faster)."""
        a, b = med(k_c), med(k_b)
        sc = 1000 if unit == "ms" else 1
        ca = "%s %s" % (fmt(a * sc), unit) if a is not None else "n/a"
        if peer and why_not(peer):
            rows.append((what, ca, "%s: not run (%s)" % (bname, why_not(peer)), "—", target))
            return
        cb = "%s: %s %s" % (bname, fmt(b * sc), unit) if b is not None else bname + ": n/a"
        ratio = ratio_of(k_c, k_b, False, "× faster")
        rows.append((what, ca, cb, ratio, target))

    def value(what, k_c, k_b, bname, unit, target, peer=None):
        """A measured rate (fio's IOPS), higher is better; ratio cairn/base."""
        a, b = med(k_c), med(k_b)
        ca = "%s %s" % (fmt(a), unit) if a is not None else "n/a"
        if peer and why_not(peer):
            rows.append((what, ca, "%s: not run (%s)" % (bname, why_not(peer)), "—", target))
            return
        cb = "%s: %s %s" % (bname, fmt(b), unit) if b is not None else bname + ": n/a"
        ratio = ratio_of(k_c, k_b, True, "×")
        rows.append((what, ca, cb, ratio, target))

    mig = one("mig.bytes")
    ml = info.get("mig", "set")
    rate("migration of %s, verify=readback (default; PUT + HEAD, the read-back "
         "comes at release)" % ml, mig, "mig.readback.s", "raw.put.s",
         "raw PUT, 4 in flight", "≥ 0.9×")
    rate("migration of %s, verify=checksum" % ml, mig, "mig.checksum.s", "raw.put.s",
         "raw PUT, 4 in flight", "≥ 0.9×")
    rate("release of that version under verify=readback (every S3 copy read back)",
         mig, "release.readback.s", "raw.get.s", "raw GET, 4 in flight", "—")
    rate("`cairn tier recall` of that version", mig, "recall.s", "raw.get.s",
         "raw GET, 4 in flight", "≥ 0.9×")

    seq = one("seq.bytes")
    sl = info.get("seq", "file")
    rate("cold sequential read of a %s file (dd bs=1M)" % sl, seq, "seq.cairn.cold.s",
         "raw.getseq.s", "raw GET, 4 in flight", "≥ 0.9×")
    rate("same, cairnfs --no-direct: through catalogd", seq, "seq.cairncat.cold.s",
         "raw.getseq.s", "raw GET, 4 in flight", "—")
    rate("same, recall_on_read=yes (the default): read from the pool copy", seq,
         "seq.cairnpool.cold.s", "raw.getseq.s", "raw GET, 4 in flight", "≥ 0.9×")
    split = "same, s3rver on core 0 and the reader on core 1 (as on separate machines)"
    rate(split, seq, "seq.cairn.split.s", "raw.getseq.split.s",
         "raw GET, 4 in flight, on core 1", "—")
    rate(split, seq, "seq.cairn.split.s", "seq.s3fs.split.s", "s3fs-fuse on core 1", "—",
         peer="s3fs")
    peers = (("s3fs", "s3fs-fuse"), ("rclone", "rclone mount"),
             ("rclonefull", "rclone --vfs-cache-mode full"))
    for p, name in peers:
        rate("cold sequential read of a %s file" % sl, seq, "seq.cairn.cold.s",
             "seq.%s.cold.s" % p, name, "> 1× (ahead)", peer=p.replace("full", ""))
    for p, name in peers:
        rate("warm re-read of that file (same mount)", seq, "seq.cairn.warm.s",
             "seq.%s.warm.s" % p, name, "—", peer=p.replace("full", ""))
    for p, name in peers:
        lat("time to first byte (open + 4 KiB read) of a cold file", "ttfb.cairn.s",
            "ttfb.%s.s" % p, name, "≤ 10 ms", peer=p.replace("full", ""))
    rl = "random 4 KiB reads (fio psync, 1 job) of that file"
    for phase, how in (("cold", "cold, fresh mount"), ("warm", "warm, after one full dd")):
        for p, name in peers:
            value("%s, %s (IOPS)" % (rl, how), "rand.cairn.%s.iops" % phase,
                  "rand.%s.%s.iops" % (p, phase), name, "IOPS", "—", peer=p.replace("full", ""))
    for phase, how in (("cold", "cold, fresh mount"), ("warm", "warm, after one full dd")):
        for p, name in peers:
            lat("%s, %s (mean latency)" % (rl, how), "rand.cairn.%s.lat_us" % phase,
                "rand.%s.%s.lat_us" % (p, phase), name, "—", peer=p.replace("full", ""),
                unit="µs")
    tl = info.get("tree", "files")
    for p, name in (("s3fs", "s3fs-fuse"), ("rclone", "rclone mount")):
        lat("`find -printf %%s…` (stat every entry) of %s, objects cold, fresh mount" % tl,
            "stat.cairn.cold.s", "stat.%s.cold.s" % p, name, "≥ 50× faster", peer=p, unit="s")
    for p, name in (("s3fs", "s3fs-fuse"), ("rclone", "rclone mount")):
        lat("`find` (names only) of %s, fresh mount" % tl,
            "find.cairn.cold.s", "find.%s.cold.s" % p, name, "—", peer=p, unit="s")

    lines = ["# cairn step-2 benchmark (tiering)", ""]
    for k in ("date", "host", "kernel", "work_dir", "source", "build", "runs", "s3",
              "tiering", "mig", "seq", "tree", "method_mig", "method_recall", "method_read", "method_readcat", "method_readpool",
              "method_ttfb", "method_rand", "method_walk", "fio", "peers", "notes"):
        if k in info:
            lines.append("- %s: %s" % (k.replace("_", " "), info[k]))
    lines += ["", "Ratios: for rates cairn / baseline (higher is better); for times "
              "baseline / cairn (how many times faster cairn is). Each rate and time is the "
              "median of the runs. Where cairn and its baseline were both measured in every "
              "run, back to back, the ratio is the median of the runs' own ratios, listed "
              "after it; otherwise it is the ratio of the medians.", "",
              "| what | cairn | baseline | ratio | target |", "| --- | --- | --- | --- | --- |"]
    for row in rows:
        if row[1] == "n/a":
            continue     # not measured in this run (--only)
        lines.append("| " + " | ".join(row) + " |")
    cpu_rows = cpu_table(med, seq)
    if cpu_rows:
        lines += ["", "## Where the CPU goes in a cold sequential read", "",
                  "CPU seconds per GiB read while the read ran (medians of the runs): "
                  "the S3 server (s3rver), the reading process (the FUSE daemon, or "
                  "the raw GET's client), dd, and the whole machine (every process "
                  "and the kernel's own threads; the rest of the machine's time was "
                  "idle). On shared cores the reader's CPU is taken from the server's.",
                  "", "| reader | wall s/GiB | s3rver | reading process | dd | whole machine |",
                  "| --- | --- | --- | --- | --- | --- |"] + cpu_rows
    size_rows = size_table(med, seq)
    if size_rows:
        lines += ["", "## What the S3 server spends per request", "",
                  "Raw GETs (4 in flight, page cache dropped) of the same bytes cut into "
                  "objects of 1, 4 and 16 MiB (medians of the runs). What s3rver spends "
                  "per GiB falls with the number of requests: each costs it a fixed "
                  "amount of CPU besides the bytes. cairn's objects are 4 MiB, one S3 key "
                  "each; s3fs-fuse reads a file in ranges of 10 MiB or more.", "",
                  "| object size | requests per GiB | MiB/s | s3rver CPU s/GiB | whole machine CPU s/GiB |",
                  "| --- | --- | --- | --- | --- |"] + size_rows
    lines += ["", "## Raw samples", "", "| metric | median | min | max | n |",
              "| --- | --- | --- | --- | --- |"]
    for k in sorted(s):
        v = s[k]
        lines.append("| %s | %s | %s | %s | %d |" % (k, benchtool.raw(statistics.median(v)),
                     benchtool.raw(min(v)), benchtool.raw(max(v)), len(v)))
    text = "\n".join(lines) + "\n"
    sys.stdout.write(text)
    with open(out_path, "w") as f:
        f.write(text)


def cpu_table(med, nbytes):
    """Rows of CPU seconds per GiB for each cold sequential read measured
    with its CPU (timed with TIMED_CPU), in the report's table format."""
    if not nbytes:
        return []
    per = GiB / nbytes
    readers = (("cairnfs", "seq.cairn.cold"), ("raw GET, 4 in flight", "raw.getseq.proc"),
               ("s3fs-fuse", "seq.s3fs.cold"), ("rclone mount", "seq.rclone.cold"),
               ("rclone --vfs-cache-mode full", "seq.rclonefull.cold"))
    rows = []
    for name, k in readers:
        s3, all_ = med(k + ".cpu.s3rver"), med(k + ".cpu.all")
        if s3 is None or all_ is None:
            continue
        raw = k.startswith("raw.")
        proc = med(k + (".cpu.cmd" if raw else ".cpu.daemon"))
        dd = None if raw else med(k + ".cpu.cmd")
        wall = med("raw.getseq.s" if raw else k + ".s")
        cells = [wall, s3, proc, dd, all_]
        rows.append("| %s | %s |" % (name, " | ".join(
            "—" if v is None else "%.2f" % (v * per) for v in cells)))
    return rows


def size_table(med, nbytes):
    """Rows of the raw GETs by object size: rate and CPU per GiB."""
    if not nbytes:
        return []
    per = GiB / nbytes
    rows = []
    for mib, k in ((1, "raw.get1m"), (4, "raw.getseq"), (16, "raw.get16m")):
        t, s3, all_ = med(k + ".s"), med(k + ".proc.cpu.s3rver"), med(k + ".proc.cpu.all")
        if t is None or s3 is None or all_ is None:
            continue
        rows.append("| %d MiB | %d | %s | %.2f | %.2f |" % (
            mib, GiB // (mib * MiB), benchtool.fmt(nbytes / t / MiB), s3 * per, all_ * per))
    return rows


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    cmd, a = sys.argv[1], sys.argv[2:]
    if cmd == "put-file" and len(a) == 4:
        put_file(*a)
    elif cmd == "put-tree" and len(a) == 5:
        put_tree(a[0], a[1], a[2], a[3], int(a[4]))
    elif cmd == "ttfb" and len(a) == 1:
        ttfb(a[0])
    elif cmd == "fio-stats" and len(a) == 1:
        fio_stats(a[0])
    elif cmd == "wait-tier" and len(a) == 4:
        wait_tier(a[0], a[1], int(a[2]), float(a[3]))
    elif cmd == "report" and len(a) >= 2:
        report(a[0], a[1], benchtool.parse_infos(a[2:]))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""treetool.py — test data for the integration scenarios.

  gen DIR [--files N] [--seed S] [--chunk-size C]   write a varied tree
  mutate DIR [--seed S]                             change a few files, add, remove
  compare SRC MNT                                   every name, type, mode, size,
                                                    target and byte must match
  chunks CHUNK_SIZE DIR...                          distinct chunks across trees
"""
import hashlib
import os
import random
import stat
import sys


def write(path, data, mode=0o644):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)
    os.chmod(path, mode)


def gen(root, files=2000, seed=1, chunk=1 << 20):
    rnd = random.Random(seed)
    os.makedirs(root, exist_ok=True)
    # Fixed shapes every run must cover.
    write(os.path.join(root, "empty"), b"")
    write(os.path.join(root, "one-byte"), b"x")
    write(os.path.join(root, "with space.txt"), b"spaces in names\n")
    write(os.path.join(root, "données", "été ☀.csv"), b"a,b\n1,2\n")
    write(os.path.join(root, "exec.sh"), b"#!/bin/sh\necho hi\n", 0o755)
    write(os.path.join(root, "private"), b"secret-ish\n", 0o600)
    # multi-chunk files whose sizes are not multiples of the chunk size
    for i, n in enumerate((chunk + 1, 3 * chunk + 12345, 2 * chunk - 1)):
        write(os.path.join(root, "big", "f%d.bin" % i), rnd.randbytes(n))
    write(os.path.join(root, "big", "exact.bin"), rnd.randbytes(2 * chunk))
    os.makedirs(os.path.join(root, "empty-dir", "nested-empty"), exist_ok=True)
    os.makedirs(os.path.join(root, "deep", "a", "b", "c", "d", "e"), exist_ok=True)
    write(os.path.join(root, "deep", "a", "b", "c", "d", "e", "leaf"), b"leaf\n")
    os.symlink("one-byte", os.path.join(root, "link-to-file"))
    os.symlink("big", os.path.join(root, "link-to-dir"))
    os.symlink("../../one-byte", os.path.join(root, "deep", "a", "up-link"))
    # Bulk: nested directories of small files, some duplicated content.
    made = 0
    d = 0
    while made < files:
        sub = os.path.join(root, "bulk", "d%03d" % (d // 10), "s%02d" % (d % 10))
        for j in range(rnd.randint(20, 60)):
            size = rnd.choice((0, 1, 17, 100, 1000, 4096, 4097, 20000))
            if rnd.random() < 0.1:
                data = b"duplicate content\n"
            else:
                data = rnd.randbytes(size)
            write(os.path.join(sub, "file-%03d.dat" % j), data, rnd.choice((0o644, 0o640, 0o444)))
            made += 1
        d += 1
    # A directory whose names sort differently bytewise than with '/'.
    write(os.path.join(root, "order", "a", "x"), b"1")
    write(os.path.join(root, "order", "a b"), b"2")
    write(os.path.join(root, "order", "a-b"), b"3")
    write(os.path.join(root, "order", "a.b", "y"), b"4")


def mutate(root, seed=2):
    rnd = random.Random(seed)
    with open(os.path.join(root, "big", "f1.bin"), "r+b") as f:
        f.seek(5)
        f.write(b"MUTATED")          # one chunk of a multi-chunk file changes
    write(os.path.join(root, "new-file.txt"), b"added in v2\n")
    os.remove(os.path.join(root, "one-byte"))
    write(os.path.join(root, "one-byte"), b"y")
    os.remove(os.path.join(root, "bulk", "d000", "s00", "file-000.dat"))
    write(os.path.join(root, "bulk", "d000", "s00", "file-001.dat"), rnd.randbytes(3000))


def walk(root):
    """Yields (relative path, lstat) for everything under root, sorted."""
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(dirnames + filenames):
            full = os.path.join(dirpath, name)
            yield os.path.relpath(full, root), os.lstat(full)


def compare(src, mnt):
    src_entries = dict(walk(src))
    mnt_entries = dict(walk(mnt))
    problems = []
    only_src = sorted(set(src_entries) - set(mnt_entries))
    only_mnt = sorted(set(mnt_entries) - set(src_entries))
    if only_src:
        problems.append("missing from mount: %s" % only_src[:10])
    if only_mnt:
        problems.append("extra in mount: %s" % only_mnt[:10])
    nfiles = 0
    for rel, s in src_entries.items():
        m = mnt_entries.get(rel)
        if m is None:
            continue
        if stat.S_IFMT(s.st_mode) != stat.S_IFMT(m.st_mode):
            problems.append("%s: type differs" % rel)
            continue
        if stat.S_IMODE(s.st_mode) != stat.S_IMODE(m.st_mode) and not stat.S_ISLNK(s.st_mode):
            problems.append("%s: mode %o != %o" % (rel, stat.S_IMODE(s.st_mode), stat.S_IMODE(m.st_mode)))
        if stat.S_ISLNK(s.st_mode):
            a, b = os.readlink(os.path.join(src, rel)), os.readlink(os.path.join(mnt, rel))
            if a != b:
                problems.append("%s: link target %r != %r" % (rel, a, b))
        elif stat.S_ISREG(s.st_mode):
            nfiles += 1
            if s.st_size != m.st_size:
                problems.append("%s: size %d != %d" % (rel, s.st_size, m.st_size))
            elif int(s.st_mtime) != int(m.st_mtime):
                problems.append("%s: mtime %d != %d" % (rel, s.st_mtime, m.st_mtime))
            else:
                with open(os.path.join(src, rel), "rb") as a, open(os.path.join(mnt, rel), "rb") as b:
                    while True:
                        x, y = a.read(1 << 20), b.read(1 << 20)
                        if x != y:
                            problems.append("%s: content differs" % rel)
                            break
                        if not x:
                            break
    for p in problems[:20]:
        print("compare: " + p, file=sys.stderr)
    if problems:
        sys.exit(1)
    print("%d entries, %d files identical" % (len(src_entries), nfiles))


def chunks(chunk, roots):
    seen = set()
    for root in roots:
        for rel, s in walk(root):
            if not stat.S_ISREG(s.st_mode):
                continue
            with open(os.path.join(root, rel), "rb") as f:
                while True:
                    b = f.read(chunk)
                    if not b:
                        break
                    seen.add(hashlib.sha256(b).digest())
    print(len(seen))


def main(argv):
    cmd = argv[1]
    opts = {}
    args = []
    i = 2
    while i < len(argv):
        if argv[i].startswith("--"):
            opts[argv[i][2:]] = int(argv[i + 1])
            i += 2
        else:
            args.append(argv[i])
            i += 1
    if cmd == "gen":
        gen(args[0], opts.get("files", 2000), opts.get("seed", 1), opts.get("chunk-size", 1 << 20))
    elif cmd == "mutate":
        mutate(args[0], opts.get("seed", 2))
    elif cmd == "compare":
        compare(args[0], args[1])
    elif cmd == "chunks":
        chunks(int(args[0]), args[1:])
    else:
        sys.exit("unknown command " + cmd)


if __name__ == "__main__":
    main(sys.argv)

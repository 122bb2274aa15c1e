#!/usr/bin/env python3
"""rusage.py: run a command and report what it cost, as one JSON object on stdout.

    python3 bench/rusage.py [--repeat N] [--stdout FILE] [--stderr FILE] -- CMD [ARG...]

For each of N runs (default 1): wall seconds (fork to reap, monotonic clock), peak resident set
size of the child in KiB (ru_maxrss from wait4), user and system CPU seconds, and the exit code.
The command's stdout/stderr go to the named files (the last run's), else to /dev/null.
This is the benchmark's stand-in for `/usr/bin/time -f` that needs no extra Debian package:
os.wait4 gives the child's own rusage, not the wrapper's.
"""
import json
import os
import sys
import time


def run_once(argv, out_path, err_path):
    out = os.open(out_path or os.devnull, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    err = os.open(err_path or os.devnull, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    t0 = time.monotonic()
    pid = os.fork()
    if pid == 0:
        try:
            os.dup2(out, 1)
            os.dup2(err, 2)
            os.execvp(argv[0], argv)
        except OSError as e:
            os.write(2, ("rusage.py: %s: %s\n" % (argv[0], e)).encode())
        os._exit(127)
    os.close(out)
    os.close(err)
    _, status, ru = os.wait4(pid, 0)
    wall = time.monotonic() - t0
    code = os.waitstatus_to_exitcode(status)
    return {"wall_s": wall, "maxrss_kb": ru.ru_maxrss, "user_s": ru.ru_utime,
            "sys_s": ru.ru_stime, "exit": code}


def main(args):
    repeat, out_path, err_path = 1, None, None
    while args and args[0] != "--":
        opt = args.pop(0)
        if opt == "--repeat":
            repeat = int(args.pop(0))
        elif opt == "--stdout":
            out_path = args.pop(0)
        elif opt == "--stderr":
            err_path = args.pop(0)
        else:
            sys.stderr.write("rusage.py: unknown option %s\n" % opt)
            return 2
    if not args or len(args) < 2:
        sys.stderr.write("usage: rusage.py [--repeat N] [--stdout F] [--stderr F] -- CMD...\n")
        return 2
    argv = args[1:]
    runs = [run_once(argv, out_path, err_path) for _ in range(repeat)]
    json.dump({"runs": runs}, sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

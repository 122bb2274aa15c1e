"""Run a command under a pseudo-terminal, as a person at a terminal would.

usage: python3 pty_run.py OUT_FILE COMMAND [ARG...]
Everything the command writes to the terminal is saved, byte for byte, to OUT_FILE; the exit
status is the command's (128 + signal if it was killed).
"""
import os
import pty
import sys


def main():
    out_path, argv = sys.argv[1], sys.argv[2:]
    chunks = []

    def read(fd):
        data = os.read(fd, 65536)
        chunks.append(data)
        return data

    status = pty.spawn(argv, read)
    with open(out_path, "wb") as f:
        f.write(b"".join(chunks))
    code = os.waitstatus_to_exitcode(status)
    sys.exit(code if code >= 0 else 128 - code)


if __name__ == "__main__":
    main()

"""Build a wheel of the stub `ray` (tests/fixtures/ray_stub) into a folder.

usage: python3 stub_wheel.py OUT_DIR [VERSION]   (prints the wheel's path)

The wheel is real enough for `pip install --no-index --find-links OUT_DIR ray==VERSION`:
`ray/...` files, `ray-VERSION.dist-info/{METADATA,WHEEL,entry_points.txt,RECORD}`, and the
`ray` console script pointing at `ray.scripts:main`. The version line of ray/__init__.py is
rewritten to VERSION so `ray --version` and `ray.__version__` agree with the metadata.
"""
import base64
import hashlib
import os
import re
import sys
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.path.join(HERE, "..", "fixtures", "ray_stub", "ray")


def digest(data):
    h = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return "sha256=" + h


def package_files(version):
    """(archive name, bytes) for every .py file of the stub package."""
    for name in sorted(os.listdir(SOURCE)):
        if not name.endswith(".py"):
            continue
        with open(os.path.join(SOURCE, name), "rb") as f:
            data = f.read()
        if name == "__init__.py":
            data, n = re.subn(rb'(?m)^__version__ = .*$',
                              b'__version__ = "' + version.encode() + b'"', data)
            if n != 1:
                raise SystemExit("stub_wheel: no __version__ line in ray/__init__.py")
        yield "ray/" + name, data


def build(out_dir, version):
    if not re.fullmatch(r"[0-9]+(\.[0-9]+)*", version):
        raise SystemExit("stub_wheel: version must look like 1.2.3, got %r" % version)
    info = "ray-%s.dist-info" % version
    files = list(package_files(version))
    files.append((info + "/METADATA", (
        "Metadata-Version: 2.1\nName: ray\nVersion: %s\n"
        "Summary: stub ray for raycai tests\n" % version).encode()))
    files.append((info + "/WHEEL", (
        b"Wheel-Version: 1.0\nGenerator: raycai-stub-wheel\n"
        b"Root-Is-Purelib: true\nTag: py3-none-any\n")))
    files.append((info + "/entry_points.txt", b"[console_scripts]\nray = ray.scripts:main\n"))
    record = "".join("%s,%s,%d\n" % (n, digest(d), len(d)) for n, d in files)
    record += info + "/RECORD,,\n"
    files.append((info + "/RECORD", record.encode()))
    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, "ray-%s-py3-none-any.whl" % version)
    with zipfile.ZipFile(path + ".tmp", "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in files:
            z.writestr(name, data)
    os.replace(path + ".tmp", path)
    return path


if __name__ == "__main__":
    if len(sys.argv) not in (2, 3):
        raise SystemExit("usage: stub_wheel.py OUT_DIR [VERSION]")
    print(build(sys.argv[1], sys.argv[2] if len(sys.argv) == 3 else "2.40.0"))

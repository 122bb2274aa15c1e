"""Build a wheel of the stub `ray` (tests/fixtures/ray_stub) into a folder.

usage: python3 stub_wheel.py OUT_DIR [VERSION] [--broken-cli]   (prints the wheel's path)

The wheel is real enough for `pip install --no-index --find-links OUT_DIR ray==VERSION`:
`ray/...` files, `ray-VERSION.dist-info/{METADATA,WHEEL,entry_points.txt,RECORD}`, and the
`ray` console script pointing at `ray.scripts:main`. The version line of ray/__init__.py is
rewritten to VERSION so `ray --version` and `ray.__version__` agree with the metadata.
VERSION defaults to raycai's default Ray (lua/raycai/ray/versions.lua, M.DEFAULT).

--broken-cli builds a wheel whose `import ray` works but whose `ray` command dies while loading
ray/scripts.py, with the error Ray before 2.53 shows under click 8.3 (ray-project/ray#56747):
`ValueError: <object object at 0x...> is not a valid Sentinel`.
"""
import base64
import hashlib
import os
import re
import sys
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.path.join(HERE, "..", "fixtures", "ray_stub", "ray")
VERSIONS_LUA = os.path.join(HERE, "..", "..", "lua", "raycai", "ray", "versions.lua")
# What scripts.py's add_command_alias() -> copy.deepcopy(command) raises under click 8.3.
BROKEN = (b'import copy\n'
          b'class _Sentinel:\n'
          b'    def __deepcopy__(self, memo):\n'
          b'        raise ValueError("%r is not a valid Sentinel" % object())\n'
          b'copy.deepcopy(_Sentinel())  # add_command_alias(up, name="create_or_update")\n')


def digest(data):
    h = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return "sha256=" + h


def default_version():
    with open(VERSIONS_LUA, encoding="utf-8") as f:
        m = re.search(r'M\.DEFAULT = "([^"]+)"', f.read())
    if not m:
        raise SystemExit("stub_wheel: no M.DEFAULT in %s" % VERSIONS_LUA)
    return m.group(1)


def package_files(version, broken=False):
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
        if name == "scripts.py" and broken:
            data = BROKEN + data
        yield "ray/" + name, data


def build(out_dir, version, broken=False):
    if not re.fullmatch(r"[0-9]+(\.[0-9]+)*", version):
        raise SystemExit("stub_wheel: version must look like 1.2.3, got %r" % version)
    info = "ray-%s.dist-info" % version
    files = list(package_files(version, broken))
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
    args = [a for a in sys.argv[1:] if a != "--broken-cli"]
    if len(args) not in (1, 2):
        raise SystemExit("usage: stub_wheel.py OUT_DIR [VERSION] [--broken-cli]")
    print(build(args[0], args[1] if len(args) == 2 else default_version(),
                "--broken-cli" in sys.argv[1:]))

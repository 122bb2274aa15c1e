"""Build an empty wheel NAME-VERSION-py3-none-any.whl into OUT_DIR, for a requirement a test
needs satisfied offline (e.g. the click<8.3 raycai adds for Ray before 2.53), where what the
package does does not matter: `python3 empty_wheel.py OUT_DIR NAME VERSION`."""
import base64
import hashlib
import os
import sys
import zipfile


def digest(data):
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


out, name, version = sys.argv[1], sys.argv[2], sys.argv[3]
info = "%s-%s.dist-info" % (name, version)
files = [
    ("%s/__init__.py" % name, b'"""An empty stand-in for tests."""\n'),
    (info + "/METADATA", ("Metadata-Version: 2.1\nName: %s\nVersion: %s\n" % (name, version)).encode()),
    (info + "/WHEEL", b"Wheel-Version: 1.0\nGenerator: raycai-tests\nRoot-Is-Purelib: true\n"
                      b"Tag: py3-none-any\n"),
]
record = "".join("%s,%s,%d\n" % (n, digest(d), len(d)) for n, d in files) + info + "/RECORD,,\n"
path = os.path.join(out, "%s-%s-py3-none-any.whl" % (name, version))
with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
    for n, d in files:
        z.writestr(n, d)
    z.writestr(info + "/RECORD", record)
print(path)

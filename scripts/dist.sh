#!/bin/sh
# scripts/dist.sh BUILD_DIR VERSION SOURCE_DIR: the relocatable tarball of `make dist`,
#   BUILD_DIR/raycai-VERSION-linux-ARCH.tar.gz, unpacked as raycai-VERSION-linux-ARCH/:
#   bin/raycai-run   Lua, lua-cjson, the library, templates, recipes and raycai.http inside
#   bin/cml-sim      the simulator, for offline rehearsal
#   lib/             libcjson.so.1 (cml-sim's; found through its RPATH $ORIGIN/../lib)
#   README.md LICENSE
# Run by the build (cmake --build build --target dist); see docs/install.md.
set -eu
build=$1 version=$2 src=$3
arch=$(uname -m)
name="raycai-$version-linux-$arch"
stage="$build/dist/stage"
rm -rf "$stage"
mkdir -p "$stage/$name/bin" "$stage/$name/lib"
cp "$build/dist/bin/raycai-run" "$build/dist/bin/cml-sim" "$stage/$name/bin/"
# the libraries cml-sim needs that a CML runtime image lacks: libcjson (ldd names the file)
cjson=$(ldd "$build/dist/bin/cml-sim" | awk '/libcjson\.so/ { print $3 }')
[ -n "$cjson" ] || { echo "dist.sh: cml-sim does not link libcjson?" >&2; exit 1; }
cp -L "$cjson" "$stage/$name/lib/"
cp "$src/README.md" "$src/LICENSE" "$stage/$name/"
strip "$stage/$name/bin/raycai-run" "$stage/$name/bin/cml-sim" 2>/dev/null || true
tar -C "$stage" -czf "$build/$name.tar.gz.tmp" --owner=0 --group=0 "$name"
mv "$build/$name.tar.gz.tmp" "$build/$name.tar.gz"
rm -rf "$stage"
echo "$build/$name.tar.gz"

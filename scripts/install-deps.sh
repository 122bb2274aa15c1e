#!/bin/sh
# Install the Debian 12 packages raycai builds, runs and tests with. Run as root.
set -eu
PACKAGES="gcc make cmake pkg-config lua5.4 liblua5.4-dev libcurl4-openssl-dev lua-cjson lua-cjson-dev
lua-busted lua-check luarocks libmicrohttpd-dev libcjson-dev python3 python3-venv openssl curl bash-completion valgrind
clang libclang-rt-14-dev time python3-click"
if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps.sh: run as root (sudo make deps)" >&2
  exit 2
fi
missing=""
for p in $PACKAGES; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -z "$missing" ]; then
  echo "install-deps.sh: all packages present"
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing

#!/usr/bin/env bash
# Make sure a headless Chromium is available for the browser tests (tests/report/, tests/serve/).
#
# Installs Debian's `chromium` package with apt-get when no Chromium is found and we run as root.
# Quiet, and always exits 0: where Chromium cannot be installed (no root, no apt-get, no network),
# the browser test skips and says why.
set -u

have_chromium() {
    for name in chromium chromium-browser google-chrome google-chrome-stable; do
        command -v "$name" >/dev/null 2>&1 && return 0
    done
    return 1
}

if have_chromium; then
    exit 0
fi
if [ "$(id -u)" != "0" ]; then
    echo "ensure-chromium: not root, not installing chromium (the browser test will skip)" >&2
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "ensure-chromium: no apt-get, not installing chromium (the browser test will skip)" >&2
    exit 0
fi

export DEBIAN_FRONTEND=noninteractive
if ! apt-get install -y -qq --no-install-recommends chromium >/dev/null 2>&1; then
    apt-get update -qq >/dev/null 2>&1
    apt-get install -y -qq --no-install-recommends chromium >/dev/null 2>&1 \
        || echo "ensure-chromium: apt-get could not install chromium (the browser test will skip)" >&2
fi
exit 0

#!/usr/bin/env bash
# Install everything scenegen needs on a fresh Debian/Ubuntu machine: system libraries (when
# root and missing), a virtual environment with the CPU build of PyTorch, and scenegen itself.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
PYTHON=${PYTHON:-python3}

# libusb, GL, EGL and X11 client libraries: Open3D's shared library links them even headless.
# Mesa's EGL and llvmpipe: the viewer's OpenGL renderer with no GPU and no display. Qt's
# platform libraries, and Xvfb for the viewer's real-window test.
need_apt=()
for pkg in libusb-1.0-0 libgomp1 libgl1 libegl1 libx11-6 libegl-mesa0 libgl1-mesa-dri \
           libxkbcommon0 libxkbcommon-x11-0 libfontconfig1 libdbus-1-3 libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 \
           libxcb-image0 libxcb-render-util0 libxcb-shape0 libxcb-randr0 libxcb-xinerama0 xvfb xauth; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need_apt+=("$pkg")
done
"$PYTHON" -c "import ensurepip" 2>/dev/null || need_apt+=(python3-venv)
if ((${#need_apt[@]})); then
  if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
    echo "scenegen setup: installing system packages: ${need_apt[*]}"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
  else
    echo "scenegen setup: please install these system packages first: ${need_apt[*]}" >&2
  fi
fi

[[ -x $VENV/bin/python ]] || "$PYTHON" -m venv "$VENV"
"$VENV/bin/python" -m pip install -q --upgrade pip
# The CPU build of PyTorch: an unpinned torch would pull a multi-GB CUDA build, so the pin names
# the +cpu build and fails loudly rather than falling back to a CUDA one.
"$VENV/bin/python" -m pip install -q "torch==2.13.0+cpu"
"$VENV/bin/python" -m pip install -q -e ".[dev,viewer,cluster]"
touch "$VENV/.installed"
echo "scenegen setup: ready ($VENV)"

#!/usr/bin/env bash
# Installs the Debian packages the hub and its tests need, when missing. As root: apt-get installs them.
# Not root: prints the exact command to run and fails. Fast when everything is present (no apt call).
set -euo pipefail

missing=()
need_cmd() { command -v "$1" >/dev/null 2>&1 || missing+=("$2"); }
need_file() { [ -e "$1" ] || missing+=("$2"); }

need_cmd ffmpeg ffmpeg
need_cmd ffprobe ffmpeg
need_cmd redis-server redis-server
# PostgreSQL server binaries: the tests start a private server from them (tests/support/postgres.py)
compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || missing+=(postgresql)
need_file /usr/share/doc/opencv-doc/examples/data/vtest.avi opencv-doc
need_file /usr/bin/python3 python3
need_file /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf fonts-dejavu-core
need_cmd npm npm  # make lint: TypeScript checks the web app's JSDoc types (tools/jscheck)
need_cmd node nodejs
need_file /usr/bin/chromium chromium  # the web app's browser tests (tests/web, Playwright) and `make screenshots`
need_file /usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc fonts-noto-cjk  # CJK text in the browser and snapshots
if [ -x /usr/bin/python3 ]; then
  /usr/bin/python3 -c "import gi" 2>/dev/null || missing+=(python3-gi)
  /usr/bin/python3 - <<'PY' 2>/dev/null || missing+=(gir1.2-gst-rtsp-server-1.0 gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad gstreamer1.0-plugins-ugly)
import gi
gi.require_version("Gst", "1.0"); gi.require_version("GstRtspServer", "1.0")
from gi.repository import Gst, GstRtspServer  # noqa: F401
Gst.init(None)
for name in ("qtdemux", "h264parse", "rtph264pay", "appsrc", "appsink"):
    assert Gst.ElementFactory.find(name) is not None, name
PY
fi

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
# de-duplicate
mapfile -t pkgs < <(printf '%s\n' "${missing[@]}" | sort -u)
if [ "$(id -u)" -ne 0 ]; then
  echo "Sharp Eyes Hub needs these Debian packages, which are missing:" >&2
  echo "  sudo apt-get install -y ${pkgs[*]}" >&2
  exit 1
fi
echo "Installing Debian packages: ${pkgs[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null
echo "Debian packages installed."

#!/usr/bin/env bash
# The main job: build ossuring, then mount a bucket and show what the mount does.
#
# With OSS_BUCKET unset (the default) it starts the bundled OSS emulator on a generated
# ImageNet-like dataset (2 ms added per request, like a same-region network), mounts it in index
# mode and walks, stats and reads it while the emulator counts the requests. With OSS_BUCKET,
# OSS_ENDPOINT and credentials in the environment (OSS_ACCESS_KEY_ID/OSS_ACCESS_KEY_SECRET) it
# mounts that bucket read-only instead and runs the same walk.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh
exec python3 tools/demo.py "$@"

#!/bin/sh
# Build the image and use it as a pipeline step would: `doctor`, then the main command on the
# bundled example, then check that OUT and its manifest exist.
#   docker/smoke.sh                    # docker (or: docker/smoke.sh podman)
#   docker/smoke.sh buildah [BASE [BUILD FLAGS...]]   # where only buildah works (no runtime)
# BUILD FLAGS go to the build as they are, e.g. --build-arg PIP_FIND_LINKS=... --secret ...
set -eu
engine=${1:-docker}
base=${2:-}
[ $# -gt 2 ] && shift 2 || set --
tag=localhost/soft-sanitize:smoke
cd "$(dirname "$0")/.."
work=$(mktemp -d)
cp examples/support_chats.jsonl "$work/"
chmod 0777 "$work"  # the image runs as uid 10001

if [ "$engine" = buildah ]; then
    buildah bud --isolation chroot ${base:+--build-arg BASE="$base"} "$@" -t "$tag" .
    ctr=$(buildah from "$tag")
    trap 'buildah rm "$ctr" >/dev/null' EXIT
    run() { buildah run --isolation chroot -v "$work:/data" "$ctr" -- soft-sanitize "$@"; }
else
    "$engine" build ${base:+--build-arg BASE="$base"} "$@" -t "$tag" .
    run() { "$engine" run --rm -v "$work:/data" "$tag" "$@"; }
fi

run doctor
run /data/support_chats.jsonl /data/out.jsonl --ratio 0.3
test -s "$work/out.jsonl"
test -s "$work/out.jsonl.manifest.json"
echo "smoke test passed: $(wc -l < "$work/out.jsonl") records in OUT"

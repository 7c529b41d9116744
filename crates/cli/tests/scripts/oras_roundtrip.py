#!/usr/bin/env python3
"""Push a Wasm module with the oras Python SDK, list tags, pull it back.

Driven by crates/cli/tests/clients.rs (test `oras_python_sdk_round_trip`); the Rust side makes
the module and the config, and compares sha256 of what comes back. This script only talks to the
registry and writes what it saw as JSON to --result.

Two pushes of the same artifact to two tags: `v1` with monolithic blob uploads (POST then PUT),
`v1-chunked` with `do_chunked=True` (POST, one PATCH per --chunk-size bytes with Content-Range,
then PUT ?digest=).
"""

import argparse
import json
import os
import sys

# solo.io Wasm OCI image, "oci" variant (the original WebAssembly Hub format)
CONFIG_MEDIA_TYPE = "application/vnd.module.wasm.config.v1+json"
LAYER_MEDIA_TYPE = "application/vnd.module.wasm.content.layer.v1+wasm"


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", required=True, help="registry host:port (plain HTTP)")
    parser.add_argument("--repo", required=True, help="repository name, e.g. ns/plugin")
    parser.add_argument("--module", required=True, help="path of the .wasm file to push")
    parser.add_argument("--config", required=True, help="path of the config JSON to push")
    parser.add_argument("--outdir", required=True, help="pulled files go to OUTDIR/<tag>/")
    parser.add_argument("--result", required=True, help="JSON result file to write")
    parser.add_argument("--chunk-size", type=int, default=64 * 1024)
    args = parser.parse_args()

    import oras.client  # imported here so a missing package gives one clear traceback

    for path in (args.module, args.config):
        if ":" in path:
            # oras-py splits "path:media-type" on the colon
            raise SystemExit(f"path must not contain ':': {path}")

    client = oras.client.OrasClient(hostname=args.host, insecure=True)
    base = f"{args.host}/{args.repo}"
    result = {"pushed": {}, "tags": [], "pulled": {}, "manifests": {}}

    for tag, chunked in (("v1", False), ("v1-chunked", True)):
        response = client.push(
            target=f"{base}:{tag}",
            files=[f"{args.module}:{LAYER_MEDIA_TYPE}"],
            manifest_config=f"{args.config}:{CONFIG_MEDIA_TYPE}",
            manifest_annotations={"module.wasm.runtime/type": "envoy_proxy"},
            disable_path_validation=True,
            do_chunked=chunked,
            chunk_size=args.chunk_size,
        )
        result["pushed"][tag] = {
            "status": response.status_code,
            "digest": response.headers.get("Docker-Content-Digest"),
        }

    result["tags"] = sorted(client.get_tags(f"{base}:v1"))

    for tag in ("v1", "v1-chunked"):
        outdir = os.path.join(args.outdir, tag)
        os.makedirs(outdir, exist_ok=True)
        files = client.pull(target=f"{base}:{tag}", outdir=outdir)
        result["pulled"][tag] = [os.path.abspath(f) for f in files]
        result["manifests"][tag] = client.get_manifest(f"{base}:{tag}")

    with open(args.result, "w", encoding="utf-8") as out:
        json.dump(result, out, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())

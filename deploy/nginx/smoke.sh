#!/usr/bin/env bash
# Pushes and pulls through deploy/nginx/wasmhub.conf, as shipped but for its port, upstream and
# certificate: a streamed (chunked) 24 MiB PATCH, a monolithic 8 MiB POST, a manifest, and
# pulls of all of them over HTTPS, checking every digest. Also that the proxy's
# X-Forwarded-For reaches the audit log. Needs nginx, openssl, python3 and a built wasmhub.
#
#     bash deploy/nginx/smoke.sh [path/to/wasmhub]     (default: target/debug/wasmhub)
set -euo pipefail
cd "$(dirname "$0")/../.."
WASMHUB=${1:-target/debug/wasmhub}
[[ -x "$WASMHUB" ]] || { echo "smoke.sh: $WASMHUB is not built" >&2; exit 1; }
for command in nginx openssl python3; do
    command -v "$command" >/dev/null || { echo "smoke.sh: $command is not installed" >&2; exit 1; }
done

DIR=$(mktemp -d)
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
WH_PORT=$(free_port)
NG_PORT=$(free_port)
cleanup() {
    [[ -f "$DIR/nginx.pid" ]] && kill "$(cat "$DIR/nginx.pid")" 2>/dev/null || true
    [[ -n "${WH_PID:-}" ]] && kill "$WH_PID" 2>/dev/null || true
    wait 2>/dev/null || true
    rm -rf "$DIR"
}
trap cleanup EXIT

openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=127.0.0.1 \
    -keyout "$DIR/key.pem" -out "$DIR/cert.pem" >/dev/null 2>&1
sed -e "s|listen 443 ssl|listen 127.0.0.1:$NG_PORT ssl|" \
    -e "s|server 127.0.0.1:5000;|server 127.0.0.1:$WH_PORT;|" \
    -e "s|/etc/ssl/certs/registry.example.com.pem|$DIR/cert.pem|" \
    -e "s|/etc/ssl/private/registry.example.com.key|$DIR/key.pem|" \
    deploy/nginx/wasmhub.conf >"$DIR/wasmhub.conf"
grep -q "127.0.0.1:$NG_PORT ssl" "$DIR/wasmhub.conf" || { echo "smoke.sh: the config's listen line changed" >&2; exit 1; }
mkdir -m 777 "$DIR/tmp"
cat >"$DIR/nginx.conf" <<CONF
worker_processes 1;
pid $DIR/nginx.pid;
error_log $DIR/nginx.error.log;
events {}
http {
    access_log off;
    client_body_temp_path $DIR/tmp/body;
    proxy_temp_path $DIR/tmp/proxy;
    fastcgi_temp_path $DIR/tmp/fastcgi;
    uwsgi_temp_path $DIR/tmp/uwsgi;
    scgi_temp_path $DIR/tmp/scgi;
    include $DIR/wasmhub.conf;
}
CONF
nginx -t -q -c "$DIR/nginx.conf"
nginx -c "$DIR/nginx.conf"

WASMHUB_AUTH=none WASMHUB_LISTEN="127.0.0.1:$WH_PORT" WASMHUB_TRUSTED_PROXIES=127.0.0.1 \
    WASMHUB_PUBLIC_URL="https://127.0.0.1:$NG_PORT" \
    WASMHUB_DATABASE_URL="sqlite://$DIR/wasmhub.db" WASMHUB_STORAGE_URL="file://$DIR/blobs" \
    "$WASMHUB" serve >"$DIR/wasmhub.log" 2>&1 &
WH_PID=$!
for _ in $(seq 1 60); do
    curl -sfk "https://127.0.0.1:$NG_PORT/healthz" >/dev/null 2>&1 && break
    sleep 0.5
done

if ! python3 - "$NG_PORT" <<'PY'; then
import hashlib, http.client, json, os, ssl, sys
port = int(sys.argv[1])
context = ssl._create_unverified_context()
def connect():
    return http.client.HTTPSConnection("127.0.0.1", port, context=context, timeout=60)
def request(method, path, body=None, headers=None, chunked=False):
    connection = connect()
    connection.request(method, path, body=body, headers=headers or {}, encode_chunked=chunked)
    response = connection.getresponse()
    data = response.read()
    connection.close()
    return response, data
def digest(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()
def location(response):
    where = response.getheader("Location")
    return where.split(f":{port}", 1)[1] if where.startswith("http") else where

streamed, monolithic, config = os.urandom(24 << 20), os.urandom(8 << 20), b'{"architecture":"wasm","os":"wasip1"}'
response, _ = request("POST", "/v2/smoke/app/blobs/uploads/")
assert response.status == 202, response.status
assert response.getheader("Docker-Distribution-Api-Version") == "registry/2.0"
pieces = (streamed[i:i + (1 << 20)] for i in range(0, len(streamed), 1 << 20))
response, _ = request("PATCH", location(response), pieces, {"Content-Type": "application/octet-stream"}, chunked=True)
assert response.status == 202, ("PATCH", response.status)
separator = "&" if "?" in location(response) else "?"
response, _ = request("PUT", f"{location(response)}{separator}digest={digest(streamed)}")
assert response.status == 201, ("PUT", response.status)
for blob in (monolithic, config):
    response, _ = request("POST", f"/v2/smoke/app/blobs/uploads/?digest={digest(blob)}", blob,
                          {"Content-Type": "application/octet-stream"})
    assert response.status == 201, ("POST ?digest=", response.status)
manifest = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
    "artifactType": "application/wasm",
    "config": {"mediaType": "application/vnd.wasm.config.v0+json", "digest": digest(config), "size": len(config)},
    "layers": [{"mediaType": "application/wasm", "digest": digest(b), "size": len(b)} for b in (streamed, monolithic)]}).encode()
response, _ = request("PUT", "/v2/smoke/app/manifests/v1", manifest,
                      {"Content-Type": "application/vnd.oci.image.manifest.v1+json", "X-Forwarded-For": "203.0.113.7"})
assert response.status == 201, ("PUT manifest", response.status)
for blob in (streamed, monolithic, config):
    response, data = request("GET", f"/v2/smoke/app/blobs/{digest(blob)}")
    assert response.status == 200 and digest(data) == digest(blob), ("GET blob", response.status)
response, data = request("GET", "/v2/smoke/app/manifests/v1", headers={"Accept": "application/vnd.oci.image.manifest.v1+json"})
assert response.status == 200 and data == manifest, ("GET manifest", response.status)
response, _ = request("GET", "/metrics")
assert response.status == 404, ("/metrics is public", response.status)
print("through nginx: streamed 24 MiB, monolithic 8 MiB, manifest, pulls: all digests match; /metrics hidden")
PY
    echo "---- wasmhub log ----" >&2; tail -n 30 "$DIR/wasmhub.log" >&2
    echo "---- nginx error log ----" >&2; tail -n 30 "$DIR/nginx.error.log" >&2
    exit 1
fi

# nginx appended its peer (127.0.0.1) to the client's X-Forwarded-For; wasmhub trusts
# 127.0.0.1, so the audit log names the client's address.
if command -v sqlite3 >/dev/null; then
    recorded=$(sqlite3 "$DIR/wasmhub.db" "SELECT client_ip FROM audit_log WHERE action = 'manifest.push'")
    [[ "$recorded" == "203.0.113.7" ]] || { echo "smoke.sh: audited client address $recorded, not 203.0.113.7" >&2; exit 1; }
    echo "the audit log names the client behind the proxy: $recorded"
fi

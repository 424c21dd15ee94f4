#!/usr/bin/env bash
# Verify one party's signature of a qos-broker contract (a JWS in the JSON
# General Serialization, EdDSA/Ed25519) with OpenSSL 3 and jq alone.
#   verify-openssl.sh CONTRACT.json DOMAIN PUBLIC-KEY.pem
# Prints the party's protected header, then OpenSSL's verdict; exits non-zero
# when the domain has no signature or it does not verify with the key.
set -euo pipefail
contract=$1 domain=$2 pem=$3
b64url_d() { local s; s=$(cat); while [ $(( ${#s} % 4 )) -ne 0 ]; do s="$s="; done; printf '%s' "$s" | basenc --base64url -d; }
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
n=$(jq '.signatures | length' "$contract")
for i in $(seq 0 $((n - 1))); do
  header=$(jq -r ".signatures[$i].protected" "$contract" | b64url_d)
  [ "$(printf '%s' "$header" | jq -r .domain)" = "$domain" ] || continue
  echo "$header"
  # the JWS signing input: ASCII(BASE64URL(protected) || '.' || BASE64URL(payload))
  printf '%s.%s' "$(jq -r ".signatures[$i].protected" "$contract")" "$(jq -r .payload "$contract")" > "$tmp/input"
  jq -r ".signatures[$i].signature" "$contract" | b64url_d > "$tmp/sig"
  exec openssl pkeyutl -verify -pubin -inkey "$pem" -rawin -in "$tmp/input" -sigfile "$tmp/sig"
done
echo "no signature of $domain in $contract" >&2
exit 1

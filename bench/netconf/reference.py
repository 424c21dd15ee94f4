"""ncclient reference for bench/netconf: sequential edit-config + commit pairs.

Run with Debian's /usr/bin/python3 (python3-ncclient). Prints one JSON line.
"""
import json
import sys
import time

from ncclient import manager

host, port, user, key, n = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], int(sys.argv[5])
NS = "urn:qos-broker:yang:lab-device"

setups = []
for _ in range(3):
    t0 = time.perf_counter()
    m = manager.connect(host=host, port=port, username=user, key_filename=key, hostkey_verify=False,
                        allow_agent=False, look_for_keys=False, timeout=30)
    setups.append(time.perf_counter() - t0)
    if _ < 2:
        m.close_session()
time.sleep(0.02)
lat = []
t_start = time.perf_counter()
for i in range(n):
    t0 = time.perf_counter()
    m.edit_config(target="candidate",
                  config=f'<config><device xmlns="{NS}"><hostname>ncc-{i}</hostname></device></config>')
    m.commit()
    lat.append(time.perf_counter() - t0)
total = time.perf_counter() - t_start
m.close_session()
lat.sort()
print(json.dumps({
    "pairs_per_s": n / total,
    "p50_ms": lat[len(lat) // 2] * 1000,
    "p99_ms": lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1000,
    "setup_ms": sorted(setups)[1] * 1000,
}))

"""ncclient reference for bench/platforms: the same apply + verify + remove
cycle as drivers/platforms/netconf-apply.ts, RPC for RPC, on the lab device
model. Run with Debian's /usr/bin/python3 (python3-ncclient). Prints one
JSON line.
"""
import json
import sys
import time

from ncclient import manager

host, port, user, key, n = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], int(sys.argv[5])
NS = "urn:qos-broker:yang:lab-device"
NC = "urn:ietf:params:xml:ns:netconf:base:1.0"


def policy(name):
    return (f'<config><device xmlns="{NS}"><qos><policy><name>{name}</name><interface>eth1</interface>'
            '<traffic-class>EF</traffic-class><dscp>46</dscp><source-prefix>198.18.1.0/24</source-prefix>'
            '<destination-prefix>198.18.2.0/24</destination-prefix><committed-rate-kbps>10000</committed-rate-kbps>'
            '<peak-rate-kbps>20000</peak-rate-kbps><burst-bytes>12500</burst-bytes><action>shape</action>'
            '<priority>1</priority></policy></qos></device></config>')


def remove(name):
    return (f'<config><device xmlns="{NS}"><qos><policy xmlns:nc="{NC}" nc:operation="delete">'
            f'<name>{name}</name></policy></qos></device></config>')


def verify_filter(name):
    return ("subtree", f'<device xmlns="{NS}"><qos><policy><name>{name}</name></policy></qos></device>')


m = manager.connect(host=host, port=port, username=user, key_filename=key, hostkey_verify=False,
                    allow_agent=False, look_for_keys=False, timeout=30)
time.sleep(0.02)


def transaction(config, name, prune):
    m.lock("candidate")
    try:
        m.discard_changes()
        m.edit_config(target="candidate", config=config)
        if prune:
            data = m.get_config(source="candidate", filter=("subtree", f'<device xmlns="{NS}"><qos/></device>')).data_xml
            if "<policy>" not in data:
                m.edit_config(target="candidate",
                              config=f'<config><device xmlns="{NS}"><qos xmlns:nc="{NC}" nc:operation="remove"/></device></config>')
        m.commit(confirmed=True, timeout="60")
        running = m.get_config(source="running", filter=verify_filter(name)).data_xml
        if (f"<name>{name}</name>" in running) == prune:
            raise RuntimeError("verify failed")
        m.commit()
    finally:
        m.unlock("candidate")


lat = []
t_start = time.perf_counter()
for i in range(n):
    name = f"ncc-{i}"
    t0 = time.perf_counter()
    transaction(policy(name), name, False)
    transaction(remove(name), name, True)
    lat.append(time.perf_counter() - t0)
total = time.perf_counter() - t_start
m.close_session()
lat.sort()
print(json.dumps({"cycles_per_s": n / total, "p50_ms": lat[len(lat) // 2] * 1000}))

#!/usr/bin/env python3
"""Write a synthetic `hubble observe -o json` log of at least SIZE_MB megabytes (default 1100):
200 workloads in 8 namespaces calling each other, DNS lookups, external calls, each call as
SYN at two observation points + SYN/ACK reply + ACK, with realistic field sets. Deterministic
(fixed seed). Usage: gen_hubble_flows.py OUT [SIZE_MB]"""
import random
import sys

out = sys.argv[1]
size = int(sys.argv[2]) if len(sys.argv) > 2 else 1100
rng = random.Random(42)
workloads = []
for i in range(200):
    ns = "ns%d" % (i % 8)
    name = "svc%d" % i
    labels = ['"k8s:app=%s"' % name, '"k8s:io.kubernetes.pod.namespace=%s"' % ns,
              '"k8s:io.cilium.k8s.namespace.labels.kubernetes.io/metadata.name=%s"' % ns,
              '"k8s:io.cilium.k8s.policy.serviceaccount=%s"' % name, '"k8s:io.cilium.k8s.policy.cluster=default"']
    ep = ('{"ID":%d,"identity":%d,"namespace":"%s","labels":[%s],"pod_name":"%s-7d9c8b5f4-x2k9p",'
          '"workloads":[{"name":"%s","kind":"Deployment"}]}') % (1000 + i, 20000 + i, ns, ",".join(labels), name, name)
    workloads.append((ep, "10.244.%d.%d" % (i // 200, i % 200 + 10), rng.choice([80, 8080, 9090, 5432, 6379, 443])))
dns = ('{"ID":7,"identity":7001,"namespace":"kube-system","labels":["k8s:k8s-app=kube-dns",'
       '"k8s:io.kubernetes.pod.namespace=kube-system"],"pod_name":"coredns-558bd4d5db-w2m67"}')
world = '{"identity":2,"labels":["reserved:world"]}'
edges = [(rng.randrange(200), rng.randrange(200)) for _ in range(1500)]

def line(t, src, dst, sip, dip, l4, reply, point):
    ts = "2026-03-02T%02d:%02d:%02d.%06dZ" % ((t // 3600000000) % 24, (t // 60000000) % 60, (t // 1000000) % 60, t % 1000000)
    return ('{"flow":{"time":"%s","verdict":"FORWARDED","ethernet":{"source":"aa:0a:e6:b9:12:da","destination":"16:a7:56:02:43:76"},'
            '"IP":{"source":"%s","destination":"%s","ipVersion":"IPv4"},"l4":%s,"source":%s,"destination":%s,"Type":"L3_L4",'
            '"node_name":"node-1","event_type":{"type":4},"traffic_direction":"EGRESS","trace_observation_point":"%s",'
            '"is_reply":%s,"Summary":"TCP"},"node_name":"node-1","time":"%s"}\n') % (ts, sip, dip, l4, src, dst, point, reply, ts)

written = 0
t = 0
sport = 30000
with open(out, "w") as f:
    while written < size * 1024 * 1024:
        buf = []
        for _ in range(2000):
            s, d = rng.choice(edges)
            (se, sip, _), (de, dip, dport) = workloads[s], workloads[d]
            sport = 30000 + (sport - 29999) % 30000
            t += 137
            buf.append(line(t, se, dns, sip, "10.244.0.3", '{"UDP":{"source_port":%d,"destination_port":53}}' % sport, "false", "TO_STACK"))
            buf.append(line(t + 3, dns, se, "10.244.0.3", sip, '{"UDP":{"source_port":53,"destination_port":%d}}' % sport, "true", "TO_ENDPOINT"))
            if rng.random() < 0.05:
                ext = "203.0.113.%d" % rng.randrange(1, 255)
                buf.append(line(t + 5, se, world, sip, ext, '{"TCP":{"source_port":%d,"destination_port":443,"flags":{"SYN":true}}}' % sport, "false", "TO_STACK"))
            syn = '{"TCP":{"source_port":%d,"destination_port":%d,"flags":{"SYN":true}}}' % (sport, dport)
            synack = '{"TCP":{"source_port":%d,"destination_port":%d,"flags":{"SYN":true,"ACK":true}}}' % (dport, sport)
            ack = '{"TCP":{"source_port":%d,"destination_port":%d,"flags":{"ACK":true}}}' % (sport, dport)
            buf.append(line(t + 10, se, de, sip, dip, syn, "false", "TO_STACK"))
            buf.append(line(t + 11, se, de, sip, dip, syn, "false", "TO_ENDPOINT"))
            buf.append(line(t + 12, de, se, dip, sip, synack, "true", "TO_STACK"))
            buf.append(line(t + 13, se, de, sip, dip, ack, "false", "TO_ENDPOINT"))
        chunk = "".join(buf)
        f.write(chunk)
        written += len(chunk)
print("wrote %s: %.1f MB" % (out, written / 1e6))

#!/usr/bin/env python3
"""Write the audit log of the `controllers` evaluation app (tests/data/corpus/controllers/audit/).

Three controller-style workloads act as their documented behaviour says (informers list then
watch, leader election renews a Lease, reloads patch Deployments and record Events), not as the
ground-truth Roles are written: permissions a controller holds but does not exercise in the
window (e.g. Reloader never touching a DaemonSet) simply do not appear. Noise: RequestReceived
stages, 403 attempts on resources the controllers are not granted, an admin's kubectl traffic,
and watch re-lists. Deterministic (fixed seed). Usage: gen_corpus_audit.py [CORPUS_DIR]"""
import json
import os
import random
import sys
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "..", "data", "corpus")
rng = random.Random(8)
NS = "controllers"
out = []
clock = [0]


def ev(user, verb, group, version, resource, namespace=None, name=None, sub=None, code=200):
    clock[0] += rng.randrange(50, 3000)
    ms = clock[0]
    ts = "2026-03-02T10:%02d:%02d.%03d000Z" % ((ms // 60000) % 60, (ms // 1000) % 60, ms % 1000)
    base = "/api/v1" if group == "" else "/apis/%s/%s" % (group, version)
    uri = base + ("/namespaces/%s" % namespace if namespace else "") + "/" + resource + ("/" + name if name else "") + ("/" + sub if sub else "")
    if verb == "watch":
        uri += "?watch=true"
    ref = {"resource": resource, "apiVersion": version}
    if group:
        ref["apiGroup"] = group
    if namespace:
        ref["namespace"] = namespace
    if name:
        ref["name"] = name
    if sub:
        ref["subresource"] = sub
    u = {"username": user, "groups": ["system:serviceaccounts", "system:authenticated"]}
    if user.startswith("system:serviceaccount:"):
        u["groups"].insert(1, "system:serviceaccounts:" + user.split(":")[2])
    aid = str(uuid.UUID(int=rng.getrandbits(128)))
    for stage in (["RequestReceived", "ResponseComplete"] if rng.random() < 0.3 else ["ResponseComplete"]):
        e = {"kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": "Metadata", "auditID": aid, "stage": stage,
             "requestURI": uri, "verb": verb, "user": u, "sourceIPs": ["10.244.2.7"], "objectRef": ref,
             "requestReceivedTimestamp": ts, "stageTimestamp": ts}
        if stage == "ResponseComplete":
            e["responseStatus"] = {"metadata": {}, "code": code}
        out.append(json.dumps(e, sort_keys=True))


SA = lambda n: "system:serviceaccount:%s:%s" % (NS, n)
RELOADER, EXTDNS, OPERATOR = SA("reloader"), SA("external-dns"), SA("widget-operator")

# informer start-up: list then watch, cluster-wide
for g, v, r in [("", "v1", "configmaps"), ("", "v1", "secrets")]:
    ev(RELOADER, "list", g, v, r); ev(RELOADER, "watch", g, v, r)
for g, v, r in [("", "v1", "services"), ("", "v1", "pods"), ("networking.k8s.io", "v1", "ingresses"), ("", "v1", "nodes")]:
    ev(EXTDNS, "list", g, v, r); ev(EXTDNS, "watch", g, v, r)
ev(EXTDNS, "list", "gateway.networking.k8s.io", "v1", "gateways", code=403)  # probes an optional source
ev(OPERATOR, "list", "example.com", "v1", "widgets"); ev(OPERATOR, "watch", "example.com", "v1", "widgets")
ev(OPERATOR, "get", "coordination.k8s.io", "v1", "leases", NS, "widget-operator-leader", code=404)
ev(OPERATOR, "create", "coordination.k8s.io", "v1", "leases", NS)
for minute in range(30):
    ev(OPERATOR, "get", "coordination.k8s.io", "v1", "leases", NS, "widget-operator-leader")
    ev(OPERATOR, "update", "coordination.k8s.io", "v1", "leases", NS, "widget-operator-leader")
    if rng.random() < 0.3:  # reconcile a widget: status update and an event
        w = rng.choice(["alpha", "beta"])
        ev(OPERATOR, "update", "example.com", "v1", "widgets", "shop", w, sub="status")
        ev(OPERATOR, "create", "", "v1", "events", "shop")
    if rng.random() < 0.15:  # a ConfigMap changed: Reloader rolls the Deployment that mounts it
        d = rng.choice(["web", "api"])
        ev(RELOADER, "get", "apps", "v1", "deployments", "shop", d)
        ev(RELOADER, "patch", "apps", "v1", "deployments", "shop", d)
        ev(RELOADER, "create", "", "v1", "events", "shop")
    if rng.random() < 0.1:  # watch expired: re-list
        ev(EXTDNS, "list", "", "v1", "services")
        ev(RELOADER, "list", "", "v1", "configmaps")
    if rng.random() < 0.2:
        ev("admin", rng.choice(["get", "list"]), "", "v1", "pods", "shop")
ev(RELOADER, "list", "apps", "v1", "deployments", "shop")
ev(RELOADER, "delete", "", "v1", "pods", "shop", "web-1", code=403)  # not in its job, denied

d = os.path.join(CORPUS, "controllers", "audit")
os.makedirs(d, exist_ok=True)
with open(os.path.join(d, "audit.log"), "w") as f:
    f.write("\n".join(out) + "\n")
print("controllers: %d audit events" % len(out))

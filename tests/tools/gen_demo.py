#!/usr/bin/env python3
"""Generate the bundled demo evidence for the `shop` app (src/demo/manifests/*.yaml).

Writes, deterministically (fixed seed, fixed clock, gzip mtime 0):
  src/demo/audit/audit.log.gz       audit.k8s.io/v1 Event JSON lines, Metadata level, all stages
  src/demo/flows/hubble.json.gz     `hubble observe -o json` lines
  src/demo/provenance/tetragon.json Tetragon JSON events (process_exec / process_kprobe)
  src/demo/metrics/cpu.json         Prometheus range query: rate(container_cpu_usage_seconds_total[5m])
  src/demo/metrics/memory.json      Prometheus range query: container_memory_working_set_bytes

Run from the repository root:  python3 tests/tools/gen_demo.py
The output is committed; the binary embeds it (src/demo.rs). Re-running gives identical bytes.
"""

import gzip
import json
import os
import random
import uuid
from datetime import datetime, timedelta, timezone

SEED = 20260302
START = datetime(2026, 3, 2, 9, 0, 0, tzinfo=timezone.utc)
HOUR = 3600
ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "src", "demo")

rng = random.Random(SEED)


def ts(sec):
    return (START + timedelta(seconds=sec)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def ts_nanos(sec):
    base = (START + timedelta(seconds=sec)).strftime("%Y-%m-%dT%H:%M:%S.%f")
    return base + "%03dZ" % rng.randrange(1000)


def new_uuid():
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


# ----------------------------------------------------------------------------------------------
# Pods of the demo app (names as a ReplicaSet would produce them).
PODS = {
    "frontend": [("frontend-7d9c8b5f4-x2k9p", "10.244.1.12", "node-1"), ("frontend-7d9c8b5f4-q7wzt", "10.244.2.15", "node-2")],
    "cart": [("cart-5b6f9c7d8-m4n2b", "10.244.1.20", "node-1"), ("cart-5b6f9c7d8-h8j5k", "10.244.2.21", "node-2")],
    "catalog": [("catalog-6c8d7f9b5-t3r6y", "10.244.2.30", "node-2")],
    "payments": [("payments-84f7c6d9b-z9x8c", "10.244.1.40", "node-1")],
    "redis": [("redis-0", "10.244.2.50", "node-2")],
    "shop-operator": [("shop-operator-7f5d4c8b9-a1s2d", "10.244.1.60", "node-1"), ("shop-operator-7f5d4c8b9-f3g4h", "10.244.2.61", "node-2")],
    "nightly-report": [("nightly-report-29553315-k7l8p", "10.244.1.70", "node-1")],
}
WORKLOAD_KIND = {"redis": "StatefulSet", "nightly-report": "CronJob"}
NODES = {"node-1": "172.18.0.3", "node-2": "172.18.0.4", "node-3": "172.18.0.5"}
SA_OF = {"frontend": "frontend", "cart": "cart", "catalog": "catalog", "payments": "payments",
         "shop-operator": "shop-operator", "nightly-report": "reports"}
IMAGE = {"frontend": "ghcr.io/example/shop-frontend:1.8.2", "cart": "ghcr.io/example/shop-cart:2.1.0",
         "catalog": "ghcr.io/example/shop-catalog:3.0.4", "payments": "ghcr.io/example/shop-payments:1.4.1",
         "redis": "redis:7.2", "shop-operator": "ghcr.io/example/shop-operator:0.9.0",
         "nightly-report": "ghcr.io/example/shop-reports:1.0.3"}
CONTAINER = {"shop-operator": "manager", "nightly-report": "report"}


def container_of(app):
    return CONTAINER.get(app, app)


# ----------------------------------------------------------------------------------------------
# Audit log

SA_GROUPS = lambda ns: ["system:serviceaccounts", "system:serviceaccounts:" + ns, "system:authenticated"]

REASON_FMT = {
    "RoleBinding": 'RBAC: allowed by RoleBinding "{name}/{ns}" of {rkind} "{role}" to {skind} "{subject}"',
    "ClusterRoleBinding": 'RBAC: allowed by ClusterRoleBinding "{name}" of ClusterRole "{role}" to {skind} "{subject}"',
}


class Audit:
    def __init__(self):
        self.lines = []  # (sort key, json)

    def request(self, at, user, verb, uri, object_ref=None, code=200, reason=None, user_agent="", source_ip="10.0.0.1",
                impersonated=None, long_running_for=None, message=None):
        """One API request: RequestReceived, (ResponseStarted), ResponseComplete events."""
        audit_id = new_uuid()
        received = at
        base = {
            "kind": "Event",
            "apiVersion": "audit.k8s.io/v1",
            "level": "Metadata",
            "auditID": audit_id,
            "requestURI": uri,
            "verb": verb,
            "user": user,
            "sourceIPs": [source_ip],
            "userAgent": user_agent,
        }
        if impersonated:
            base["impersonatedUser"] = impersonated
        if object_ref:
            base["objectRef"] = object_ref
        decision = "forbid" if code == 403 and reason is None else "allow"
        annotations = {"authorization.k8s.io/decision": decision, "authorization.k8s.io/reason": reason or ""}
        ev = dict(base, stage="RequestReceived", requestReceivedTimestamp=ts(received), stageTimestamp=ts(received))
        self.lines.append((received, 0, audit_id, ev))
        status = {"metadata": {}, "code": code}
        if code >= 400:
            status.update({"status": "Failure", "message": message or "", "reason": {403: "Forbidden", 404: "NotFound", 409: "AlreadyExists"}.get(code, "")})
        if long_running_for:
            started = received + 0.002
            ev = dict(base, stage="ResponseStarted", requestReceivedTimestamp=ts(received), stageTimestamp=ts(started),
                      responseStatus={"metadata": {}, "code": code}, annotations=annotations)
            self.lines.append((started, 1, audit_id, ev))
            done = received + long_running_for
        else:
            done = received + rng.uniform(0.002, 0.060)
        ev = dict(base, stage="ResponseComplete", requestReceivedTimestamp=ts(received), stageTimestamp=ts(done),
                  responseStatus=status, annotations=annotations)
        self.lines.append((done, 2, audit_id, ev))

    def write(self, path):
        self.lines.sort(key=lambda x: (x[0], x[1], x[2]))
        body = "".join(json.dumps(ev, separators=(",", ":"), sort_keys=False) + "\n" for (_, _, _, ev) in self.lines)
        with open(path, "wb") as f:
            f.write(gzip.compress(body.encode(), mtime=0))
        return len(self.lines)


def sa_user(ns, name, pod=None):
    u = {"username": "system:serviceaccount:%s:%s" % (ns, name), "uid": str(uuid.UUID(int=hash_int(ns + name), version=4)),
         "groups": SA_GROUPS(ns)}
    if pod:
        u["extra"] = {"authentication.kubernetes.io/pod-name": [pod],
                      "authentication.kubernetes.io/pod-uid": [str(uuid.UUID(int=hash_int(pod), version=4))]}
    return u


def hash_int(s):
    h = 1469598103934665603
    for c in s.encode():
        h = ((h ^ c) * 1099511628211) & ((1 << 128) - 1)
    return h


def ref(resource, ns="", name="", group="", version="v1", sub=""):
    r = {"resource": resource}
    if ns:
        r["namespace"] = ns
    if name:
        r["name"] = name
    if group:
        r["apiGroup"] = group
    r["apiVersion"] = version
    if sub:
        r["subresource"] = sub
    return r


def _uri(prefix, resource, ns, name, sub, query):
    p = prefix
    if ns:
        p += "/namespaces/" + ns
    p += "/" + resource
    if name:
        p += "/" + name
    if sub:
        p += "/" + sub
    return p + (("?" + query) if query else "")


def core_uri(resource, ns="", name="", sub="", query=""):
    return _uri("/api/v1", resource, ns, name, sub, query)


def group_uri(group, version, resource, ns="", name="", sub="", query=""):
    return _uri("/apis/%s/%s" % (group, version), resource, ns, name, sub, query)


def rb_reason(binding, ns, role, subject_ns, subject, cluster_role=False):
    return REASON_FMT["RoleBinding"].format(name=binding, ns=ns, rkind="ClusterRole" if cluster_role else "Role", role=role,
                                            skind="ServiceAccount", subject="%s/%s" % (subject, subject_ns))


def crb_reason(binding, role, skind, subject):
    return REASON_FMT["ClusterRoleBinding"].format(name=binding, role=role, skind=skind, subject=subject)


DISCOVERY = crb_reason("system:discovery", "system:discovery", "Group", "system:authenticated")
PUBLIC_INFO = crb_reason("system:public-info-viewer", "system:public-info-viewer", "Group", "system:unauthenticated")


def discovery(a, at, user, ua, ip):
    a.request(at, user, "get", "/version?timeout=32s", code=200, reason=DISCOVERY, user_agent=ua, source_ip=ip)
    a.request(at + 0.01, user, "get", "/api?timeout=32s", code=200, reason=DISCOVERY, user_agent=ua, source_ip=ip)
    a.request(at + 0.02, user, "get", "/apis?timeout=32s", code=200, reason=DISCOVERY, user_agent=ua, source_ip=ip)


def informer(a, at, end, user, ua, ip, resource, uri_fn, obj_ref, reason, code=200):
    """list then watch loops until `end`, like client-go reflectors (watch timeouts 5-10 min)."""
    a.request(at, user, "list", uri_fn("limit=500&resourceVersion=0"), obj_ref, code=code, reason=reason, user_agent=ua, source_ip=ip)
    t = at + 0.2
    rv = 41000 + rng.randrange(1000)
    while t < end:
        dur = rng.uniform(300, 600)
        dur = min(dur, end - t + 30)
        q = "allowWatchBookmarks=true&resourceVersion=%d&timeout=%dm%ds&timeoutSeconds=%d&watch=true" % (rv, int(dur) // 60, int(dur) % 60, int(dur))
        a.request(t, user, "watch", uri_fn(q), obj_ref, code=code, reason=reason, user_agent=ua, source_ip=ip, long_running_for=dur)
        rv += rng.randrange(5, 50)
        t += dur + 0.01


def gen_audit():
    a = Audit()
    end = HOUR

    # frontend: reads its feature flags once a minute from each pod.
    fr_reason = rb_reason("frontend", "shop", "frontend", "shop", "frontend")
    for pod, ip, _ in PODS["frontend"]:
        user = sa_user("shop", "frontend", pod)
        ua = "shop-frontend/1.8.2 (linux/amd64)"
        discovery(a, rng.uniform(1, 5), user, ua, ip)
        t = rng.uniform(5, 60)
        while t < end:
            a.request(t, user, "get", core_uri("configmaps", "shop", "frontend-flags"), ref("configmaps", "shop", "frontend-flags"),
                      reason=fr_reason, user_agent=ua, source_ip=ip)
            t += 60 + rng.uniform(-2, 2)

    # catalog: informer on its ConfigMaps (label-selected), and a lookup that is always 404.
    cat_reason = rb_reason("catalog-reader", "shop", "catalog-reader", "shop", "catalog")
    for pod, ip, _ in PODS["catalog"]:
        user = sa_user("shop", "catalog", pod)
        ua = "catalog/3.0.4 (linux/amd64) kubernetes/client-go"
        discovery(a, 2.5, user, ua, ip)
        informer(a, 3.0, end, user, ua, ip, "configmaps",
                 lambda q: core_uri("configmaps", "shop", query="labelSelector=app%3Dcatalog&" + q),
                 ref("configmaps", "shop"), cat_reason)
        t = 10.0
        while t < end:
            a.request(t, user, "get", core_uri("configmaps", "shop", "catalog-overrides"), ref("configmaps", "shop", "catalog-overrides"),
                      code=404, reason=cat_reason, user_agent=ua, source_ip=ip, message='configmaps "catalog-overrides" not found')
            t += 300 + rng.uniform(-5, 5)

    # payments: its API key every 5 minutes, plus a forbidden look at a ConfigMap.
    pay_reason = crb_reason("payments-secrets", "payments-secrets", "ServiceAccount", "shop/payments")
    for pod, ip, _ in PODS["payments"]:
        user = sa_user("shop", "payments", pod)
        ua = "payments/1.4.1 python-kubernetes/29.0.0"
        t = 4.0
        while t < end:
            a.request(t, user, "get", core_uri("secrets", "shop", "payments-api-key"), ref("secrets", "shop", "payments-api-key"),
                      reason=pay_reason, user_agent=ua, source_ip=ip)
            t += 300 + rng.uniform(-3, 3)
        for k in range(6):
            at = 30 + k * 600 + rng.uniform(0, 20)
            a.request(at, user, "get", core_uri("configmaps", "shop", "psp-routing"), ref("configmaps", "shop", "psp-routing"), code=403,
                      user_agent=ua, source_ip=ip,
                      message='configmaps "psp-routing" is forbidden: User "system:serviceaccount:shop:payments" cannot get resource "configmaps" in API group "" in the namespace "shop"')

    # shop-operator: controller-runtime manager with leader election; only the leader reconciles.
    op_reason = crb_reason("shop-operator", "shop-operator", "ServiceAccount", "shop/shop-operator")
    ua = "shop-operator/v0.9.0 (linux/amd64) kubernetes/client-go"
    leader_pod, leader_ip, _ = PODS["shop-operator"][0]
    for i, (pod, ip, _) in enumerate(PODS["shop-operator"]):
        user = sa_user("shop", "shop-operator", pod)
        t0 = 1.0 + i * 0.7
        discovery(a, t0, user, ua, ip)
        a.request(t0 + 0.05, user, "get", "/apis/shop.example.com/v1?timeout=32s", code=200, reason=DISCOVERY, user_agent=ua, source_ip=ip)
        lease_uri = group_uri("coordination.k8s.io", "v1", "leases", "shop", "shop-operator-leader")
        lease_ref = ref("leases", "shop", "shop-operator-leader", group="coordination.k8s.io")
        a.request(t0 + 0.2, user, "get", lease_uri, lease_ref, code=404 if i == 0 else 200, reason=op_reason, user_agent=ua, source_ip=ip,
                  message='leases.coordination.k8s.io "shop-operator-leader" not found' if i == 0 else None)
        if i == 0:
            a.request(t0 + 0.25, user, "create", group_uri("coordination.k8s.io", "v1", "leases", "shop"),
                      ref("leases", "shop", "shop-operator-leader", group="coordination.k8s.io"), code=201, reason=op_reason, user_agent=ua, source_ip=ip)
        # Followers poll the lease; the leader renews it.
        t = t0 + 2
        period = 10.0 if i == 0 else 15.0
        while t < end:
            a.request(t, user, "get", lease_uri, lease_ref, reason=op_reason, user_agent=ua, source_ip=ip)
            if i == 0:
                a.request(t + 0.01, user, "update", lease_uri, lease_ref, reason=op_reason, user_agent=ua, source_ip=ip)
            t += period + rng.uniform(-0.5, 0.5)
        # Every replica's cache: Shops cluster-wide, ConfigMaps and Deployments in shop.
        informer(a, t0 + 0.3, end, user, ua, ip, "shops", lambda q: group_uri("shop.example.com", "v1", "shops", query=q),
                 ref("shops", group="shop.example.com"), op_reason)
        informer(a, t0 + 0.35, end, user, ua, ip, "configmaps", lambda q: core_uri("configmaps", "shop", query=q),
                 ref("configmaps", "shop"), op_reason)
        informer(a, t0 + 0.4, end, user, ua, ip, "deployments", lambda q: group_uri("apps", "v1", "deployments", "shop", query=q),
                 ref("deployments", "shop", group="apps"), op_reason)
        # A node lookup the role does not allow (the code path is dead but still tried).
        a.request(t0 + 0.5, user, "get", core_uri("nodes", "", "node-1"), ref("nodes", "", "node-1"), code=403, user_agent=ua, source_ip=ip,
                  message='nodes "node-1" is forbidden: User "system:serviceaccount:shop:shop-operator" cannot get resource "nodes" in API group "" at the cluster scope')
    user = sa_user("shop", "shop-operator", leader_pod)
    t = 20.0
    k = 0
    while t < end:
        shop = ["main", "outlet"][k % 2]
        a.request(t, user, "patch", group_uri("shop.example.com", "v1", "shops", "shop", shop, "status"),
                  ref("shops", "shop", shop, group="shop.example.com", sub="status"), reason=op_reason, user_agent=ua, source_ip=leader_ip)
        a.request(t + 0.02, user, "create", core_uri("events", "shop"), ref("events", "shop", version="v1"), code=201, reason=op_reason,
                  user_agent=ua, source_ip=leader_ip)
        if k % 6 == 0:
            a.request(t + 0.05, user, "patch", group_uri("apps", "v1", "deployments", "shop", "frontend", "scale"),
                      ref("deployments", "shop", "frontend", group="apps", sub="scale"), reason=op_reason, user_agent=ua, source_ip=leader_ip)
        if k % 4 == 0:
            a.request(t + 0.07, user, "get", core_uri("services", "shop", "frontend"), ref("services", "shop", "frontend"), reason=op_reason,
                      user_agent=ua, source_ip=leader_ip)
        t += 120 + rng.uniform(-10, 10)
        k += 1
    # A second replica once raced the leader to create the lease.
    pod, ip, _ = PODS["shop-operator"][1]
    a.request(2.1, sa_user("shop", "shop-operator", pod), "create", group_uri("coordination.k8s.io", "v1", "leases", "shop"),
              ref("leases", "shop", "shop-operator-leader", group="coordination.k8s.io"), code=409, reason=op_reason, user_agent=ua, source_ip=ip,
              message='leases.coordination.k8s.io "shop-operator-leader" already exists')

    # nightly-report (CronJob, SA reports, no RBAC at all yet): runs at :15.
    pod, ip, _ = PODS["nightly-report"][0]
    user = sa_user("shop", "reports", pod)
    ua = "reports/1.0.3 kubectl-like"
    t = 15 * 60 + 3
    discovery(a, t, user, ua, ip)
    for _ in range(3):
        a.request(t + 1, user, "list", core_uri("pods", "shop", query="limit=500"), ref("pods", "shop"), code=403, user_agent=ua, source_ip=ip,
                  message='pods is forbidden: User "system:serviceaccount:shop:reports" cannot list resource "pods" in API group "" in the namespace "shop"')
        a.request(t + 2, user, "get", core_uri("configmaps", "shop", "report-config"), ref("configmaps", "shop", "report-config"), code=403,
                  user_agent=ua, source_ip=ip,
                  message='configmaps "report-config" is forbidden: User "system:serviceaccount:shop:reports" cannot get resource "configmaps" in API group "" in the namespace "shop"')
        t += 30

    # monitoring/node-agent: node and pod informers, kubelet metrics via nodes/proxy, /metrics.
    na_reason = crb_reason("node-agent", "node-agent", "ServiceAccount", "monitoring/node-agent")
    for node, nip in NODES.items():
        user = sa_user("monitoring", "node-agent", "node-agent-%s" % hash_str(node, 5))
        ua = "node-agent/5.2.0"
        informer(a, 0.5, end, user, ua, nip, "pods", lambda q, n=node: core_uri("pods", query="fieldSelector=spec.nodeName%3D" + n + "&" + q),
                 ref("pods"), na_reason)
        informer(a, 0.6, end, user, ua, nip, "nodes", lambda q: core_uri("nodes", query=q), ref("nodes"), na_reason)
        t = rng.uniform(0, 30)
        while t < end:
            a.request(t, user, "get", core_uri("nodes", "", node, "proxy/metrics"), ref("nodes", "", node, sub="proxy"), reason=na_reason,
                      user_agent=ua, source_ip=nip)
            t += 60 + rng.uniform(-1, 1)

    # Humans. alice (developer): reads, then tries to exec into a cart pod (403).
    alice = {"username": "alice@example.com", "groups": ["developers", "system:authenticated"]}
    ua = "kubectl/v1.35.0 (linux/amd64) kubernetes/66452049f3d"
    alice_reason = 'RBAC: allowed by RoleBinding "developers-view/shop" of ClusterRole "view" to Group "developers"'
    for base in (600.0, 2400.0):
        discovery(a, base, alice, ua, "192.0.2.10")
        a.request(base + 1, alice, "list", core_uri("pods", "shop", query="limit=500"), ref("pods", "shop"), reason=alice_reason, user_agent=ua,
                  source_ip="192.0.2.10")
        a.request(base + 5, alice, "get", core_uri("pods", "shop", "cart-5b6f9c7d8-m4n2b", "log", "container=cart&tailLines=100"),
                  ref("pods", "shop", "cart-5b6f9c7d8-m4n2b", sub="log"), reason=alice_reason, user_agent=ua, source_ip="192.0.2.10")
        a.request(base + 9, alice, "create", core_uri("pods", "shop", "cart-5b6f9c7d8-m4n2b", "exec", "command=sh&container=cart&stdin=true&stdout=true&tty=true"),
                  ref("pods", "shop", "cart-5b6f9c7d8-m4n2b", sub="exec"), code=403, user_agent=ua, source_ip="192.0.2.10",
                  message='pods "cart-5b6f9c7d8-m4n2b" is forbidden: User "alice@example.com" cannot create resource "pods/exec" in API group "" in the namespace "shop"')
    # ci-deployer: rolls out new images with server-side apply.
    ci = {"username": "ci-deployer", "groups": ["ci", "system:authenticated"]}
    ci_reason = 'RBAC: allowed by RoleBinding "ci-deployer/shop" of ClusterRole "edit" to User "ci-deployer"'
    ua = "kubectl/v1.35.0 (linux/amd64) kubernetes/66452049f3d"
    for base in (1500.0, 3000.0):
        discovery(a, base, ci, ua, "192.0.2.50")
        for app in ("frontend", "cart", "catalog"):
            a.request(base + 2, ci, "patch", group_uri("apps", "v1", "deployments", "shop", app, query="fieldManager=kubectl&force=false"),
                      ref("deployments", "shop", app, group="apps"), reason=ci_reason, user_agent=ua, source_ip="192.0.2.50")
            a.request(base + 3, ci, "get", group_uri("apps", "v1", "deployments", "shop", app), ref("deployments", "shop", app, group="apps"),
                      reason=ci_reason, user_agent=ua, source_ip="192.0.2.50")
    # Control plane noise: scheduler and controller-manager leader election, probes.
    for who, lease in (("system:kube-scheduler", "kube-scheduler"), ("system:kube-controller-manager", "kube-controller-manager")):
        user = {"username": who, "groups": ["system:authenticated"]}
        reason = crb_reason(who.replace("system:", "system:"), who, "User", who)
        t = rng.uniform(0, 3)
        while t < end:
            uri = group_uri("coordination.k8s.io", "v1", "leases", "kube-system", lease, query="timeout=5s")
            r = ref("leases", "kube-system", lease, group="coordination.k8s.io")
            a.request(t, user, "get", uri, r, reason=reason, user_agent="kube-scheduler/v1.35.0", source_ip="172.18.0.2")
            a.request(t + 0.005, user, "update", uri, r, reason=reason, user_agent="kube-scheduler/v1.35.0", source_ip="172.18.0.2")
            t += 20 + rng.uniform(-0.2, 0.2)
    anon = {"username": "system:anonymous", "groups": ["system:unauthenticated"]}
    t = 5.0
    while t < end:
        a.request(t, anon, "get", "/readyz", code=200, reason=PUBLIC_INFO, user_agent="kube-probe/1.35", source_ip="172.18.0.2")
        t += 60
    return a.write(os.path.join(ROOT, "audit", "audit.log.gz"))


def hash_str(s, n):
    alphabet = "bcdfghjklmnpqrstvwxz2456789"
    h = hash_int(s)
    out = ""
    for _ in range(n):
        out += alphabet[h % len(alphabet)]
        h //= len(alphabet)
    return out


# ----------------------------------------------------------------------------------------------
# Hubble flows

IDENTITY = {"frontend": 21001, "cart": 21002, "catalog": 21003, "payments": 21004, "redis": 21005, "shop-operator": 21006,
            "nightly-report": 21007, "kube-dns": 31001}


def endpoint(app, pod_index=0):
    if app == "kube-dns":
        return {"ID": 901, "identity": IDENTITY[app], "namespace": "kube-system",
                "labels": ["k8s:io.kubernetes.pod.namespace=kube-system", "k8s:k8s-app=kube-dns",
                           "k8s:io.cilium.k8s.policy.serviceaccount=coredns", "k8s:io.cilium.k8s.policy.cluster=default"],
                "pod_name": "coredns-5d78c9869d-8kq2w", "workloads": [{"name": "coredns", "kind": "Deployment"}]}, "10.244.0.10"
    pod, ip, _ = PODS[app][pod_index % len(PODS[app])]
    labels = ["k8s:app=" + app, "k8s:io.kubernetes.pod.namespace=shop", "k8s:io.cilium.k8s.namespace.labels.kubernetes.io/metadata.name=shop",
              "k8s:io.cilium.k8s.namespace.labels.team=storefront", "k8s:io.cilium.k8s.policy.cluster=default"]
    if app in SA_OF:
        labels.append("k8s:io.cilium.k8s.policy.serviceaccount=" + SA_OF[app])
    else:
        labels.append("k8s:io.cilium.k8s.policy.serviceaccount=default")
    labels.sort()
    return {"ID": 1000 + IDENTITY[app] % 1000 + pod_index, "identity": IDENTITY[app], "namespace": "shop", "labels": labels,
            "pod_name": pod, "workloads": [{"name": app, "kind": WORKLOAD_KIND.get(app, "Deployment")}]}, ip


def reserved(name, ip):
    ids = {"host": 1, "world": 2, "kube-apiserver": 7}
    return {"identity": ids[name], "labels": ["reserved:" + name]}, ip


def flow_pair(out, at, src, dst, port, proto="TCP", verdict="FORWARDED", node="node-1", dst_names=None, svc=None, l7=None):
    (s_ep, s_ip), (d_ep, d_ip) = src, dst
    sport = rng.randrange(32768, 60999)

    def one(t, a_ep, a_ip, b_ep, b_ip, ap, bp, reply, direction, flags):
        f = {"time": ts_nanos(t), "uuid": new_uuid(), "verdict": verdict,
             "IP": {"source": a_ip, "destination": b_ip, "ipVersion": "IPv4"},
             "source": a_ep, "destination": b_ep, "Type": "L3_L4", "node_name": node,
             "event_type": {"type": 4, "sub_type": 3 if direction == "INGRESS" else 4},
             "traffic_direction": direction, "trace_observation_point": "TO_ENDPOINT" if direction == "INGRESS" else "TO_STACK",
             "is_reply": reply}
        if proto == "TCP":
            f["l4"] = {"TCP": {"source_port": ap, "destination_port": bp, "flags": flags}}
            f["Summary"] = "TCP Flags: " + ", ".join(k for k in ("SYN", "ACK", "PSH", "FIN") if flags.get(k))
        else:
            f["l4"] = {"UDP": {"source_port": ap, "destination_port": bp}}
            f["Summary"] = "UDP"
        if verdict == "DROPPED":
            f["drop_reason"] = 133
            f["drop_reason_desc"] = "POLICY_DENIED"
            f["event_type"] = {"type": 1, "sub_type": 133}
        if dst_names and not reply:
            f["destination_names"] = dst_names
        if dst_names and reply:
            f["source_names"] = dst_names
        if svc and not reply:
            f["destination_service"] = svc
        if l7 and not reply:
            f["Type"] = "L7"
            f["l7"] = l7
            f["event_type"] = {"type": 129}
        out.append((t, {"flow": f, "node_name": node, "time": f["time"]}))

    direction = "INGRESS" if s_ep.get("labels", [""])[0].startswith("reserved:") else "EGRESS"
    one(at, s_ep, s_ip, d_ep, d_ip, sport, port, False, direction, {"SYN": True})
    if verdict == "DROPPED":
        return
    if proto == "TCP":
        one(at + 0.0004, d_ep, d_ip, s_ep, s_ip, port, sport, True, "INGRESS" if direction == "EGRESS" else "EGRESS", {"SYN": True, "ACK": True})
        one(at + 0.0009, s_ep, s_ip, d_ep, d_ip, sport, port, False, direction, {"ACK": True, "PSH": True})
    else:
        one(at + 0.0005, d_ep, d_ip, s_ep, s_ip, port, sport, True, "INGRESS" if direction == "EGRESS" else "EGRESS", {})


def dns(out, at, app, pod_index, name):
    src = endpoint(app, pod_index)
    flow_pair(out, at, src, endpoint("kube-dns"), 53, proto="UDP", node=PODS[app][pod_index % len(PODS[app])][2],
              l7={"type": "REQUEST", "dns": {"query": name + ".", "qtypes": ["A"], "observation_source": "proxy"}})


def gen_flows():
    out = []
    end = HOUR
    t = 0.5
    while t < end:
        # Shoppers from the Internet through the LoadBalancer, and kubelet probes.
        for i in range(2):
            client = reserved("world", "198.51.100.%d" % rng.randrange(2, 250))
            flow_pair(out, t + i * 0.3, client, endpoint("frontend", i), 80, node=PODS["frontend"][i][2])
            dns(out, t + i * 0.3 + 0.01, "frontend", i, "cart.shop.svc.cluster.local")
            flow_pair(out, t + i * 0.3 + 0.02, endpoint("frontend", i), endpoint("cart", i), 8080, node=PODS["frontend"][i][2],
                      svc={"name": "cart", "namespace": "shop"})
            flow_pair(out, t + i * 0.3 + 0.03, endpoint("frontend", i), endpoint("catalog"), 8080, node=PODS["frontend"][i][2],
                      svc={"name": "catalog", "namespace": "shop"})
            flow_pair(out, t + i * 0.3 + 0.05, endpoint("cart", i), endpoint("redis"), 6379, node=PODS["cart"][i][2],
                      svc={"name": "redis", "namespace": "shop"})
        if rng.random() < 0.4:
            flow_pair(out, t + 0.4, endpoint("frontend", 0), endpoint("payments"), 8080, node="node-1", svc={"name": "payments", "namespace": "shop"})
            dns(out, t + 0.41, "payments", 0, "api.payments.example.net")
            flow_pair(out, t + 0.42, endpoint("payments"), reserved("world", "203.0.113.10"), 443, node="node-1", dst_names=["api.payments.example.net"])
        host = reserved("host", NODES["node-1"])
        flow_pair(out, t + 0.6, host, endpoint("frontend", 0), 80, node="node-1")
        t += 45 + rng.uniform(-1, 1)
    # The operator talks to the API server; the catalog once tries payments directly (denied).
    t = 1.0
    while t < end:
        for i in range(2):
            flow_pair(out, t + i, endpoint("shop-operator", i), reserved("kube-apiserver", "172.18.0.2"), 6443, node=PODS["shop-operator"][i][2])
        t += 60
    for k in range(5):
        flow_pair(out, 700 + k * 400.0, endpoint("catalog"), endpoint("payments"), 8080, verdict="DROPPED", node="node-2")
    # The nightly report reads the catalog at :15.
    for k in range(4):
        dns(out, 903 + k, "nightly-report", 0, "catalog.shop.svc.cluster.local")
        flow_pair(out, 903.2 + k, endpoint("nightly-report"), endpoint("catalog"), 8080, node="node-1", svc={"name": "catalog", "namespace": "shop"})
    out.sort(key=lambda x: x[0])
    path = os.path.join(ROOT, "flows", "hubble.json.gz")
    body = "".join(json.dumps(rec, separators=(",", ":")) + "\n" for _, rec in out)
    with open(path, "wb") as f:
        f.write(gzip.compress(body.encode(), mtime=0))
    return len(out)


# ----------------------------------------------------------------------------------------------
# Tetragon events

def tet_process(app, pod_index, binary, args, uid, pid, parent_binary="/usr/bin/containerd-shim-runc-v2", start=0.0):
    pod, _, node = PODS[app][pod_index % len(PODS[app])]
    exec_id = "%s:%d:%d" % (node, 1000000 + pid, pid)
    proc = {"exec_id": exec_id.encode().hex()[:40], "pid": pid, "uid": uid, "cwd": "/", "binary": binary, "arguments": args,
            "flags": "execve rootcwd clone", "start_time": ts(start), "auid": 4294967295,
            "pod": {"namespace": "shop", "name": pod,
                    "container": {"id": "containerd://" + hash_str(pod + binary, 24), "name": container_of(app),
                                  "image": {"id": IMAGE[app] + "@sha256:" + ("%064x" % hash_int(IMAGE[app]))[:64], "name": IMAGE[app]},
                                  "start_time": ts(0), "pid": 1},
                    "pod_labels": {"app": app}, "workload": app, "workload_kind": WORKLOAD_KIND.get(app, "Deployment")},
            "docker": hash_str(pod, 15), "parent_exec_id": "bm9kZS0xOjEyMzQ1Njc4", "tid": pid}
    parent = {"exec_id": "bm9kZS0xOjEyMzQ1Njc4", "pid": pid - 1, "uid": 0, "binary": parent_binary, "flags": "procFS auid"}
    return proc, parent, node


def gen_tetragon():
    ev = []

    def exec_(t, app, i, binary, args, uid, pid):
        proc, parent, node = tet_process(app, i, binary, args, uid, pid, start=t)
        ev.append((t, {"process_exec": {"process": proc, "parent": parent}, "node_name": node, "time": ts(t)}))
        return proc, parent, node

    def kprobe(t, proc, parent, node, fn, args, policy):
        ev.append((t, {"process_kprobe": {"process": proc, "parent": parent, "function_name": fn, "args": args, "action": "KPROBE_ACTION_POST",
                                          "policy_name": policy, "return_action": "KPROBE_ACTION_POST"},
                       "node_name": node, "time": ts(t)}))

    def write(t, proc, parent, node, path):
        kprobe(t, proc, parent, node, "security_file_permission", [{"file_arg": {"path": path, "permission": "-rw-r--r--"}}, {"int_arg": 2}],
               "file-writes")

    def listen(t, proc, parent, node, port):
        kprobe(t, proc, parent, node, "inet_csk_listen_start",
               [{"sock_arg": {"family": "AF_INET", "type": "SOCK_STREAM", "protocol": "IPPROTO_TCP", "saddr": "0.0.0.0", "sport": port,
                              "state": "TCP_CLOSE"}}], "listen")

    # frontend: nginx master runs as uid 101 and binds port 80 (needs NET_BIND_SERVICE);
    # it writes its cache and pid file on the root filesystem.
    for i in range(2):
        p, pa, n = exec_(1.0 + i, "frontend", i, "/usr/sbin/nginx", "-g daemon off;", 101, 7 + i)
        listen(1.2 + i, p, pa, n, 80)
        write(1.3 + i, p, pa, n, "/var/cache/nginx/client_temp/0000000001")
        write(1.31 + i, p, pa, n, "/run/nginx.pid")
        for k in range(3):
            write(100 + k * 700 + i, p, pa, n, "/var/cache/nginx/proxy_temp/%d/0000%d" % (k, k))
    # cart: unprivileged Go binary, scratch files in /tmp.
    for i in range(2):
        p, pa, n = exec_(1.5 + i, "cart", i, "/app/cart", "--port=8080", 65532, 9 + i)
        listen(1.6 + i, p, pa, n, 8080)
        for k in range(4):
            write(60 + k * 600 + i, p, pa, n, "/tmp/cart-spill-%d.bin" % k)
    # catalog: runs as 10001 (already non-root), caches under /tmp.
    p, pa, n = exec_(2.0, "catalog", 0, "/usr/local/bin/catalog", "serve --listen :8080", 10001, 11)
    listen(2.1, p, pa, n, 8080)
    for k in range(5):
        write(30 + k * 500, p, pa, n, "/tmp/cache/products-%d.json" % k)
    # payments: a Python app running as root (uid 0) that also shells out to openssl.
    p, pa, n = exec_(2.5, "payments", 0, "/usr/local/bin/python3.12", "-m payments.server --port 8080", 0, 12)
    listen(2.6, p, pa, n, 8080)
    for k in range(6):
        q, qa, m = exec_(300.0 + k * 550, "payments", 0, "/usr/bin/openssl", "dgst -sha256 -hmac ****", 0, 40 + k)
    write(2.7, p, pa, n, "/tmp/payments.sock")
    # redis: entrypoint as root drops to uid 999; writes its data volume.
    p, pa, n = exec_(0.5, "redis", 0, "/usr/local/bin/docker-entrypoint.sh", "redis-server", 0, 1)
    p, pa, n = exec_(0.6, "redis", 0, "/usr/local/bin/redis-server", "*:6379", 999, 1)
    listen(0.7, p, pa, n, 6379)
    for k in range(6):
        write(600.0 * k + 5, p, pa, n, "/data/dump.rdb")
    # shop-operator: distroless, uid 65532, no writes.
    for i in range(2):
        p, pa, n = exec_(0.8 + i, "shop-operator", i, "/manager", "--leader-elect --metrics-bind-address=:8443", 65532, 1)
        listen(0.9 + i, p, pa, n, 8443)
    # nightly-report at :15.
    p, pa, n = exec_(900.0, "nightly-report", 0, "/bin/report", "--out /tmp/report.csv", 1000, 1)
    write(905.0, p, pa, n, "/tmp/report.csv")
    ev.sort(key=lambda x: x[0])
    path = os.path.join(ROOT, "provenance", "tetragon.json")
    with open(path, "w") as f:
        for _, rec in ev:
            f.write(json.dumps(rec, separators=(",", ":")) + "\n")
    return len(ev)


# ----------------------------------------------------------------------------------------------
# Prometheus range queries

CPU = {"frontend": 0.06, "cart": 0.045, "catalog": 0.12, "payments": 0.02, "redis": 0.03, "shop-operator": 0.008}
MEM = {"frontend": 48e6, "cart": 96e6, "catalog": 210e6, "payments": 130e6, "redis": 64e6, "shop-operator": 38e6}


def gen_metrics():
    step = 60
    t0 = int(START.timestamp())
    cpu_res, mem_res = [], []
    for app in sorted(CPU):
        for pod, _, node in PODS[app]:
            labels = {"namespace": "shop", "pod": pod, "container": container_of(app), "node": node}
            cvals, mvals = [], []
            mem = MEM[app]
            for k in range(0, HOUR // step + 1):
                ts_ = t0 + k * step
                load = 1.0 + 0.6 * (1 if 20 <= k <= 35 else 0) + rng.uniform(-0.25, 0.25)
                cvals.append([ts_, "%.6f" % (CPU[app] * load)])
                mem = max(MEM[app] * 0.8, min(MEM[app] * 1.35, mem + rng.uniform(-2e6, 2.4e6)))
                mvals.append([ts_, "%d" % int(mem)])
            cpu_res.append({"metric": labels, "values": cvals})
            mem_res.append({"metric": dict(labels, __name__="container_memory_working_set_bytes"), "values": mvals})
    for name, res in (("cpu.json", cpu_res), ("memory.json", mem_res)):
        with open(os.path.join(ROOT, "metrics", name), "w") as f:
            json.dump({"status": "success", "data": {"resultType": "matrix", "result": res}}, f, separators=(",", ":"))
            f.write("\n")
    return len(cpu_res)


def main():
    for sub in ("audit", "flows", "provenance", "metrics"):
        os.makedirs(os.path.join(ROOT, sub), exist_ok=True)
    n_audit = gen_audit()
    n_flows = gen_flows()
    n_tet = gen_tetragon()
    n_series = gen_metrics()
    print("audit events: %d, flows: %d, tetragon events: %d, metric series: %d x 2" % (n_audit, n_flows, n_tet, n_series))


if __name__ == "__main__":
    main()

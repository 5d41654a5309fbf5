#!/usr/bin/env python3
"""Write the Hubble flow logs of the evaluation corpus (tests/data/corpus/*/flows/flows.json).

Each application's calls follow its *documented* call graph (written below from the upstream
READMEs/architecture diagrams, not from kubeguard's output nor from the ground-truth policies),
with realistic noise: DNS lookups to kube-dns and their replies, SYN/SYN-ACK/ACK with replies
flagged, TCP retries (a duplicate SYN), kubelet readiness probes from the node (reserved:host),
a DROPPED scan from an unknown in-cluster address, and capture loss (each call is emitted in a
round with probability 0.9, each observation point with probability 0.95).
Deterministic (fixed seed). Usage: gen_corpus_flows.py [CORPUS_DIR]"""
import json
import os
import random
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "..", "data", "corpus")

# (namespace, label key, {workload: port}, [(src, dst, port)], external clients of [workload:port])
APPS = {
    # Istio bookinfo (samples/bookinfo/platform/kube/bookinfo.yaml; docs "Bookinfo Application"):
    # productpage calls details and reviews; reviews v2 and v3 call ratings; v1 does not.
    "bookinfo": ("default", "app", {
        "details-v1": 9080, "ratings-v1": 9080, "reviews-v1": 9080, "reviews-v2": 9080, "reviews-v3": 9080,
        "productpage-v1": 9080,
    }, [
        ("productpage-v1", "details-v1", 9080), ("productpage-v1", "reviews-v1", 9080),
        ("productpage-v1", "reviews-v2", 9080), ("productpage-v1", "reviews-v3", 9080),
        ("reviews-v2", "ratings-v1", 9080), ("reviews-v3", "ratings-v1", 9080),
    ], [("productpage-v1", 9080)]),
    # Online Boutique (README architecture diagram and src/*/README).
    "online-boutique": ("default", "app", {
        "frontend": 8080, "adservice": 9555, "currencyservice": 7000, "cartservice": 7070, "redis-cart": 6379,
        "loadgenerator": None, "recommendationservice": 8080, "checkoutservice": 5050, "emailservice": 8080,
        "paymentservice": 50051, "shippingservice": 50051, "productcatalogservice": 3550,
    }, [
        ("loadgenerator", "frontend", 8080),
        ("frontend", "adservice", 9555), ("frontend", "currencyservice", 7000), ("frontend", "cartservice", 7070),
        ("frontend", "recommendationservice", 8080), ("frontend", "checkoutservice", 5050),
        ("frontend", "shippingservice", 50051), ("frontend", "productcatalogservice", 3550),
        ("recommendationservice", "productcatalogservice", 3550),
        ("checkoutservice", "productcatalogservice", 3550), ("checkoutservice", "shippingservice", 50051),
        ("checkoutservice", "paymentservice", 50051), ("checkoutservice", "emailservice", 8080),
        ("checkoutservice", "currencyservice", 7000), ("checkoutservice", "cartservice", 7070),
        ("cartservice", "redis-cart", 6379),
    ], [("frontend", 8080)]),
    # Sock Shop (microservices-demo design docs, architecture diagram).
    "sock-shop": ("sock-shop", "name", {
        "front-end": 8079, "catalogue": 80, "catalogue-db": 3306, "carts": 80, "carts-db": 27017,
        "orders": 80, "orders-db": 27017, "payment": 80, "shipping": 80, "queue-master": 80,
        "rabbitmq": 5672, "session-db": 6379, "user": 80, "user-db": 27017,
    }, [
        ("front-end", "catalogue", 80), ("front-end", "carts", 80), ("front-end", "orders", 80),
        ("front-end", "user", 80), ("front-end", "session-db", 6379),
        ("catalogue", "catalogue-db", 3306), ("carts", "carts-db", 27017), ("user", "user-db", 27017),
        ("orders", "orders-db", 27017), ("orders", "payment", 80), ("orders", "shipping", 80),
        ("orders", "user", 80), ("orders", "carts", 80),
        ("shipping", "rabbitmq", 5672), ("queue-master", "rabbitmq", 5672),
    ], [("front-end", 8079)]),
    # AKS Store Demo (Azure-Samples/aks-store-demo aks-store-all-in-one.yaml, the KubeGuard paper's
    # `pets` app). Call graph from the manifest's own documentation, its env vars:
    # store-front VUE_APP_ORDER_SERVICE_URL/VUE_APP_PRODUCT_SERVICE_URL (its nginx proxies /api to
    # them), store-admin VUE_APP_PRODUCT_SERVICE_URL/VUE_APP_MAKELINE_SERVICE_URL, order-service
    # ORDER_QUEUE_HOSTNAME=rabbitmq:5672 (and its init container `nc -zv rabbitmq 5672`),
    # makeline-service ORDER_QUEUE_URI amqp://rabbitmq:5672 and ORDER_DB_URI mongodb://mongodb:27017,
    # virtual-customer ORDER_SERVICE_URL, virtual-worker MAKELINE_SERVICE_URL. store-front (80→8080)
    # and store-admin (80→8081) are LoadBalancer Services. Only the Deployments with httpGet probes
    # are probed by the kubelet (mongodb's probe is `exec`, rabbitmq has none). Namespace: the
    # manifest sets none, so `default`.
    "aks-store-demo": ("default", "app", {
        "store-front": 8080, "store-admin": 8081, "order-service": 3000, "makeline-service": 3001,
        "product-service": 3002, "rabbitmq": 5672, "mongodb": 27017, "virtual-customer": None,
        "virtual-worker": None,
    }, [
        ("store-front", "order-service", 3000), ("store-front", "product-service", 3002),
        ("store-admin", "product-service", 3002), ("store-admin", "makeline-service", 3001),
        ("order-service", "rabbitmq", 5672), ("makeline-service", "rabbitmq", 5672),
        ("makeline-service", "mongodb", 27017), ("virtual-customer", "order-service", 3000),
        ("virtual-worker", "makeline-service", 3001),
    ], [("store-front", 8080), ("store-admin", 8081)]),
}

# Workloads that are not Deployments (pod names and workload kinds follow the controller).
STATEFULSETS = {"aks-store-demo": {"mongodb", "rabbitmq"}}
# Apps whose kubelet probes reach only these workloads (default: every workload with a port).
PROBED = {"aks-store-demo": {"store-front", "store-admin", "order-service", "makeline-service", "product-service"}}

DNS = {"ID": 7, "identity": 7001, "namespace": "kube-system", "pod_name": "coredns-558bd4d5db-w2m67",
       "labels": ["k8s:k8s-app=kube-dns", "k8s:io.kubernetes.pod.namespace=kube-system"],
       "workloads": [{"name": "coredns", "kind": "Deployment"}]}
HOST = {"identity": 1, "labels": ["reserved:host"]}
WORLD = {"identity": 2, "labels": ["reserved:world"]}


def endpoint(ns, key, name, i, stateful=False):
    # Deployments are named after the workload; pod labels carry the app key (bookinfo adds version).
    labels = {key: name}
    if ns == "default" and name.endswith(("-v1", "-v2", "-v3")) and name.rsplit("-", 1)[0] in (
            "details", "ratings", "reviews", "productpage"):
        labels = {"app": name.rsplit("-", 1)[0], "version": name.rsplit("-", 1)[1]}
    ls = ["k8s:%s=%s" % kv for kv in sorted(labels.items())] + [
        "k8s:io.kubernetes.pod.namespace=%s" % ns,
        "k8s:io.cilium.k8s.namespace.labels.kubernetes.io/metadata.name=%s" % ns]
    ep = {"ID": 100 + i, "identity": 20000 + i, "namespace": ns, "labels": ls,
          "pod_name": "%s-7d9c8b5f4-%05d" % (name, i), "workloads": [{"name": name, "kind": "Deployment"}]}
    if stateful:
        ep["pod_name"] = "%s-0" % name
        ep["workloads"] = [{"name": name, "kind": "StatefulSet"}]
    return ep


def main():
    rng = random.Random(8)
    for app, (ns, key, ports, edges, external) in APPS.items():
        eps = {n: endpoint(ns, key, n, i, n in STATEFULSETS.get(app, ())) for i, n in enumerate(sorted(ports))}
        ips = {n: "10.244.1.%d" % (10 + i) for i, n in enumerate(sorted(ports))}
        out = []
        t = [0]

        def emit(src, dst, sip, dip, l4, reply=False, verdict="FORWARDED", point="TO_ENDPOINT"):
            t[0] += rng.randrange(200, 5000)
            us = t[0]
            ts = "2026-03-02T10:%02d:%02d.%06dZ" % ((us // 60000000) % 60, (us // 1000000) % 60, us % 1000000)
            flow = {"time": ts, "verdict": verdict, "IP": {"source": sip, "destination": dip, "ipVersion": "IPv4"},
                    "l4": l4, "source": src, "destination": dst, "Type": "L3_L4", "node_name": "node-1",
                    "traffic_direction": "INGRESS" if point == "TO_ENDPOINT" else "EGRESS",
                    "trace_observation_point": point, "is_reply": reply}
            if verdict == "DROPPED":
                flow["drop_reason_desc"] = "POLICY_DENIED"
            out.append(json.dumps({"flow": flow, "node_name": "node-1", "time": ts}, sort_keys=True))

        def call(src, sip, dst, dip, port):
            sport = rng.randrange(32768, 60999)
            tcp = lambda s, d, **fl: {"TCP": {"source_port": s, "destination_port": d, "flags": fl}}
            for point in ("TO_STACK", "TO_ENDPOINT"):
                if rng.random() < 0.95:
                    emit(src, dst, sip, dip, tcp(sport, port, SYN=True), point=point)
            if rng.random() < 0.1:  # retry
                emit(src, dst, sip, dip, tcp(sport, port, SYN=True))
            emit(dst, src, dip, sip, tcp(port, sport, SYN=True, ACK=True), reply=True)
            emit(src, dst, sip, dip, tcp(sport, port, ACK=True))

        for _ in range(20):
            for (s, d, port) in edges:
                if rng.random() >= 0.9:
                    continue
                sport = rng.randrange(32768, 60999)
                emit(eps[s], DNS, ips[s], "10.96.0.10", {"UDP": {"source_port": sport, "destination_port": 53}})
                emit(DNS, eps[s], "10.96.0.10", ips[s], {"UDP": {"source_port": 53, "destination_port": sport}}, reply=True)
                call(eps[s], ips[s], eps[d], ips[d], port)
            for n, p in sorted(ports.items()):
                if app in PROBED and n not in PROBED[app]:
                    continue
                if p is not None and rng.random() < 0.5:  # kubelet probe
                    call(HOST, "192.168.0.11", eps[n], ips[n], p)
            for (n, p) in external:
                call(WORLD, "203.0.113.%d" % rng.randrange(1, 254), eps[n], ips[n], p)
            if rng.random() < 0.3:  # a scan from an address no one knows, dropped
                victim = rng.choice(sorted(n for n, p in ports.items() if p))
                emit({"identity": 2, "labels": ["reserved:world"]}, eps[victim], "10.244.9.9", ips[victim],
                     {"TCP": {"source_port": 4444, "destination_port": 22, "flags": {"SYN": True}}}, verdict="DROPPED")
        d = os.path.join(CORPUS, app, "flows")
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, "flows.json"), "w") as f:
            f.write("\n".join(out) + "\n")
        print("%s: %d flows" % (app, len(out)))
        write_refine(app, ns, key, ports)


def write_refine(app, ns, key, ports):
    """The refine task's over-permissive variant: each workload gets its own allow-all policy
    (the typical "open everything so it works" starting point)."""
    docs = []
    for n in sorted(ports):
        labels = {key: n}
        if app == "bookinfo":
            labels = {"app": n.rsplit("-", 1)[0], "version": n.rsplit("-", 1)[1]}
        sel = "".join("      %s: %s\n" % kv for kv in sorted(labels.items()))
        docs.append("apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata:\n  name: %s-allow-all\n"
                    "  namespace: %s\nspec:\n  podSelector:\n    matchLabels:\n%s  policyTypes:\n  - Ingress\n"
                    "  - Egress\n  ingress:\n  - {}\n  egress:\n  - {}\n" % (n, ns, sel))
    d = os.path.join(CORPUS, app, "refine")
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "allow-all.yaml"), "w") as f:
        f.write("# Generated by tests/tools/gen_corpus_flows.py: over-permissive input of the refine task\n")
        f.write("---\n".join(docs))


main()

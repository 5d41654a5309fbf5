#!/usr/bin/env python3
"""Generate the NetworkPolicy differential corpus: one folder per case with the shared
workloads (base.yaml) and the case's policies (policies.yaml). Run from this folder;
the output is committed so the test does not need Python."""
import json
import os

def ns(name, labels):
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": dict(labels, **{"kubernetes.io/metadata.name": name})}}

def deploy(namespace, name, labels, ports):
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{
                    "name": name, "image": "registry.example/" + name + ":1",
                    "ports": [dict({"containerPort": p, "protocol": proto}, **({"name": n} if n else {})) for (n, p, proto) in ports],
                }]},
            },
        },
    }

BASE = [
    ns("a", {"team": "alpha"}),
    ns("b", {"team": "beta"}),
    ns("c", {"team": "gamma", "env": "prod"}),
    deploy("a", "web", {"app": "web", "tier": "front"}, [("http", 8080, "TCP"), ("metrics", 9090, "TCP")]),
    deploy("a", "api", {"app": "api", "tier": "back"}, [("http", 8081, "TCP"), ("grpc", 9000, "TCP"), ("dns", 5353, "UDP")]),
    deploy("a", "db", {"app": "db", "tier": "back", "role": "primary"}, [("pg", 5432, "TCP"), ("http", 80, "TCP")]),
    deploy("b", "client", {"app": "client"}, [("http", 8080, "TCP")]),
    deploy("b", "worker", {"app": "worker", "tier": "back"}, [("metrics", 9090, "TCP"), ("sctp", 7777, "SCTP"), ("dns", 53, "UDP")]),
    deploy("c", "web", {"app": "web", "tier": "front"}, [("http", 8443, "TCP")]),
]

def np(namespace, name, spec):
    return {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": {"name": name, "namespace": namespace}, "spec": spec}

def sel(**labels):
    return {"matchLabels": labels}

def nsname(n):
    return {"matchLabels": {"kubernetes.io/metadata.name": n}}

def port(p, proto="TCP", end=None):
    d = {"port": p, "protocol": proto}
    if end is not None:
        d["endPort"] = end
    return d

CASES = {
    "01-no-policies": [],
    "02-deny-all-ingress": [np("a", "deny-in", {"podSelector": {}, "policyTypes": ["Ingress"]})],
    "03-deny-all-egress": [np("a", "deny-out", {"podSelector": {}, "policyTypes": ["Egress"]})],
    "04-deny-all-both": [np("a", "deny-all", {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]})],
    "05-policytypes-default-ingress": [np("a", "api-in", {"podSelector": sel(app="api"), "ingress": [{"from": [{"podSelector": sel(app="web")}]}]})],
    "06-policytypes-default-with-egress-section": [np("a", "web-out", {"podSelector": sel(app="web"), "egress": [{"to": [{"podSelector": sel(app="db")}], "ports": [port(5432)]}]})],
    "07-egress-only-explicit": [np("a", "web-out", {"podSelector": sel(app="web"), "policyTypes": ["Egress"], "egress": [{"to": [{"podSelector": sel(app="api")}]}]})],
    "08-empty-ingress-rule-allows-all": [np("a", "api-all", {"podSelector": sel(app="api"), "policyTypes": ["Ingress"], "ingress": [{}]})],
    "09-ports-without-from": [np("a", "api-port", {"podSelector": sel(app="api"), "ingress": [{"ports": [port(8081)]}]})],
    "10-from-without-ports": [np("a", "api-from", {"podSelector": sel(app="api"), "ingress": [{"from": [{"podSelector": sel(app="web")}]}]})],
    "11-pod-and-namespace-selector-and": [np("a", "api-and", {"podSelector": sel(app="api"), "ingress": [{"from": [{"podSelector": sel(app="client"), "namespaceSelector": sel(team="beta")}]}]})],
    "12-pod-or-namespace-selector-or": [np("a", "api-or", {"podSelector": sel(app="api"), "ingress": [{"from": [{"podSelector": sel(app="client")}, {"namespaceSelector": sel(team="beta")}]}]})],
    "13-podselector-alone-is-own-namespace": [np("a", "db-in", {"podSelector": sel(app="db"), "ingress": [{"from": [{"podSelector": sel(app="web")}], "ports": [port(5432)]}]})],
    "14-namespaceselector-alone": [np("a", "api-ns", {"podSelector": sel(app="api"), "ingress": [{"from": [{"namespaceSelector": sel(team="beta")}]}]})],
    "15-namespaceselector-empty-all-namespaces": [np("a", "api-anyns", {"podSelector": sel(app="api"), "ingress": [{"from": [{"namespaceSelector": {}}]}]})],
    "16-matchexpressions-in": [np("a", "db-in", {"podSelector": sel(app="db"), "ingress": [{"from": [{"podSelector": {"matchExpressions": [{"key": "app", "operator": "In", "values": ["api", "web"]}]}}]}]})],
    "17-matchexpressions-notin": [np("a", "db-in", {"podSelector": sel(app="db"), "ingress": [{"from": [{"namespaceSelector": {}, "podSelector": {"matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["front"]}]}}]}]})],
    "18-matchexpressions-exists-doesnotexist": [np("a", "db-in", {"podSelector": {"matchExpressions": [{"key": "role", "operator": "Exists"}]}, "ingress": [{"from": [{"namespaceSelector": {}, "podSelector": {"matchExpressions": [{"key": "tier", "operator": "DoesNotExist"}]}}]}]})],
    "19-ipblock-except-egress": [np("a", "web-out", {"podSelector": sel(app="web"), "policyTypes": ["Egress"], "egress": [{"to": [{"ipBlock": {"cidr": "10.0.0.0/8", "except": ["10.1.0.0/16"]}}], "ports": [port(443)]}]})],
    "20-ipblock-all-ingress": [np("a", "web-in", {"podSelector": sel(app="web"), "ingress": [{"from": [{"ipBlock": {"cidr": "0.0.0.0/0"}}]}]})],
    "21-endport-range": [np("a", "web-in", {"podSelector": sel(app="web"), "ingress": [{"ports": [port(8000, "TCP", 8085)]}]})],
    "22-named-port-ingress-per-pod": [np("a", "http-in", {"podSelector": {}, "ingress": [{"ports": [{"port": "http", "protocol": "TCP"}]}]})],
    "23-named-port-egress-resolved-on-destination": [np("b", "client-out", {"podSelector": sel(app="client"), "policyTypes": ["Egress"], "egress": [{"to": [{"namespaceSelector": {}}], "ports": [{"port": "http", "protocol": "TCP"}]}]})],
    "24-named-port-protocol-must-match": [np("a", "api-dns", {"podSelector": sel(app="api"), "ingress": [{"ports": [{"port": "dns", "protocol": "TCP"}]}, {"from": [{"namespaceSelector": nsname("b")}], "ports": [{"port": "dns", "protocol": "UDP"}]}]})],
    "25-udp-port": [np("b", "worker-in", {"podSelector": sel(app="worker"), "ingress": [{"ports": [port(53, "UDP")]}]})],
    "26-sctp-port": [np("b", "worker-in", {"podSelector": sel(app="worker"), "ingress": [{"ports": [port(7777, "SCTP")]}]})],
    "27-union-of-policies": [
        np("a", "web-from-client", {"podSelector": sel(app="web"), "ingress": [{"from": [{"namespaceSelector": nsname("b"), "podSelector": sel(app="client")}], "ports": [port(8080)]}]}),
        np("a", "web-metrics", {"podSelector": sel(tier="front"), "ingress": [{"from": [{"namespaceSelector": {}, "podSelector": sel(app="worker")}], "ports": [port(9090)]}]}),
    ],
    "28-both-ends-must-allow": [
        np("b", "client-deny-out", {"podSelector": sel(app="client"), "policyTypes": ["Egress"]}),
        np("a", "api-from-client", {"podSelector": sel(app="api"), "ingress": [{"from": [{"namespaceSelector": nsname("b")}]}]}),
    ],
    "29-cross-namespace-by-name": [np("a", "db-from-b", {"podSelector": sel(app="db"), "ingress": [{"from": [{"namespaceSelector": nsname("b"), "podSelector": sel(tier="back")}], "ports": [port(5432)]}]})],
    "30-policy-selecting-nothing": [np("a", "ghost", {"podSelector": sel(app="cart"), "policyTypes": ["Ingress", "Egress"]})],
    "31-dns-and-db-egress": [np("a", "web-out", {"podSelector": sel(app="web"), "policyTypes": ["Egress"], "egress": [
        {"to": [{"namespaceSelector": {}}], "ports": [port(53, "UDP"), port(53, "TCP")]},
        {"to": [{"podSelector": sel(app="db")}], "ports": [port(5432)]}]})],
    "32-target-matchlabels-and-expressions": [np("a", "back-in", {"podSelector": {"matchLabels": {"tier": "back"}, "matchExpressions": [{"key": "app", "operator": "NotIn", "values": ["db"]}]}, "ingress": [{"from": [{"podSelector": sel(app="web")}]}]})],
    "33-ipblock-does-not-match-pods": [np("a", "api-ip", {"podSelector": sel(app="api"), "ingress": [{"from": [{"ipBlock": {"cidr": "0.0.0.0/0", "except": ["10.0.0.0/8"]}}]}]})],
    "34-egress-to-other-namespace-pods-and-ingress-there": [
        np("b", "worker-out", {"podSelector": sel(app="worker"), "policyTypes": ["Egress"], "egress": [{"to": [{"namespaceSelector": sel(team="alpha"), "podSelector": sel(app="db")}], "ports": [port(5432), port(80)]}]}),
        np("a", "db-in", {"podSelector": sel(app="db"), "policyTypes": ["Ingress"], "ingress": [{"from": [{"namespaceSelector": nsname("b")}], "ports": [{"port": "pg", "protocol": "TCP"}]}]}),
    ],
    "35-multiple-namespaces-default-deny-and-allow": [
        np("c", "deny-all", {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}),
        np("c", "web-in", {"podSelector": sel(app="web"), "ingress": [{"from": [{"namespaceSelector": {"matchExpressions": [{"key": "team", "operator": "In", "values": ["alpha", "beta"]}]}}], "ports": [port(8443)]}]}),
    ],
}

def dump(docs):
    # JSON is valid YAML; one document per object keeps the corpus readable by both tools.
    return "\n---\n".join(json.dumps(d, indent=2, sort_keys=True) for d in docs) + "\n"

here = os.path.dirname(os.path.abspath(__file__))
for name, policies in CASES.items():
    d = os.path.join(here, "cases", name)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "base.yaml"), "w") as f:
        f.write(dump(BASE))
    p = os.path.join(d, "policies.yaml")
    if policies:
        with open(p, "w") as f:
            f.write(dump(policies))
    elif os.path.exists(p):
        os.remove(p)
print(len(CASES), "cases")

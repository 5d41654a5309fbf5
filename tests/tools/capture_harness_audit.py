#!/usr/bin/env python3
"""Capture a *real* API-server audit log for the `controllers` evaluation app
(tests/data/corpus/controllers-harness/audit/audit.log) from the kube-apiserver test harness.

Starts tests/cluster/start.sh (a real kube-apiserver with RBAC and a Metadata-level audit policy),
installs as the admin what the controllers' charts install (namespaces, service accounts, the
widgets CRD, the documented ClusterRoles/Roles and bindings of tests/data/corpus/controllers/
truth/rbac.yaml) and the objects they act on (ConfigMaps, Secrets, Deployments, Services,
Widgets in `shop`), mints one token per service account (`kube-harness token`), then plays each
controller's documented API calls over plain HTTPS with its own bearer token (no kubectl, no
client library): informers list then watch (short `timeoutSeconds`), leader election on a Lease,
widget status updates with Events, Reloader's rollout patches, a watch re-list, external-dns
probing the optional Gateway source (403: not granted), Reloader trying to delete a Pod (403)
and an admin's reads. The API server authorises and audits every call itself, so the log is
what a cluster really writes (RequestReceived + ResponseComplete stages, the admin's set-up,
the apiserver's own requests). Stops the harness with tests/cluster/stop.sh.

The log's timestamps are those of the run, so a new capture differs from the committed one;
its content (which subject did what, with which outcome) is fixed by the script.
Usage: capture_harness_audit.py [OUT_FILE]"""
import base64
import json
import os
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
CORPUS = os.path.join(ROOT, "tests", "data", "corpus")
OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(CORPUS, "controllers-harness", "audit", "audit.log")
NS = "controllers"


class Api:
    def __init__(self, server, ctx, token=None):
        self.server, self.ctx, self.token = server, ctx, token

    def call(self, method, path, body=None, content_type="application/json"):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.server + path, data=data, method=method)
        req.add_header("Accept", "application/json")
        if data is not None:
            req.add_header("Content-Type", content_type)
        if self.token:
            req.add_header("Authorization", "Bearer " + self.token)
        try:
            with urllib.request.urlopen(req, context=self.ctx, timeout=30) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()


def contexts(kubeconfig, tmp):
    cfg = yaml.safe_load(open(kubeconfig))
    cluster = cfg["clusters"][0]["cluster"]
    user = cfg["users"][0]["user"]
    ca = os.path.join(tmp, "ca.crt")
    with open(ca, "wb") as f:
        f.write(base64.b64decode(cluster["certificate-authority-data"]))
    cert, key = os.path.join(tmp, "admin.crt"), os.path.join(tmp, "admin.key")
    with open(cert, "wb") as f:
        f.write(base64.b64decode(user["client-certificate-data"]))
    with open(key, "wb") as f:
        f.write(base64.b64decode(user["client-key-data"]))
    admin = ssl.create_default_context(cafile=ca)
    admin.load_cert_chain(cert, key)
    plain = ssl.create_default_context(cafile=ca)
    return cluster["server"], admin, plain


def collection(obj):
    """The collection path of a manifest object."""
    api = obj["apiVersion"]
    base = "/api/" + api if "/" not in api else "/apis/" + api
    plural = {"Namespace": "namespaces", "ServiceAccount": "serviceaccounts", "ClusterRole": "clusterroles",
              "ClusterRoleBinding": "clusterrolebindings", "Role": "roles", "RoleBinding": "rolebindings",
              "CustomResourceDefinition": "customresourcedefinitions", "Deployment": "deployments",
              "ConfigMap": "configmaps", "Secret": "secrets", "Service": "services", "Widget": "widgets",
              "Pod": "pods"}[obj["kind"]]
    ns = obj["metadata"].get("namespace")
    cluster_scoped = obj["kind"] in ("Namespace", "ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition")
    return base + ("" if cluster_scoped or not ns else "/namespaces/%s" % ns) + "/" + plural


def apply(admin, obj):
    code, body = admin.call("POST", collection(obj), obj)
    if code not in (200, 201, 409):
        raise SystemExit("creating %s %s: HTTP %d %s" % (obj["kind"], obj["metadata"]["name"], code, body[:300]))


def deployment(ns, name, cm):
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": name, "namespace": ns, "annotations": {"reloader.stakater.com/auto": "true"}},
            "spec": {"selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}},
                                  "spec": {"containers": [{"name": name, "image": "registry.example/%s:1" % name,
                                                           "envFrom": [{"configMapRef": {"name": cm}}]}]}}}}


def main():
    with tempfile.TemporaryDirectory() as tmp:
        state = os.path.join(tmp, "harness")
        try:
            start = subprocess.run(["bash", os.path.join(ROOT, "tests", "cluster", "start.sh"), state],
                                   capture_output=True, text=True)
            if start.returncode != 0:
                raise SystemExit("tests/cluster/start.sh failed:\n" + start.stderr[-2000:])
            with open(os.path.join(state, "ready")) as f:
                ready = json.load(f)
            run(ready, tmp)
        finally:
            subprocess.run(["bash", os.path.join(ROOT, "tests", "cluster", "stop.sh"), state])
        os.makedirs(os.path.dirname(OUT), exist_ok=True)
        with open(os.path.join(state, "audit.log")) as src, open(OUT, "w") as dst:
            n = 0
            for line in src:
                dst.write(line)
                n += 1
        print("captured %d audit events into %s" % (n, OUT))


def run(ready, tmp):
    server, admin_ctx, plain_ctx = contexts(ready["kubeconfig"], tmp)
    admin = Api(server, admin_ctx)
    # What the charts install, then the objects the controllers act on.
    docs = [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": n}} for n in (NS, "shop")]
    manifests = os.path.join(CORPUS, "controllers", "manifests", "controllers.yaml")
    truth = os.path.join(CORPUS, "controllers", "truth", "rbac.yaml")
    for path in (manifests, truth):
        for d in yaml.safe_load_all(open(path)):
            if d and d.get("kind") in ("ServiceAccount", "CustomResourceDefinition", "ClusterRole",
                                       "ClusterRoleBinding", "Role", "RoleBinding"):
                docs.append(d)
    for d in docs:
        apply(admin, d)
    for _ in range(120):  # the CRD must be established before widgets can be created
        code, body = admin.call("GET", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/widgets.example.com")
        if code == 200 and any(c.get("type") == "Established" and c.get("status") == "True"
                               for c in json.loads(body).get("status", {}).get("conditions", [])):
            break
        time.sleep(0.5)
    for name in ("web", "api"):
        apply(admin, {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name + "-config", "namespace": "shop"},
                      "data": {"LOG_LEVEL": "info"}})
        apply(admin, deployment("shop", name, name + "-config"))
        apply(admin, {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": "shop"},
                      "spec": {"selector": {"app": name}, "ports": [{"port": 80}]}})
    apply(admin, {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db", "namespace": "shop"},
                  "stringData": {"password": "not-a-real-secret"}})
    for w in ("alpha", "beta"):
        apply(admin, {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": w, "namespace": "shop"}})

    def token(name):
        out = subprocess.run(["bash", "-c", '"$("%s" | tail -n1)" token --kubeconfig "%s" --namespace %s --name %s' % (
            os.path.join(ROOT, "tests", "cluster", "setup.sh"), ready["kubeconfig"], NS, name)],
            capture_output=True, text=True, check=True)
        return out.stdout.strip().splitlines()[-1]

    reloader = Api(server, plain_ctx, token("reloader"))
    extdns = Api(server, plain_ctx, token("external-dns"))
    operator = Api(server, plain_ctx, token("widget-operator"))
    outcomes = {}

    def do(api, who, method, path, body=None, ctype="application/json"):
        code, _ = api.call(method, path, body, ctype)
        outcomes[(who, method, path.split("?")[0], code)] = outcomes.get((who, method, path.split("?")[0], code), 0) + 1
        return code

    w = "?watch=true&timeoutSeconds=1"
    # informer start-up: list then watch, cluster-wide
    for p in ("/api/v1/configmaps", "/api/v1/secrets"):
        do(reloader, "reloader", "GET", p)
        do(reloader, "reloader", "GET", p + w)
    for p in ("/api/v1/services", "/api/v1/pods", "/apis/networking.k8s.io/v1/ingresses", "/api/v1/nodes"):
        do(extdns, "external-dns", "GET", p)
        do(extdns, "external-dns", "GET", p + w)
    do(extdns, "external-dns", "GET", "/apis/gateway.networking.k8s.io/v1/gateways")  # optional source: 403
    do(operator, "widget-operator", "GET", "/apis/example.com/v1/widgets")
    do(operator, "widget-operator", "GET", "/apis/example.com/v1/widgets" + w)
    lease_path = "/apis/coordination.k8s.io/v1/namespaces/%s/leases" % NS
    do(operator, "widget-operator", "GET", lease_path + "/widget-operator-leader")  # 404 at first start
    now = lambda: time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime())
    lease = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
             "metadata": {"name": "widget-operator-leader", "namespace": NS},
             "spec": {"holderIdentity": "widget-operator-7d9c_1", "leaseDurationSeconds": 15,
                      "acquireTime": now(), "renewTime": now()}}
    do(operator, "widget-operator", "POST", lease_path, lease)
    event_n = [0]

    def event(api, who, obj_kind, name, reason):
        event_n[0] += 1
        do(api, who, "POST", "/api/v1/namespaces/shop/events", {
            "apiVersion": "v1", "kind": "Event", "metadata": {"name": "%s.%d" % (name, event_n[0]), "namespace": "shop"},
            "involvedObject": {"kind": obj_kind, "name": name, "namespace": "shop"}, "reason": reason,
            "message": reason, "type": "Normal"})

    for minute in range(30):
        code = do(operator, "widget-operator", "GET", lease_path + "/widget-operator-leader")
        if code == 200:
            _, body = operator.call("GET", lease_path + "/widget-operator-leader")
            cur = json.loads(body)
            cur["spec"]["renewTime"] = now()
            do(operator, "widget-operator", "PUT", lease_path + "/widget-operator-leader", cur)
        if minute % 3 == 0:  # reconcile a widget: status update and an event
            name = ("alpha", "beta")[minute % 2]
            path = "/apis/example.com/v1/namespaces/shop/widgets/%s/status" % name
            _, body = operator.call("GET", path)
            cur = json.loads(body)
            cur["status"] = {"observedGeneration": minute}
            do(operator, "widget-operator", "PUT", path, cur)
            event(operator, "widget-operator", "Widget", name, "Reconciled")
        if minute % 7 == 3:  # a ConfigMap changed: Reloader rolls the Deployment that uses it
            d = ("web", "api")[minute % 2]
            p = "/apis/apps/v1/namespaces/shop/deployments/" + d
            do(reloader, "reloader", "GET", p)
            do(reloader, "reloader", "PATCH", p,
               {"spec": {"template": {"metadata": {"annotations": {"reloader.stakater.com/last-reloaded-from": now()}}}}},
               "application/strategic-merge-patch+json")
            event(reloader, "reloader", "Deployment", d, "Reloaded")
        if minute % 10 == 9:  # watch expired: re-list
            do(extdns, "external-dns", "GET", "/api/v1/services")
            do(reloader, "reloader", "GET", "/api/v1/configmaps")
        if minute % 5 == 2:
            admin.call("GET", "/api/v1/namespaces/shop/pods")
    do(reloader, "reloader", "GET", "/apis/apps/v1/namespaces/shop/deployments")
    do(reloader, "reloader", "DELETE", "/api/v1/namespaces/shop/pods/web-1")  # not its job: 403
    for k in sorted(outcomes):
        print("%-16s %-6s %-70s %d x%d" % (k[0], k[1], k[2], k[3], outcomes[k]))


main()

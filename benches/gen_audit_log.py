#!/usr/bin/env python3
"""Generate a realistic Kubernetes audit log (audit.k8s.io/v1 JSON lines) for benchmarks.

The mix is fixed by the seed: ~260 subjects (workload service accounts in 20 namespaces,
controller service accounts, nodes, control-plane users, human users, some impersonating),
all verbs, core and named groups, subresources, non-resource URLs with query strings,
RequestReceived + ResponseComplete for every request and ResponseStarted for watches (whose
completion arrives much later), 2xx/404/409/403-forbid/403-admission/429 outcomes and RBAC
reason annotations. Files of different sizes drawn with the same seed have the same set of
distinct tuples (every tuple appears within the first few MB), so peak memory can be compared
across sizes.

usage: gen_audit_log.py --size-mb 1024 --out /tmp/audit.log [--seed 7]
       gen_audit_log.py --workloads 1000 --events 10000000 --out /tmp/audit.log --manifests-out /tmp/cluster.yaml

The second form is the synthetic cluster of the end-to-end benchmark: WORKLOADS workload
service accounts (20 per namespace, each with a Deployment, written with their ServiceAccounts
and Namespaces to --manifests-out) plus the same controllers, nodes, control plane and humans,
stopping after EVENTS audit events (lines) instead of a size.
"""

import argparse
import bisect
import functools
import itertools
import time
import zlib
import json
import random
import uuid


APPS10 = ["api", "web", "worker", "cron", "cache", "search", "billing", "auth", "mailer", "ingest"]
APPS20 = APPS10 + ["orders", "payments", "catalog", "cart", "notify", "reports", "gateway", "media", "profile", "audit"]


def build_subjects(rng, workloads=None):
    if workloads is None:  # the default mix of the ingest benchmarks: 20 namespaces x 10 apps
        namespaces = [f"team-{i:02d}" for i in range(20)]
        apps = APPS10
    else:  # 20 apps per namespace, as many namespaces as needed
        namespaces = [f"team-{i:03d}" for i in range((workloads + 19) // 20)]
        apps = APPS20
    subjects = []
    for ns in namespaces:
        for app in apps:
            if workloads is not None and sum(1 for s in subjects if s[0] == "sa") >= workloads:
                break
            subjects.append(("sa", f"system:serviceaccount:{ns}:{app}", ns))
    for c in ["replicaset-controller", "deployment-controller", "endpointslice-controller",
              "generic-garbage-collector", "namespace-controller", "job-controller"]:
        subjects.append(("ctrl", f"system:serviceaccount:kube-system:{c}", "kube-system"))
    for i in range(20):
        subjects.append(("node", f"system:node:worker-{i:02d}", ""))
    for u in ["system:kube-scheduler", "system:kube-controller-manager", "system:apiserver", "system:kube-proxy"]:
        subjects.append(("cp", u, ""))
    for i in range(30):
        subjects.append(("human", f"dev{i:02d}@example.com", rng.choice(namespaces)))
    return namespaces, subjects


NON_RESOURCE = ["/healthz", "/livez", "/readyz", "/version?timeout=32s", "/api?timeout=32s",
                "/apis?timeout=32s", "/openapi/v2?timeout=32s", "/metrics"]

RESOURCES = [
    ("", "pods", ""), ("", "pods", "log"), ("", "pods", "exec"), ("", "pods", "status"),
    ("", "configmaps", ""), ("", "secrets", ""), ("", "services", ""), ("", "endpoints", ""),
    ("", "events", ""), ("", "serviceaccounts", "token"), ("", "persistentvolumeclaims", ""),
    ("apps", "deployments", ""), ("apps", "deployments", "scale"), ("apps", "replicasets", ""),
    ("apps", "statefulsets", ""), ("batch", "jobs", ""), ("batch", "cronjobs", ""),
    ("coordination.k8s.io", "leases", ""), ("networking.k8s.io", "ingresses", ""),
    ("discovery.k8s.io", "endpointslices", ""), ("example.com", "widgets", ""),
]
VERBS = ["get", "list", "watch", "create", "update", "patch", "delete"]


def build_profiles(rng, namespaces, subjects):
    """Each subject gets a fixed set of request templates (its distinct tuples)."""
    profiles = []
    for kind, username, home in subjects:
        n = {"sa": 12, "ctrl": 25, "node": 10, "cp": 20, "human": 15}[kind]
        templates = []
        for _ in range(n):
            if rng.random() < 0.15:
                templates.append(("nr", rng.choice(["get", "get", "post"]), rng.choice(NON_RESOURCE)))
                continue
            group, res, sub = rng.choice(RESOURCES)
            verb = rng.choice(VERBS)
            if sub in ("log", "exec", "status", "scale", "token"):
                verb = {"log": "get", "exec": rng.choice(["create", "get"]), "status": "update",
                        "scale": "patch", "token": "create"}[sub]
            ns = home if (home and rng.random() < 0.8) else rng.choice(namespaces + [""])
            if kind == "human" and rng.random() < 0.3:
                ns = rng.choice(namespaces)
            named = verb in ("get", "update", "patch", "delete") or sub
            name = f"{res.split('.')[0]}-{rng.randrange(5)}" if named else ""
            templates.append(("r", verb, group, res, sub, ns, name))
        impersonator = "admin@example.com" if kind == "human" and rng.random() < 0.2 else None
        groups = ["system:serviceaccounts", f"system:serviceaccounts:{home}"] if kind in ("sa", "ctrl") else (
            ["system:nodes"] if kind == "node" else (["developers"] if kind == "human" else []))
        weight = {"sa": 3, "ctrl": 8, "node": 6, "cp": 10, "human": 1}[kind]
        profiles.append((username, groups + ["system:authenticated"], impersonator, templates, weight))
    return profiles


def uri_of(t):
    if t[0] == "nr":
        return t[2]
    _, verb, group, res, sub, ns, name = t
    base = "/api/v1" if group == "" else f"/apis/{group}/v1"
    path = base + (f"/namespaces/{ns}" if ns else "") + f"/{res}" + (f"/{name}" if name else "") + (f"/{sub}" if sub else "")
    if verb == "watch":
        path += "?allowWatchBookmarks=true&resourceVersion=12345&timeout=9m3s&watch=true"
    elif verb == "list":
        path += "?limit=500&resourceVersion=0"
    return path


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--size-mb", type=float)
    ap.add_argument("--events", type=int, help="stop after this many events (lines) instead of a size")
    ap.add_argument("--workloads", type=int, help="synthetic cluster: this many workload service accounts")
    ap.add_argument("--manifests-out", help="write the cluster's Namespaces, ServiceAccounts and Deployments here")
    ap.add_argument("--out", required=True)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    if (args.size_mb is None) == (args.events is None):
        ap.error("give exactly one of --size-mb and --events")
    rng = random.Random(args.seed)
    namespaces, subjects = build_subjects(rng, args.workloads)
    if args.manifests_out:
        write_manifests(args.manifests_out, namespaces, subjects)
    profiles = build_profiles(rng, namespaces, subjects)
    weights = [p[4] for p in profiles]
    cum = list(itertools.accumulate(weights))
    target = int(args.size_mb * 1_000_000) if args.size_mb is not None else float("inf")
    max_events = args.events if args.events is not None else float("inf")
    events = 0
    ua = "kube-controller-manager/v1.30.2 (linux/amd64) kubernetes/3968350/shared-informers"
    dumps = functools.partial(json.dumps, separators=(",", ":"))

    # Everything but ids, stages, times, IPs and outcomes is fixed per (subject, template,
    # impersonated): serialise those fragments once.
    fragments = {}

    def fragment(pi, ti, imp):
        key = (pi, ti, imp)
        if key not in fragments:
            username, groups, impersonator, templates, _ = profiles[pi]
            tmpl = templates[ti]
            user = {"username": username, "uid": f"uid-{zlib.crc32(username.encode()) % 99999}", "groups": groups}
            head = f'"requestURI":{dumps(uri_of(tmpl))},"verb":"{tmpl[1]}",'
            if imp:
                head += f'"user":{dumps({"username": impersonator, "groups": ["system:masters", "system:authenticated"]})},'
                head += f'"impersonatedUser":{dumps(user)},'
            else:
                head += f'"user":{dumps(user)},'
            ref = ""
            if tmpl[0] == "r":
                _, verb, group, res, sub, ns, name = tmpl
                o = {"resource": res, "apiVersion": "v1"}
                if ns:
                    o["namespace"] = ns
                if name:
                    o["name"] = name
                if group:
                    o["apiGroup"] = group
                    o["apiVersion"] = group + "/v1"
                if sub:
                    o["subresource"] = sub
                ref = f',"objectRef":{dumps(o)}'
            if tmpl[0] == "r" and tmpl[5]:
                reason = f'RBAC: allowed by RoleBinding "{username.split(":")[-1]}-rb/{tmpl[5]}" of Role "r" to ServiceAccount "x/y"'
            else:
                reason = ('RBAC: allowed by ClusterRoleBinding "system:discovery" of ClusterRole "system:discovery" '
                          'to Group "system:authenticated"')
            fragments[key] = (head, f',"userAgent":"{ua}"{ref}', dumps(reason))
        return fragments[key]

    second_cache = {}

    def ts(us):
        sec, frac = divmod(us, 1_000_000)
        p = second_cache.get(sec)
        if p is None:
            second_cache.clear()
            p = second_cache[sec] = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(sec))
        return f"{p}.{frac:06d}Z"

    def status(code, decision, reason):
        st = f'{{"metadata":{{}},"code":{code}}}' if code < 400 else (
            f'{{"metadata":{{}},"status":"Failure","message":"request failed","reason":'
            f'"{"Forbidden" if code == 403 else "Error"}","code":{code}}}')
        out = f',"responseStatus":{st}'
        if decision:
            r = '""' if decision == "forbid" else reason
            out_ann = f',"annotations":{{"authorization.k8s.io/decision":"{decision}","authorization.k8s.io/reason":{r}}}'
        else:
            out_ann = ""
        return out, out_ann

    out = open(args.out, "w", buffering=1 << 22)
    written = 0
    t_us = 1_700_000_000_000_000
    pending = []  # (due index, line) of watches still open
    warmup = [(pi, ti) for pi, p in enumerate(profiles) for ti in range(len(p[3]))]
    i = 0
    rand = rng.random
    while written < target and events < max_events:
        if i < len(warmup):
            pi, ti = warmup[i]
        else:
            pi = bisect.bisect_left(cum, rand() * cum[-1])
            ti = rng.randrange(len(profiles[pi][3]))
        i += 1
        imp = profiles[pi][2] is not None and rand() < 0.5
        head, tail, reason = fragment(pi, ti, imp)
        verb = profiles[pi][3][ti][1]
        t_us += rng.randrange(50, 400)
        h = f"{rng.getrandbits(128):032x}"
        audit_id = f"{h[:8]}-{h[8:12]}-4{h[13:16]}-a{h[17:20]}-{h[20:]}"
        prefix = '{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"' + audit_id + '","stage":"'
        body = f'",{head}"sourceIPs":["10.0.{i % 4}.{i % 249 + 1}"]{tail},"requestReceivedTimestamp":"{ts(t_us)}"'
        received = f'{prefix}RequestReceived{body},"stageTimestamp":"{ts(t_us)}"}}\n'
        roll = rand()
        if roll < 0.02:
            code, decision = 403, "forbid"
        elif roll < 0.022:
            code, decision = 403, "allow"
        elif roll < 0.025:
            code, decision = 429, None
        elif roll < 0.06:
            code, decision = 404, "allow"
        elif roll < 0.07:
            code, decision = 409, "allow"
        else:
            code, decision = (201 if verb == "create" else 200), "allow"
        st, ann = status(code, decision, reason)
        chunks = [received]
        if verb == "watch" and code == 200:
            chunks.append(f'{prefix}ResponseStarted{body},"stageTimestamp":"{ts(t_us + 300)}"{st}{ann}}}\n')
            pending.append((i + rng.randrange(500, 5000), prefix, body, st, ann))
        else:
            chunks.append(f'{prefix}ResponseComplete{body},"stageTimestamp":"{ts(t_us + rng.randrange(100, 3000))}"{st}{ann}}}\n')
        while pending and pending[0][0] <= i:
            _, pfx, bdy, st2, ann2 = pending.pop(0)
            chunks.append(f'{pfx}ResponseComplete{bdy},"stageTimestamp":"{ts(t_us)}"{st2}{ann2}}}\n')
        for c in chunks:
            out.write(c)
            written += len(c)
        events += len(chunks)
    for _, pfx, bdy, st2, ann2 in pending:
        out.write(f'{pfx}ResponseComplete{bdy},"stageTimestamp":"{ts(t_us)}"{st2}{ann2}}}\n')
    out.close()


def write_manifests(path, namespaces, subjects):
    """One Deployment (with its ServiceAccount) per workload service account."""
    with open(path, "w") as f:
        for ns in namespaces:
            f.write(f"---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: {ns}\n")
        for kind, username, ns in subjects:
            if kind != "sa":
                continue
            name = username.rsplit(":", 1)[1]
            f.write(f"---\napiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: {name}\n  namespace: {ns}\n")
            f.write(f"---\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {name}\n  namespace: {ns}\n"
                    f"spec:\n  replicas: 2\n  selector:\n    matchLabels: {{app: {name}}}\n  template:\n"
                    f"    metadata:\n      labels: {{app: {name}}}\n    spec:\n      serviceAccountName: {name}\n"
                    f"      containers:\n      - name: {name}\n        image: registry.example/{name}:1.0\n"
                    f"        ports:\n        - containerPort: 8080\n")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Write the provenance and metrics logs of the evaluation corpus
(tests/data/corpus/APP/provenance/*.cdm.json, provenance/tetragon.json, metrics/*.json).

Each container's behaviour below is written from what its image documents (Dockerfile USER/CMD,
entrypoint scripts, the ports it binds, the files it writes), not from kubeguard's output nor
from the ground-truth manifests:

- SPADE CDM 18 records per container (file `<ns>_<Kind>_<workload>_<container>.cdm.json`, the
  attribution convention of `sources::provenance`): one Principal per uid, one Subject per
  process (cmdLine), EVENT_EXECUTE of the binary, reads of the files it opens, EVENT_BIND of its
  listening ports and writes (EVENT_OPEN O_WRONLY|O_CREAT, EVENT_WRITE) of the files it writes.
  SPADE does not trace capability checks.
- Tetragon `process_kprobe` `cap_capable` events (one JSON file per app) for the capabilities a
  root entrypoint really exercises (nginx and the database entrypoints chown their directories
  and switch user). Processes that never exercise a capability produce no event.
- Prometheus `query_range` matrices (60 s step, 6 h window: 361 points) of
  `container_cpu_usage_seconds_total` (raw counter) and `container_memory_working_set_bytes`,
  with a diurnal-ish load curve and jitter around each container's documented footprint.

Noise: repeated events, reads of shared libraries and /etc files, a container restart
(second Subject with a later start), one replica's series missing its first hour.
Deterministic (fixed seed). Usage: gen_corpus_runtime.py [CORPUS_DIR]"""
import hashlib
import json
import math
import os
import random
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "..", "data", "corpus")
T0 = 1772445600  # 2026-03-02T10:00:00Z
TOKEN = "/var/run/secrets/kubernetes.io/serviceaccount/token"
LIBC = ["/lib/ld-musl-x86_64.so.1", "/etc/passwd", "/etc/hosts", "/etc/resolv.conf"]
GLIBC = ["/lib/x86_64-linux-gnu/libc.so.6", "/etc/passwd", "/etc/hosts", "/etc/resolv.conf"]
NGINX_CACHE = ["/var/cache/nginx/client_temp", "/var/cache/nginx/proxy_temp", "/var/cache/nginx/fastcgi_temp",
               "/var/cache/nginx/uwsgi_temp", "/var/cache/nginx/scgi_temp"]


def nginx(port):
    # nginx:stable-alpine-slim: /docker-entrypoint.sh runs as root, the master (root) creates and
    # chowns /var/cache/nginx/*, writes /var/run/nginx.pid, binds the app port; workers run as
    # nginx (uid 101). CHOWN (cache dirs), SETGID/SETUID (worker user switch).
    return {
        "procs": [("/docker-entrypoint.sh", "/bin/sh /docker-entrypoint.sh nginx -g daemon off;", 0),
                  ("/usr/sbin/nginx", "nginx: master process nginx -g daemon off;", 0),
                  ("/usr/sbin/nginx", "nginx: worker process", 101)],
        "reads": LIBC + ["/etc/nginx/nginx.conf", "/etc/nginx/conf.d/default.conf", "/usr/share/nginx/html/index.html"],
        "writes": NGINX_CACHE + ["/var/run/nginx.pid"],
        "listen": [port],
        "caps": ["CHOWN", "SETGID", "SETUID"],
    }


# app -> (namespace, {(kind, workload, container): behaviour}, {container: (cpu cores, memory MiB)})
APPS = {
    "aks-store-demo": ("default", {
        # src/order-service/Dockerfile: node:22-alpine, no USER, CMD npm start (npm writes its
        # debug log under /root/.npm/_logs on every run); fastify on 3000.
        ("Deployment", "order-service", "order-service"): {
            "procs": [("/usr/local/bin/npm", "npm start", 0), ("/usr/local/bin/node", "node app.js", 0)],
            "reads": LIBC + ["/app/package.json", "/app/app.js", "/app/plugins/messagequeue.js"],
            "writes": ["/root/.npm/_logs/2026-03-02T10_00_01_000Z-debug-0.log"],
            "listen": [3000], "caps": [], "footprint": (0.002, 58)},
        # initContainers[0]: busybox `until nc -zv rabbitmq 5672; ...`, as root, writes nothing.
        ("Deployment", "order-service", "wait-for-rabbitmq"): {
            "procs": [("/bin/sh", "sh -c until nc -zv rabbitmq 5672; do ...", 0), ("/bin/nc", "nc -zv rabbitmq 5672", 0)],
            "reads": ["/etc/hosts", "/etc/resolv.conf"], "writes": [], "listen": [], "caps": [], "footprint": None},
        # src/makeline-service/Dockerfile: alpine, no USER, CMD ./main (Go), listens 3001.
        ("Deployment", "makeline-service", "makeline-service"): {
            "procs": [("/main", "./main", 0)], "reads": LIBC, "writes": [], "listen": [3001], "caps": [],
            "footprint": (0.001, 11)},
        # src/product-service/Dockerfile: debian bookworm-slim, no USER, ./product-service (Rust) on 3002.
        ("Deployment", "product-service", "product-service"): {
            "procs": [("/app/product-service", "./product-service", 0)], "reads": GLIBC + ["/etc/ssl/certs/ca-certificates.crt"],
            "writes": [], "listen": [3002], "caps": [], "footprint": (0.001, 6)},
        ("Deployment", "store-front", "store-front"): dict(nginx(8080), footprint=(0.001, 9)),
        ("Deployment", "store-admin", "store-admin"): dict(nginx(8081), footprint=(0.001, 9)),
        # mongo:4.2: docker-entrypoint.sh as root chowns /data/db and re-execs through gosu as
        # mongodb (999); mongod writes /data/db (no volume in the manifest) and its socket in /tmp.
        ("StatefulSet", "mongodb", "mongodb"): {
            "procs": [("/usr/local/bin/docker-entrypoint.sh", "bash docker-entrypoint.sh mongod --bind_ip_all", 0),
                      ("/usr/local/bin/gosu", "gosu mongodb mongod --bind_ip_all", 0),
                      ("/usr/bin/mongod", "mongod --bind_ip_all", 999)],
            "reads": GLIBC + ["/etc/mongod.conf.orig"],
            "writes": ["/data/db/WiredTiger", "/data/db/WiredTiger.turtle", "/data/db/collection-0--123.wt",
                       "/data/db/journal/WiredTigerLog.0000000001", "/data/db/mongod.lock", "/tmp/mongodb-27017.sock"],
            "listen": [27017], "caps": ["CHOWN", "SETGID", "SETUID"], "footprint": (0.008, 92)},
        # rabbitmq:3.10-management-alpine: docker-entrypoint.sh as root, su-exec to rabbitmq
        # (uid 100); writes the Erlang cookie and mnesia under /var/lib/rabbitmq; epmd 4369,
        # AMQP 5672, management 15672, distribution 25672.
        ("StatefulSet", "rabbitmq", "rabbitmq"): {
            "procs": [("/usr/local/bin/docker-entrypoint.sh", "bash docker-entrypoint.sh rabbitmq-server", 0),
                      ("/sbin/su-exec", "su-exec rabbitmq rabbitmq-server", 0),
                      ("/usr/local/lib/erlang/erts-12.3/bin/beam.smp", "beam.smp -- -root /usr/local/lib/erlang", 100),
                      ("/usr/local/lib/erlang/erts-12.3/bin/epmd", "epmd -daemon", 100)],
            "reads": LIBC + ["/etc/rabbitmq/enabled_plugins", "/etc/rabbitmq/conf.d/10-defaults.conf"],
            "writes": ["/var/lib/rabbitmq/.erlang.cookie", "/var/lib/rabbitmq/mnesia/rabbit@rabbitmq-0/schema.DAT",
                       "/var/lib/rabbitmq/mnesia/rabbit@rabbitmq-0/msg_stores/vhosts/628WB79CIFDYO9LJI6DKMI09L/recovery.dets"],
            "listen": [4369, 5672, 15672, 25672], "caps": ["CHOWN", "SETGID", "SETUID"], "footprint": (0.015, 118)},
        # virtual-customer / virtual-worker: small Rust load generators, no USER, no listener, no writes.
        ("Deployment", "virtual-customer", "virtual-customer"): {
            "procs": [("/app/virtual-customer", "./virtual-customer", 0)], "reads": GLIBC, "writes": [], "listen": [],
            "caps": [], "footprint": (0.0005, 3)},
        ("Deployment", "virtual-worker", "virtual-worker"): {
            "procs": [("/app/virtual-worker", "./virtual-worker", 0)], "reads": GLIBC, "writes": [], "listen": [],
            "caps": [], "footprint": (0.0005, 3)},
    }),
    # Controllers: all three images are distroless static `nonroot` (USER 65532:65532); they read
    # their service-account token (they call the API), write nothing, and bind only their
    # metrics/health ports (reloader 9090, external-dns 7979, kubebuilder scaffold 8080/8081).
    "controllers": ("controllers", {
        ("Deployment", "reloader", "reloader"): {
            "procs": [("/manager", "/manager", 65532)], "reads": ["/etc/passwd", TOKEN], "writes": [],
            "listen": [9090], "caps": [], "footprint": (0.003, 38)},
        ("Deployment", "external-dns", "external-dns"): {
            "procs": [("/bin/external-dns", "external-dns --source=service --source=ingress --provider=aws", 65532)],
            "reads": ["/etc/passwd", "/etc/ssl/certs/ca-certificates.crt", TOKEN], "writes": [],
            "listen": [7979], "caps": [], "footprint": (0.002, 31)},
        ("Deployment", "widget-operator", "widget-operator"): {
            "procs": [("/manager", "/manager --leader-elect --health-probe-bind-address=:8081", 65532)],
            "reads": ["/etc/passwd", TOKEN], "writes": [], "listen": [8080, 8081], "caps": [], "footprint": (0.004, 45)},
    }),
}


def uid_of(*parts):
    return hashlib.sha256("/".join(map(str, parts)).encode()).hexdigest()[:32].upper()


def pod_name(kind, workload, i):
    # one pod per workload (replicas: 1); every container of the pod shares its name
    return "%s-0" % workload if kind == "StatefulSet" else "%s-6b8d9f7c5-%s" % (workload, "q7x2k")


def cdm(kind, body):
    return json.dumps({"datum": {"com.bbn.tc.schema.avro.cdm18.%s" % kind: body}, "CDMVersion": "18",
                       "source": "SOURCE_LINUX_SYSCALL_TRACE"}, sort_keys=True)


def ref(u):
    return {"com.bbn.tc.schema.avro.cdm18.UUID": u}


def provenance(rng, key, b):
    kind, workload, container = key
    out = []
    principals = {}
    for (_, _, uid) in b["procs"]:
        if uid not in principals:
            principals[uid] = uid_of(key, "principal", uid)
            out.append(cdm("Principal", {"uuid": principals[uid], "type": "PRINCIPAL_LOCAL", "userId": str(uid),
                                         "groupIds": [str(uid)], "properties": {"map": {"euid": str(uid)}}}))
    objects = {}

    def file_obj(path):
        if path not in objects:
            objects[path] = uid_of(key, "file", path)
            out.append(cdm("FileObject", {"uuid": objects[path], "type": "FILE_OBJECT_FILE",
                                          "baseObject": {"properties": {"map": {"path": path}}}}))
        return objects[path]

    t = [T0 * 10**9]

    def event(etype, subject, obj=None, path=None, flags=""):
        t[0] += rng.randrange(10**6, 10**9)
        body = {"uuid": uid_of(key, "event", len(out), etype), "type": etype, "subject": ref(subject),
                "timestampNanos": t[0], "properties": {"map": {"flags": flags} if flags else {}}}
        if obj:
            body["predicateObject"] = ref(obj)
        if path:
            body["predicateObjectPath"] = {"string": path}
        out.append(cdm("Event", body))

    restarts = 2 if rng.random() < 0.3 else 1  # a container restart: the processes run again
    for r in range(restarts):
        subjects = []
        for n, (binary, cmd, uid) in enumerate(b["procs"]):
            s = uid_of(key, "subject", r, n)
            subjects.append(s)
            out.append(cdm("Subject", {
                "uuid": s, "type": "SUBJECT_PROCESS", "cid": 1 + n + 100 * r, "localPrincipal": ref(principals[uid]),
                "startTimestampNanos": t[0] + 1000 * n, "cmdLine": {"string": cmd},
                "properties": {"map": {"name": os.path.basename(binary)}}}))
            event("EVENT_EXECUTE", s, file_obj(binary), binary)
        main = subjects[-1] if len(subjects) < 3 else subjects[1]
        for p in b["reads"]:
            for _ in range(rng.randrange(1, 4)):
                event("EVENT_OPEN", main, file_obj(p), p, "O_RDONLY|O_CLOEXEC")
                event("EVENT_READ", main, file_obj(p), p)
        for p in b["writes"]:
            event("EVENT_OPEN", main, file_obj(p), p, "O_WRONLY|O_CREAT|O_APPEND")
            for _ in range(rng.randrange(1, 6)):
                event("EVENT_WRITE", main, file_obj(p), p)
        for port in b["listen"]:
            nf = uid_of(key, "net", r, port)
            out.append(cdm("NetFlowObject", {"uuid": nf, "localAddress": "0.0.0.0", "localPort": port,
                                             "remoteAddress": "", "remotePort": 0, "ipProtocol": {"int": 6}}))
            event("EVENT_BIND", main, nf)
    return out


def tetragon(rng, ns, key, b, i):
    kind, workload, container = key
    out = []
    for cap in b["caps"]:
        value = {"CHOWN": 0, "SETGID": 6, "SETUID": 7}[cap]
        binary = b["procs"][1][0] if len(b["procs"]) > 1 else b["procs"][0][0]
        for _ in range(rng.randrange(1, 4)):
            ts = "2026-03-02T10:%02d:%02d.%06dZ" % (rng.randrange(0, 3), rng.randrange(0, 60), rng.randrange(10**6))
            out.append(json.dumps({"process_kprobe": {
                "process": {"exec_id": uid_of(key, "exec", cap), "binary": binary,
                            "pod": {"namespace": ns, "name": pod_name(kind, workload, i), "container": {"name": container},
                                    "workload": workload, "workload_kind": kind},
                            "process_credentials": {"uid": 0, "euid": 0, "gid": 0}},
                "function_name": "cap_capable",
                "args": [{"user_ns_arg": {"level": 0}}, {"capability_arg": {"value": value, "name": "CAP_" + cap}}],
                "return": {"int_arg": 0}, "action": "KPROBE_ACTION_POST"}, "node_name": "node-1", "time": ts},
                sort_keys=True))
    return out


def metrics(rng, ns, key, footprint, i):
    kind, workload, container = key
    cpu, mem = footprint
    pod = pod_name(kind, workload, i)
    labels = {"namespace": ns, "pod": pod, "container": container, "image": "x", "node": "node-1"}
    start = T0 + (3600 if rng.random() < 0.2 else 0)  # a series missing its first hour
    counter, cpu_vals, mem_vals = 12.0, [], []
    for k in range(361):
        ts = T0 + 60 * k
        if ts < start:
            continue
        load = 1.0 + 0.6 * math.sin(2 * math.pi * k / 240.0) + (2.5 if rng.random() < 0.02 else 0.0)
        counter += max(0.0, cpu * load * rng.uniform(0.7, 1.3)) * 60
        cpu_vals.append([ts, "%.6f" % counter])
        mem_vals.append([ts, "%d" % int(mem * 2**20 * (1 + 0.08 * math.sin(k / 30.0)) * rng.uniform(0.95, 1.05))])
    res = lambda name, vals: {"metric": dict(labels, __name__=name), "values": vals}
    return [res("container_cpu_usage_seconds_total", cpu_vals), res("container_memory_working_set_bytes", mem_vals)]


def cluster_audit(rng, ns, workloads):
    """The API server's audit log over the same 6 h window for an app none of whose components
    calls the Kubernetes API: only the control plane and the kubelet act (leases, pod status,
    endpoint slices), plus the admin's `kubectl apply` that deployed the app."""
    out = []

    def ev(t, user, verb, group, resource, namespace=None, name=None, sub=None, code=200):
        base = "/api/v1" if not group else "/apis/%s/v1" % group
        uri = base + ("/namespaces/%s" % namespace if namespace else "") + "/" + resource + ("/" + name if name else "")
        uri += ("/" + sub if sub else "")
        ref = {"resource": resource, "apiVersion": "v1"}
        for k, v in (("apiGroup", group), ("namespace", namespace), ("name", name), ("subresource", sub)):
            if v:
                ref[k] = v
        ts = time_of(t)
        out.append(json.dumps({
            "kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": "Metadata", "stage": "ResponseComplete",
            "auditID": uid_of("audit", len(out)).lower(), "requestURI": uri, "verb": verb,
            "user": {"username": user, "groups": ["system:authenticated"]}, "sourceIPs": ["192.168.0.11"],
            "objectRef": ref, "responseStatus": {"metadata": {}, "code": code},
            "requestReceivedTimestamp": ts, "stageTimestamp": ts}, sort_keys=True))

    for w in workloads:
        group = "apps"
        res = "statefulsets" if w[0] == "StatefulSet" else "deployments"
        ev(5, "admin", "create", group, res, ns)
    t = 10.0
    while t < 6 * 3600:
        ev(t, "system:kube-controller-manager", "update", "coordination.k8s.io", "leases", "kube-system",
           "kube-controller-manager")
        ev(t + 1, "system:kube-scheduler", "update", "coordination.k8s.io", "leases", "kube-system", "kube-scheduler")
        if rng.random() < 0.25:
            ev(t + 2, "system:node:node-1", "update", "coordination.k8s.io", "leases", "kube-node-lease", "node-1")
        if rng.random() < 0.05:
            kind, name = rng.choice(sorted(workloads))
            ev(t + 3, "system:node:node-1", "patch", "", "pods", ns, pod_name(kind, name, 0), sub="status")
            ev(t + 4, "system:serviceaccount:kube-system:endpointslice-controller", "update", "discovery.k8s.io",
               "endpointslices", ns, name + "-x2k8p")
        t += rng.uniform(8, 12) * 60
    return out


def time_of(seconds):
    import datetime
    return (datetime.datetime.fromtimestamp(T0 + seconds, datetime.timezone.utc)
            .strftime("%Y-%m-%dT%H:%M:%S.%fZ"))


def main():
    rng = random.Random(8)
    for app, (ns, containers) in APPS.items():
        pdir = os.path.join(CORPUS, app, "provenance")
        mdir = os.path.join(CORPUS, app, "metrics")
        os.makedirs(pdir, exist_ok=True)
        os.makedirs(mdir, exist_ok=True)
        tet, series = [], []
        for i, (key, b) in enumerate(sorted(containers.items())):
            kind, workload, container = key
            recs = provenance(rng, key, b)
            with open(os.path.join(pdir, "%s_%s_%s_%s.cdm.json" % (ns, kind, workload, container)), "w") as f:
                f.write("\n".join(recs) + "\n")
            tet.extend(tetragon(rng, ns, key, b, i))
            if b.get("footprint"):
                series.extend(metrics(rng, ns, key, b["footprint"], i))
        if tet:
            with open(os.path.join(pdir, "tetragon.json"), "w") as f:
                f.write("\n".join(sorted(tet)) + "\n")
        doc = {"status": "success", "data": {"resultType": "matrix", "result": series}}
        with open(os.path.join(mdir, "prometheus-range.json"), "w") as f:
            json.dump(doc, f, sort_keys=True)
            f.write("\n")
        print("%s: %d containers, %d tetragon events, %d series" % (app, len(containers), len(tet), len(series)))
        if app == "aks-store-demo":  # controllers' audit log comes from gen_corpus_audit.py
            workloads = sorted({(k, w) for (k, w, _) in containers})
            audit = cluster_audit(rng, ns, workloads)
            adir = os.path.join(CORPUS, app, "audit")
            os.makedirs(adir, exist_ok=True)
            with open(os.path.join(adir, "audit.log"), "w") as f:
                f.write("\n".join(audit) + "\n")
            print("%s: %d audit events" % (app, len(audit)))


main()

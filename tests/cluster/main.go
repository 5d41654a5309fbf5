// kube-harness: a real kube-apiserver (k8s.io/kubernetes, in-process) backed by an embedded etcd,
// for kubeguard's end-to-end tests. Not part of the kubeguard binary.
//
//	kube-harness start --dir DIR [--port N] [-- extra kube-apiserver flags...]
//	    Generates a CA, serving and admin client certificates and service-account signing keys
//	    under DIR, starts etcd (go.etcd.io/etcd/server/v3/embed, supports RequestWatchProgress)
//	    and kube-apiserver with RBAC authorization, service-account token issuance and a
//	    Metadata-level audit policy writing DIR/audit.log. When /readyz answers it writes
//	    DIR/kubeconfig (admin, client certificate in system:masters) and DIR/ready. Stops on
//	    SIGTERM/SIGINT: the apiserver gets stopGrace to shut down (its audit backends may wait
//	    for an unreachable webhook), then etcd is closed (bounded too) and the process exits.
//	kube-harness token --kubeconfig F --namespace NS --name SA [--duration 1h] [--audience A]
//	    Mints a service-account token with the TokenRequest API and prints it.
package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"flag"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"go.etcd.io/etcd/server/v3/embed"
	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/kubernetes/cmd/kube-apiserver/app"
)

// How long a stop may take per stage before the harness moves on regardless.
const stopGrace = 5 * time.Second

const auditPolicy = `apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: ["RequestReceived"]
rules:
- level: Metadata
`

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: kube-harness start|token ...")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "start":
		err = start(os.Args[2:])
	case "token":
		err = token(os.Args[2:])
	default:
		err = fmt.Errorf("unknown subcommand %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "kube-harness:", err)
		os.Exit(1)
	}
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

type keyPair struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	der  []byte
}

func newCert(tmpl *x509.Certificate, parent *keyPair) (*keyPair, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		return nil, err
	}
	tmpl.SerialNumber = serial
	tmpl.NotBefore = time.Now().Add(-time.Hour)
	tmpl.NotAfter = time.Now().Add(7 * 24 * time.Hour)
	parentCert, parentKey := tmpl, key
	if parent != nil {
		parentCert, parentKey = parent.cert, parent.key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parentCert, &key.PublicKey, parentKey)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &keyPair{cert: cert, key: key, der: der}, nil
}

func (k *keyPair) certPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: k.der})
}

func (k *keyPair) keyPEM() ([]byte, error) {
	b, err := x509.MarshalECPrivateKey(k.key)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: b}), nil
}

func writeFile(path string, data []byte, mode os.FileMode) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, mode); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

type pki struct {
	ca, serving, admin *keyPair
}

func generatePKI(dir string) (*pki, error) {
	ca, err := newCert(&x509.Certificate{
		Subject:               pkix.Name{CommonName: "kube-harness-ca"},
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}, nil)
	if err != nil {
		return nil, err
	}
	serving, err := newCert(&x509.Certificate{
		Subject:     pkix.Name{CommonName: "kube-apiserver"},
		DNSNames:    []string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local"},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("10.0.0.1")},
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}, ca)
	if err != nil {
		return nil, err
	}
	admin, err := newCert(&x509.Certificate{
		Subject:     pkix.Name{CommonName: "kubeguard-admin", Organization: []string{"system:masters"}},
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}, ca)
	if err != nil {
		return nil, err
	}
	for name, kp := range map[string]*keyPair{"ca": ca, "serving": serving, "admin": admin} {
		if err := writeFile(filepath.Join(dir, name+".crt"), kp.certPEM(), 0o644); err != nil {
			return nil, err
		}
		k, err := kp.keyPEM()
		if err != nil {
			return nil, err
		}
		if err := writeFile(filepath.Join(dir, name+".key"), k, 0o600); err != nil {
			return nil, err
		}
	}
	// Service-account token signing keys.
	saKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	pub, err := x509.MarshalPKIXPublicKey(&saKey.PublicKey)
	if err != nil {
		return nil, err
	}
	if err := writeFile(filepath.Join(dir, "sa.key"), pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(saKey)}), 0o600); err != nil {
		return nil, err
	}
	if err := writeFile(filepath.Join(dir, "sa.pub"), pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub}), 0o644); err != nil {
		return nil, err
	}
	return &pki{ca: ca, serving: serving, admin: admin}, nil
}

func kubeconfig(p *pki, server string) ([]byte, error) {
	adminKey, err := p.admin.keyPEM()
	if err != nil {
		return nil, err
	}
	// JSON is valid YAML; clientcmd and kube-rs both read it.
	cfg := map[string]any{
		"apiVersion":      "v1",
		"kind":            "Config",
		"current-context": "kube-harness",
		"clusters": []any{map[string]any{"name": "kube-harness", "cluster": map[string]any{
			"server": server, "certificate-authority-data": p.ca.certPEM(),
		}}},
		"users": []any{map[string]any{"name": "kubeguard-admin", "user": map[string]any{
			"client-certificate-data": p.admin.certPEM(), "client-key-data": adminKey,
		}}},
		"contexts": []any{map[string]any{"name": "kube-harness", "context": map[string]any{
			"cluster": "kube-harness", "user": "kubeguard-admin", "namespace": "default",
		}}},
	}
	return json.MarshalIndent(cfg, "", "  ")
}

func start(args []string) error {
	fs := flag.NewFlagSet("start", flag.ExitOnError)
	dir := fs.String("dir", "", "state directory (certificates, etcd data, audit log, kubeconfig)")
	port := fs.Int("port", 0, "apiserver secure port on 127.0.0.1 (0 = pick a free one)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *dir == "" {
		return fmt.Errorf("--dir is required")
	}
	d, err := filepath.Abs(*dir)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(d, 0o700); err != nil {
		return err
	}
	_ = os.Remove(filepath.Join(d, "ready"))
	sigc := make(chan os.Signal, 2)
	signal.Notify(sigc, syscall.SIGTERM, syscall.SIGINT)
	defer os.Remove(filepath.Join(d, "harness.pid"))
	if err := writeFile(filepath.Join(d, "harness.pid"), []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
		return err
	}
	p, err := generatePKI(d)
	if err != nil {
		return fmt.Errorf("pki: %w", err)
	}
	if err := writeFile(filepath.Join(d, "audit-policy.yaml"), []byte(auditPolicy), 0o644); err != nil {
		return err
	}

	// Embedded etcd on free loopback ports.
	clientPort, err := freePort()
	if err != nil {
		return err
	}
	peerPort, err := freePort()
	if err != nil {
		return err
	}
	ecfg := embed.NewConfig()
	ecfg.Name = "kube-harness"
	ecfg.Dir = filepath.Join(d, "etcd")
	_ = os.RemoveAll(ecfg.Dir)
	cu, _ := url.Parse(fmt.Sprintf("http://127.0.0.1:%d", clientPort))
	pu, _ := url.Parse(fmt.Sprintf("http://127.0.0.1:%d", peerPort))
	ecfg.ListenClientUrls, ecfg.AdvertiseClientUrls = []url.URL{*cu}, []url.URL{*cu}
	ecfg.ListenPeerUrls, ecfg.AdvertisePeerUrls = []url.URL{*pu}, []url.URL{*pu}
	ecfg.InitialCluster = ecfg.InitialClusterFromName(ecfg.Name)
	ecfg.LogLevel = "error"
	ecfg.UnsafeNoFsync = true
	etcd, err := embed.StartEtcd(ecfg)
	if err != nil {
		return fmt.Errorf("etcd: %w", err)
	}
	defer closeEtcd(etcd)
	select {
	case <-etcd.Server.ReadyNotify():
	case <-time.After(60 * time.Second):
		return fmt.Errorf("etcd did not become ready")
	}

	if *port == 0 {
		if *port, err = freePort(); err != nil {
			return err
		}
	}
	server := fmt.Sprintf("https://127.0.0.1:%d", *port)
	flags := []string{
		"--etcd-servers=" + cu.String(),
		"--bind-address=127.0.0.1",
		"--advertise-address=127.0.0.1",
		"--secure-port=" + strconv.Itoa(*port),
		"--tls-cert-file=" + filepath.Join(d, "serving.crt"),
		"--tls-private-key-file=" + filepath.Join(d, "serving.key"),
		"--client-ca-file=" + filepath.Join(d, "ca.crt"),
		"--authorization-mode=RBAC",
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file=" + filepath.Join(d, "sa.pub"),
		"--service-account-signing-key-file=" + filepath.Join(d, "sa.key"),
		"--service-cluster-ip-range=10.0.0.0/24",
		// No controller-manager runs, so nothing would create the "default" service accounts.
		"--disable-admission-plugins=ServiceAccount",
		"--allow-privileged=true",
		"--enable-priority-and-fairness=false",
		"--profiling=false",
		"--audit-policy-file=" + filepath.Join(d, "audit-policy.yaml"),
		"--audit-log-path=" + filepath.Join(d, "audit.log"),
		"--audit-log-format=json",
		"--audit-log-mode=blocking",
		"--audit-log-version=audit.k8s.io/v1",
		"--v=0",
	}
	flags = append(flags, fs.Args()...)
	cmd := app.NewAPIServerCommand()
	cmd.SetArgs(flags)
	errc := make(chan error, 1)
	go func() { errc <- cmd.Execute() }()

	cfg, err := kubeconfig(p, server)
	if err != nil {
		return err
	}
	if err := waitReady(server, p, errc); err != nil {
		return err
	}
	if err := writeFile(filepath.Join(d, "kubeconfig"), cfg, 0o600); err != nil {
		return err
	}
	info, _ := json.MarshalIndent(map[string]any{
		"server": server, "kubeconfig": filepath.Join(d, "kubeconfig"), "auditLog": filepath.Join(d, "audit.log"),
		"etcd": cu.String(), "pid": os.Getpid(),
	}, "", "  ")
	if err := writeFile(filepath.Join(d, "ready"), info, 0o644); err != nil {
		return err
	}
	fmt.Println(string(info))
	// Run until the apiserver exits or a stop signal arrives. The apiserver's own signal
	// context sees the same signal and starts its graceful shutdown; we wait for it at most
	// stopGrace, so a stuck audit backend or watch cannot hold the harness up.
	select {
	case err := <-errc:
		return err
	case sig := <-sigc:
		t0 := time.Now()
		_ = os.Remove(filepath.Join(d, "ready"))
		select {
		case <-errc:
			fmt.Fprintf(os.Stderr, "kube-harness: %v: apiserver stopped in %v\n", sig, time.Since(t0).Round(time.Millisecond))
		case <-time.After(stopGrace):
			fmt.Fprintf(os.Stderr, "kube-harness: %v: apiserver still stopping after %v; closing etcd\n", sig, stopGrace)
		}
		return nil
	}
}

// How long etcd may take to close. Its data folder is throw-away (removed on every start), and
// Close otherwise waits up to its request timeout for the apiserver's idle client connections.
const etcdCloseGrace = time.Second

// closeEtcd stops the embedded etcd, bounded by etcdCloseGrace.
func closeEtcd(e *embed.Etcd) {
	done := make(chan struct{})
	go func() {
		e.Close()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(etcdCloseGrace):
		fmt.Fprintln(os.Stderr, "kube-harness: etcd still closing; exiting")
	}
}

func waitReady(server string, p *pki, errc chan error) error {
	pool := x509.NewCertPool()
	pool.AddCert(p.ca.cert)
	cert := tls.Certificate{Certificate: [][]byte{p.admin.der}, PrivateKey: p.admin.key}
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cert}},
	}}
	deadline := time.Now().Add(3 * time.Minute)
	for time.Now().Before(deadline) {
		select {
		case err := <-errc:
			return fmt.Errorf("kube-apiserver exited: %v", err)
		default:
		}
		resp, err := client.Get(server + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(250 * time.Millisecond)
	}
	return fmt.Errorf("kube-apiserver not ready after 3m")
}

func token(args []string) error {
	fs := flag.NewFlagSet("token", flag.ExitOnError)
	kc := fs.String("kubeconfig", "", "admin kubeconfig")
	ns := fs.String("namespace", "default", "service account namespace")
	name := fs.String("name", "", "service account name")
	duration := fs.Duration("duration", time.Hour, "token lifetime")
	audience := fs.String("audience", "", "token audience (default: the apiserver's)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *name == "" {
		return fmt.Errorf("--name is required")
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", *kc)
	if err != nil {
		return err
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	secs := int64(duration.Seconds())
	req := &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: &secs}}
	if *audience != "" {
		req.Spec.Audiences = []string{*audience}
	}
	resp, err := cs.CoreV1().ServiceAccounts(*ns).CreateToken(context.Background(), *name, req, metav1.CreateOptions{})
	if err != nil {
		return err
	}
	fmt.Println(resp.Status.Token)
	return nil
}

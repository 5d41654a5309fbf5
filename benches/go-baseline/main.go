// Stand-in for audit2rbac's per-run ingest when audit2rbac itself cannot be installed: decode
// every audit.k8s.io/v1 Event line with Go's encoding/json into the upstream Event shape
// (field for field as in k8s.io/apiserver/pkg/apis/audit/v1/types.go), keep the events of one
// effective user (impersonatedUser if set, like audit2rbac's filter) and collect their distinct
// authorizer attributes. This is a lower bound on audit2rbac's cost per run: audit2rbac also
// converts versions, keeps every matching event in memory and runs the RBAC authorizer.
//
// usage: auditdecode -f FILE --user NAME
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"
)

type UserInfo struct {
	Username string              `json:"username,omitempty"`
	UID      string              `json:"uid,omitempty"`
	Groups   []string            `json:"groups,omitempty"`
	Extra    map[string][]string `json:"extra,omitempty"`
}

type ObjectReference struct {
	Resource        string `json:"resource,omitempty"`
	Namespace       string `json:"namespace,omitempty"`
	Name            string `json:"name,omitempty"`
	UID             string `json:"uid,omitempty"`
	APIGroup        string `json:"apiGroup,omitempty"`
	APIVersion      string `json:"apiVersion,omitempty"`
	ResourceVersion string `json:"resourceVersion,omitempty"`
	Subresource     string `json:"subresource,omitempty"`
}

type Status struct {
	Metadata map[string]interface{} `json:"metadata,omitempty"`
	Status   string                 `json:"status,omitempty"`
	Message  string                 `json:"message,omitempty"`
	Reason   string                 `json:"reason,omitempty"`
	Details  map[string]interface{} `json:"details,omitempty"`
	Code     int32                  `json:"code,omitempty"`
}

type Event struct {
	Kind                     string            `json:"kind,omitempty"`
	APIVersion               string            `json:"apiVersion,omitempty"`
	Level                    string            `json:"level"`
	AuditID                  string            `json:"auditID"`
	Stage                    string            `json:"stage"`
	RequestURI               string            `json:"requestURI"`
	Verb                     string            `json:"verb"`
	User                     UserInfo          `json:"user"`
	ImpersonatedUser         *UserInfo         `json:"impersonatedUser,omitempty"`
	SourceIPs                []string          `json:"sourceIPs,omitempty"`
	UserAgent                string            `json:"userAgent,omitempty"`
	ObjectRef                *ObjectReference  `json:"objectRef,omitempty"`
	ResponseStatus           *Status           `json:"responseStatus,omitempty"`
	RequestObject            json.RawMessage   `json:"requestObject,omitempty"`
	ResponseObject           json.RawMessage   `json:"responseObject,omitempty"`
	RequestReceivedTimestamp time.Time         `json:"requestReceivedTimestamp"`
	StageTimestamp           time.Time         `json:"stageTimestamp"`
	Annotations              map[string]string `json:"annotations,omitempty"`
}

func main() {
	file := flag.String("f", "", "audit log")
	user := flag.String("user", "", "effective user")
	flag.Parse()
	f, err := os.Open(*file)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	tuples := map[string]int{}
	events, matched, bad := 0, 0, 0
	start := time.Now()
	for sc.Scan() {
		line := sc.Bytes()
		if len(strings.TrimSpace(string(line))) == 0 {
			continue
		}
		var ev Event
		if err := json.Unmarshal(line, &ev); err != nil {
			bad++
			continue
		}
		events++
		who := ev.User.Username
		if ev.ImpersonatedUser != nil {
			who = ev.ImpersonatedUser.Username
		}
		if who != *user {
			continue
		}
		matched++
		key := ev.Verb + " " + strings.SplitN(ev.RequestURI, "?", 2)[0]
		if ev.ObjectRef != nil {
			o := ev.ObjectRef
			key = ev.Verb + " " + o.APIGroup + "/" + o.Resource + "/" + o.Subresource + " " + o.Namespace + "/" + o.Name
		}
		tuples[key]++
	}
	if err := sc.Err(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Printf("events=%d matched=%d distinct=%d malformed=%d seconds=%.3f\n", events, matched, len(tuples), bad, time.Since(start).Seconds())
}

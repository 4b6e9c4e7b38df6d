package main

import (
	"fmt"
	"net/http"
	"strings"

	"go.uber.org/zap"
)

// healthz says the process is alive (Kubernetes' liveness probe); it knows nothing else.
func healthz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Write([]byte("ok\n"))
}

// readyz answers 200 when NATS is connected, storage answers and (for workers) a token is online.
// On the public listener (detail false) it says which of these fails and how many tokens are
// online, nothing more: a token's name or error, or a storage error naming a bucket or host, is for
// the operator, who reads them on the metrics listener (detail true), in /ops and in the log.
func (a *app) readyz(detail bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var problems, lines []string
		if !a.nc.IsConnected() {
			problems = append(problems, "NATS not connected")
		}
		if err := a.store.Ping(r.Context()); err != nil {
			if detail {
				problems = append(problems, "storage: "+err.Error())
			} else {
				problems = append(problems, "storage not reachable")
				a.log.Warn("readiness: storage not reachable", zap.Error(err))
			}
		}
		if a.keys != nil {
			status := a.keys.Status()
			online := 0
			for _, t := range status {
				state := "online"
				if t.Online {
					online++
				} else {
					state = "OFFLINE: " + t.Err
				}
				if detail {
					lines = append(lines, fmt.Sprintf("token %s: %s, sessions %d/%d", t.Name, state, t.SessionsInUse, t.MaxSessions))
				}
			}
			if online == 0 {
				problems = append(problems, "no PKCS#11 token online")
			}
			if !detail {
				lines = append(lines, fmt.Sprintf("tokens online: %d of %d", online, len(status)))
			}
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		if len(problems) > 0 {
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintln(w, strings.Join(problems, "\n"))
		} else {
			fmt.Fprintln(w, "ready")
		}
		for _, l := range lines {
			fmt.Fprintln(w, l)
		}
	}
}

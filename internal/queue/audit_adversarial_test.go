package queue

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/signet-b24/signet/contracts"
	"github.com/signet-b24/signet/internal/testsupport/natstest"
)

// The audit trail cannot be cut short through JetStream's API: purging AUDIT (whole, or by subject),
// deleting or securely erasing one event, and switching deny_delete / deny_purge off again are all
// refused by the server, and every event is still there. An oversized event is refused too.
func TestAttackPurgeOrDeleteAudit(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ns := natstest.Start(t)
	if err := Provision(ctx, ns.JS, Settings{Replicas: 1}); err != nil {
		t.Fatal(err)
	}
	for _, job := range []string{"j1", "j2", "j3"} {
		if _, err := ns.JS.Publish(ctx, contracts.AuditEventSubject(contracts.AuditJobSigned, job), []byte(`{"v":1,"action":"job_signed"}`)); err != nil {
			t.Fatal(err)
		}
	}
	st, err := ns.JS.Stream(ctx, contracts.StreamAudit)
	if err != nil {
		t.Fatal(err)
	}
	attacks := map[string]func() error{
		"purge":             func() error { return st.Purge(ctx) },
		"purge one subject": func() error { return st.Purge(ctx, jetstream.WithPurgeSubject(contracts.AuditJobFilter("j2"))) },
		"purge keep 1":      func() error { return st.Purge(ctx, jetstream.WithPurgeKeep(1)) },
		"delete":            func() error { return st.DeleteMsg(ctx, 2) },
		"secure delete":     func() error { return st.SecureDeleteMsg(ctx, 2) },
		"lift deny_delete": func() error {
			c := st.CachedInfo().Config
			c.DenyDelete = false
			_, err := ns.JS.UpdateStream(ctx, c)
			return err
		},
		"lift deny_purge": func() error {
			c := st.CachedInfo().Config
			c.DenyPurge = false
			_, err := ns.JS.UpdateStream(ctx, c)
			return err
		},
		"oversized event": func() error {
			_, err := ns.JS.Publish(ctx, contracts.AuditEventSubject(contracts.AuditRequestRefused, "big"), []byte(strings.Repeat("x", AuditMaxMsgSize+1)))
			return err
		},
	}
	for name, attack := range attacks {
		if err := attack(); err == nil {
			t.Errorf("%s: accepted, want refused", name)
		}
	}
	info, err := st.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != 3 || info.State.FirstSeq != 1 || info.State.LastSeq != 3 || !info.Config.DenyDelete || !info.Config.DenyPurge {
		t.Fatalf("AUDIT after the attacks: %d events (%d…%d), deny_delete %v, deny_purge %v; want 3 events 1…3, both set",
			info.State.Msgs, info.State.FirstSeq, info.State.LastSeq, info.Config.DenyDelete, info.Config.DenyPurge)
	}
}

// An AUDIT stream made by an earlier Signet (deletable, no size limit) becomes append-only at the
// next start, keeping its events.
func TestProvisionMakesAnExistingAuditAppendOnly(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ns := natstest.Start(t)
	if _, err := ns.JS.CreateStream(ctx, jetstream.StreamConfig{Name: contracts.StreamAudit, Subjects: []string{contracts.SubjectAuditAll},
		Storage: jetstream.FileStorage, Duplicates: DuplicateWindow}); err != nil {
		t.Fatal(err)
	}
	if _, err := ns.JS.Publish(ctx, contracts.AuditEventSubject(contracts.AuditJobSigned, "old"), []byte(`{"v":1,"action":"job_signed"}`)); err != nil {
		t.Fatal(err)
	}
	if err := Provision(ctx, ns.JS, Settings{Replicas: 1}); err != nil {
		t.Fatal(err)
	}
	st, _ := ns.JS.Stream(ctx, contracts.StreamAudit)
	info, err := st.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !info.Config.DenyDelete || !info.Config.DenyPurge || info.Config.MaxMsgSize != AuditMaxMsgSize || info.State.Msgs != 1 {
		t.Fatalf("after provisioning: %+v, %d events", info.Config, info.State.Msgs)
	}
	if err := st.DeleteMsg(ctx, 1); err == nil {
		t.Fatal("an event of the upgraded AUDIT could be deleted")
	}
	// Provisioning again is a no-op.
	if err := Provision(ctx, ns.JS, Settings{Replicas: 1}); err != nil {
		t.Fatal(err)
	}
}

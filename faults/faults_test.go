package faults

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/signet-b24/signet/bitrix24/emulator"
	"github.com/signet-b24/signet/storage/miniotest"
)

// docs is the batch size of each fault test in the normal suite.
const docs = 200

// TestWorkerKilledMidBatch kills a worker process with SIGKILL three times while a batch is being
// signed (two workers share the token and the queue) and starts it again each time.
func TestWorkerKilledMidBatch(t *testing.T) {
	p := newPipeline(t, options{Workers: 2})
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	p.send(ctx, docs)
	for i, at := range []float64{0.15, 0.4, 0.65} {
		p.waitProgress(at, 2*time.Minute)
		w := p.workers[i%2]
		w.kill()
		t.Logf("killed %s (SIGKILL) at %d/%d completed", w.name, p.completed(), docs)
		time.Sleep(300 * time.Millisecond)
		w.start(t)
	}
	p.verify(3 * time.Minute)
}

// TestNATSRestartedMidBatch shuts the (file-store) nats-server down in the middle of a batch and
// starts it again on the same port and store a few seconds later.
func TestNATSRestartedMidBatch(t *testing.T) {
	p := newPipeline(t, options{Workers: 2})
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	p.send(ctx, docs)
	p.waitProgress(0.3, 2*time.Minute)
	p.nats.stop(0)
	t.Logf("NATS stopped at %d/%d completed", p.completed(), docs)
	time.Sleep(3 * time.Second)
	p.nats.start(0)
	t.Logf("NATS started again")
	p.verify(3 * time.Minute)
}

// TestMinIOStoppedMidBatch stops MinIO (the S3 store of the signed artefacts) in the middle of a batch
// and starts it again: jobs wait and retry, none is lost or failed.
func TestMinIOStoppedMidBatch(t *testing.T) {
	m := miniotest.Start(t)
	p := newPipeline(t, options{Workers: 2, StorageURL: m.URL("signet", "faults"),
		StorageEnv: []string{"SIGNET_S3_ACCESS_KEY=" + m.AccessKey, "SIGNET_S3_SECRET_KEY=" + m.SecretKey}})
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	p.send(ctx, docs)
	p.waitProgress(0.3, 2*time.Minute)
	m.Stop()
	t.Logf("MinIO stopped at %d/%d completed", p.completed(), docs)
	time.Sleep(4 * time.Second)
	m.Start()
	t.Logf("MinIO started again at %d/%d completed", p.completed(), docs)
	p.verify(3 * time.Minute)
}

// TestPortalFailingMidBatch makes the portal answer 503 to the next 150 calls, then hold back its
// answers (slower than AckWait), then drop the answers of calls it did execute (a timeout on a call
// that happened, bizproc.event.send included), each for a while.
func TestPortalFailingMidBatch(t *testing.T) {
	p := newPipeline(t, options{Workers: 2})
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	p.send(ctx, docs)
	p.waitProgress(0.2, 2*time.Minute)
	p.portal.SetFailure(emulator.Failure{Calls: 150, Status: 503})
	t.Logf("portal answering 503 at %d/%d completed", p.completed(), docs)
	time.Sleep(3 * time.Second)
	p.portal.SetFailure(emulator.Failure{Delay: 4 * time.Second, DelayCalls: 20})
	t.Logf("portal answering late at %d/%d completed", p.completed(), docs)
	p.waitProgress(0.5, 2*time.Minute)
	p.proxy.drop.Store(true)
	t.Logf("portal answers dropped at %d/%d completed", p.completed(), docs)
	time.Sleep(2 * time.Second)
	p.proxy.drop.Store(false)
	t.Logf("portal back at %d/%d completed; %d answers dropped", p.completed(), docs, p.proxy.dropped.Load())
	p.verify(3 * time.Minute)
}

// TestTokenRemovedMidBatch takes the SoftHSM token away from under the workers (its directory is
// moved out of SoftHSM's token directory) and gives it back: the keyring marks it offline
// (keyring.ErrTokenOffline, retry later) and reconnects; jobs wait instead of failing.
func TestTokenRemovedMidBatch(t *testing.T) {
	p := newPipeline(t, options{Workers: 2})
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	dir := p.tokenDir()
	parked := filepath.Join(p.dir, "parked-token")
	p.send(ctx, docs)
	p.waitProgress(0.3, 2*time.Minute)
	if err := os.Rename(dir, parked); err != nil {
		t.Fatal(err)
	}
	t.Logf("token taken away at %d/%d completed", p.completed(), docs)
	time.Sleep(4 * time.Second)
	if err := os.Rename(parked, dir); err != nil {
		t.Fatal(err)
	}
	t.Logf("token given back at %d/%d completed", p.completed(), docs)
	p.verify(3 * time.Minute)
}

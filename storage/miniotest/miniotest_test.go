package miniotest_test

import (
	"context"
	"strings"
	"testing"

	"github.com/minio/minio-go/v7"
	"github.com/signet-b24/signet/storage/miniotest"
)

func TestStopStartKeepsPortAndData(t *testing.T) {
	srv := miniotest.Start(t)
	ctx := context.Background()
	if !strings.HasPrefix(srv.Endpoint, "127.0.0.1:") {
		t.Fatalf("endpoint %s is not on loopback", srv.Endpoint)
	}
	c := srv.Client(t)
	if err := c.MakeBucket(ctx, "keep", minio.MakeBucketOptions{}); err != nil {
		t.Fatal(err)
	}
	endpoint := srv.Endpoint
	srv.Stop()
	if srv.Ready(ctx) {
		t.Fatal("server still answers after Stop")
	}
	if _, err := c.BucketExists(ctx, "keep"); err == nil {
		t.Fatal("S3 call succeeded while stopped")
	}
	srv.Stop() // idempotent
	srv.Start()
	if srv.Endpoint != endpoint || !srv.Ready(ctx) {
		t.Fatalf("after Start: endpoint %s (was %s), ready %v", srv.Endpoint, endpoint, srv.Ready(ctx))
	}
	if ok, err := c.BucketExists(ctx, "keep"); err != nil || !ok {
		t.Fatalf("bucket after restart: %v, %v", ok, err)
	}
}

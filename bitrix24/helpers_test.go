package bitrix24_test

import (
	"context"
	"encoding/base64"
	"errors"
	"strings"
	"testing"

	"github.com/signet-b24/signet/bitrix24"
	"github.com/signet-b24/signet/bitrix24/emulator"
)

func encodeB64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

func errorsIs(err, target error) bool { return errors.Is(err, target) }

func err2(_ int64, err error) error { return err }

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// mustStore is a store holding a fresh admin token pair of p.
func mustStore(t *testing.T, p *emulator.Portal) *bitrix24.MemoryTokenStore {
	t.Helper()
	s := bitrix24.NewMemoryTokenStore()
	if err := s.Save(context.Background(), p.NewAuth(emulator.AdminUserID)); err != nil {
		t.Fatal(err)
	}
	return s
}

func errorsAs(err error, target any) bool { return errors.As(err, target) }

func strContains(s, sub string) bool { return sub != "" && strings.Contains(s, sub) }

func mustAccess(t *testing.T, p *emulator.Portal) string {
	t.Helper()
	return p.NewAuth(emulator.AdminUserID).AccessToken
}

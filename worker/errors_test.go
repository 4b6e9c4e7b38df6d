package worker

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/signet-b24/signet/bitrix24"
	"github.com/signet-b24/signet/keyring"
	"github.com/signet-b24/signet/pades"
	"github.com/signet-b24/signet/storage"
	"github.com/signet-b24/signet/worker/evidence"
)

// Every rule of classify, with the errors as the portal client, the storage, the keyring and the PDF
// engine really wrap them; and classify never changes what a person reads.
func TestClassify(t *testing.T) {
	refused := &bitrix24.Error{HTTPStatus: 400, Code: "ACCESS_DENIED", Description: "Access denied", Method: "disk.file.get"}
	for _, tc := range []struct {
		name      string
		err       error
		permanent bool
	}{
		{"the network", errors.New("dial tcp 10.0.0.7:443: connection refused"), false},
		{"a deadline", fmt.Errorf("downloading x.pdf: %w", context.DeadlineExceeded), false},
		{"a portal refusal", fmt.Errorf("reading deal 7 (crm.item.get): %w", refused), true},
		{"a file the portal does not have", &bitrix24.Error{HTTPStatus: 404, Code: bitrix24.ErrCodeNotFound, Method: "disk.file.get"}, true},
		{"the portal's rate limit", &bitrix24.Error{HTTPStatus: 503, Code: bitrix24.ErrCodeQueryLimitExceeded}, false},
		{"a portal 5xx", &bitrix24.Error{HTTPStatus: 502, Code: "BAD_GATEWAY"}, false},
		{"a URL outside the portal", fmt.Errorf("downloading x.pdf: %w", bitrix24.ErrForeignHost), true},
		{"a private address", fmt.Errorf("downloading x.pdf: %w", bitrix24.ErrPrivateAddress), true},
		{"a download over the limit", fmt.Errorf("downloading x.pdf: %w", bitrix24.ErrTooLarge), true},
		{"a batch command not executed", fmt.Errorf("%w: cmd1 (bizproc.event.send)", bitrix24.ErrBatchNotExecuted), false},
		{"not executed, after a refusal halted the batch", fmt.Errorf("%w: %w", bitrix24.ErrBatchNotExecuted, refused), false},
		{"an encrypted PDF", fmt.Errorf("signing: %w", pades.ErrEncrypted), true},
		{"a corrupt PDF", pades.ErrCorrupt, true},
		{"the timestamp authority down", fmt.Errorf("timestamp authority: %w: http://tsa answered HTTP 503", pades.ErrTimestamp), false},
		{"the timestamp authority refusing", fmt.Errorf("timestamp authority: %w: http://tsa: request rejected (PKIStatus 2)", pades.ErrTimestampRefused), true},
		{"a document already signed (evidence)", evidence.ErrAlreadySigned, true},
		{"a document that cannot take the evidence page", fmt.Errorf("document a.pdf of job j: a.pdf: %w: drawing the evidence: bad font", evidence.ErrUnusable), true},
		{"the evidence step cancelled at the drain deadline", fmt.Errorf("document a.pdf of job j: %w", context.Canceled), false},
		{"the evidence step's file unreadable", fmt.Errorf("document a.pdf of job j: a.pdf: open a.pdf: %w", errors.New("input/output error")), false},
		{"a key that refused to sign", fmt.Errorf("%w: CKR_KEY_FUNCTION_NOT_PERMITTED", pades.ErrBadSigner), true},
		{"a key that went away mid-signature", fmt.Errorf("%w: %w", pades.ErrBadSigner, keyring.ErrTokenOffline), false},
		{"a busy token, marked permanent", Permanent(fmt.Errorf("credential x: %w", keyring.ErrTokenBusy)), false},
		{"an unknown credential, marked permanent", Permanent(keyring.ErrKeyNotFound), true},
		{"a marked failure", Permanentf("deal 7 has no field UF_CRM_1"), true},
		{"a stored object gone", fmt.Errorf("batch document 1.pdf: %w", storage.ErrNotFound), true},
		{"a stored object altered", storage.ErrIntegrity, true},
		{"a key Signet may not read", storage.ErrInvalidKey, true},
		{"the storage unreachable", fmt.Errorf("%w: storage: get: EOF; retry later", storage.ErrUnavailable), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := classify(tc.err)
			if IsPermanent(got) != tc.permanent {
				t.Fatalf("classify(%v): permanent %v, want %v", tc.err, IsPermanent(got), tc.permanent)
			}
			if got.Error() != tc.err.Error() {
				t.Fatalf("classify changed the words: %q, was %q", got, tc.err)
			}
			if !IsPermanent(tc.err) && !errors.Is(got, tc.err) {
				t.Fatalf("classify lost the cause of %v", tc.err)
			}
			if again := classify(got); IsPermanent(again) != tc.permanent {
				t.Fatalf("classify is not stable: twice gives permanent %v", IsPermanent(again))
			}
		})
	}
	if classify(nil) != nil {
		t.Fatal("classify(nil) is not nil")
	}
}

// The words put around a classified error at the place it is met: what a workflow's log shows.
func TestClassifiedWords(t *testing.T) {
	for _, tc := range []struct {
		name      string
		got       error
		want      string
		permanent bool
	}{
		{"an unusable document is named", documentError(pades.ErrEncrypted, "x.pdf", "job-1", "signing job job-1"),
			"document x.pdf of job job-1: " + pades.ErrEncrypted.Error(), true},
		{"a token that went away names the job", documentError(fmt.Errorf("%w: %w", pades.ErrBadSigner, keyring.ErrTokenOffline), "x.pdf", "job-1", "signing job job-1"),
			"signing job job-1: " + pades.ErrBadSigner.Error() + ": " + keyring.ErrTokenOffline.Error(), false},
		{"a gone batch document asks for a new enqueue", batchDocumentError(fmt.Errorf("batch document 1.pdf of job b.1: %w", storage.ErrNotFound)),
			"batch document 1.pdf of job b.1: " + storage.ErrNotFound.Error() + "; enqueue the document again", true},
		{"an unreachable storage is only retried", batchDocumentError(fmt.Errorf("batch document 1.pdf of job b.1: %w", storage.ErrUnavailable)),
			"batch document 1.pdf of job b.1: " + storage.ErrUnavailable.Error(), false},
		{"a last delivery gives up", giveUp(errors.New("portal unreachable"), 5), "gave up after 5 attempts: portal unreachable", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.got.Error() != tc.want || IsPermanent(tc.got) != tc.permanent {
				t.Fatalf("got %q (permanent %v), want %q (permanent %v)", tc.got, IsPermanent(tc.got), tc.want, tc.permanent)
			}
		})
	}
}

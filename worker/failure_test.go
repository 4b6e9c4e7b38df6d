package worker

import (
	"errors"
	"fmt"
	"html"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/text/language"

	"github.com/signet-b24/signet/bitrix24"
	"github.com/signet-b24/signet/contracts"
	"github.com/signet-b24/signet/internal/i18n"
	"github.com/signet-b24/signet/internal/reasons"
	"github.com/signet-b24/signet/internal/testsupport/i18ntext"
	"github.com/signet-b24/signet/keyring"
	"github.com/signet-b24/signet/pades"
	"github.com/signet-b24/signet/worker/evidence"
)

// failureOf finds the kind of each permanent failure as the worker really meets it: the sentinels of
// the PDF engine, the keyring and the portal client wrapped in the worker's own words, and the
// failures the worker makes where they arise (a CRM field, a file gone, the give-up).
func TestFailureOfKinds(t *testing.T) {
	job := &contracts.SignJob{ID: "j1", Credential: "pkcs11:token=t;object=mary", Signer: contracts.Signer{Login: "mary"},
		Document: contracts.Document{EntityTypeID: 2, EntityID: 12, FileField: "UF_CRM_7"}}
	gone := &bitrix24.Error{HTTPStatus: 404, Code: bitrix24.ErrCodeNotFound, Method: "disk.file.get"}
	for _, tc := range []struct {
		name string
		err  error
		want contracts.Failure
	}{
		{"not a PDF", documentError(fmt.Errorf("document: %w", pades.ErrNotPDF), "x.pdf", "j1", "signing j1"), contracts.Failure{Kind: contracts.FailureNotPDF}},
		{"not a PDF (evidence pass)", Permanent(evidence.ErrNotPDF), contracts.Failure{Kind: contracts.FailureNotPDF}},
		{"encrypted", Permanent(pades.ErrEncrypted), contracts.Failure{Kind: contracts.FailureEncrypted}},
		{"corrupt", Permanent(pades.ErrCorrupt), contracts.Failure{Kind: contracts.FailureDamaged}},
		{"certified", Permanent(pades.ErrCertified), contracts.Failure{Kind: contracts.FailureCertified}},
		{"already signed", Permanent(evidence.ErrAlreadySigned), contracts.Failure{Kind: contracts.FailureAlreadySigned}},
		{"decoding limits", Permanent(pades.ErrTooLarge), contracts.Failure{Kind: contracts.FailureDecodingLimit}},
		{"download over the limit", classify(fmt.Errorf("downloading x.pdf: %w", bitrix24.ErrTooLarge)), contracts.Failure{Kind: contracts.FailureTooLarge, Limit: 10 << 20}},
		{"timestamp refused", Permanent(pades.ErrTimestampRefused), contracts.Failure{Kind: contracts.FailureTimestampRefused}},
		{"revoked", Permanentf("credential %s: %w", job.Credential, keyring.ErrRevoked),
			contracts.Failure{Kind: contracts.FailureRevoked, Credential: job.Credential, Signer: "mary"}},
		{"expired certificate", Permanent(keyring.ErrExpired), contracts.Failure{Kind: contracts.FailureExpiredCertificate, Credential: job.Credential, Signer: "mary"}},
		{"not yet valid", Permanent(keyring.ErrNotYetValid), contracts.Failure{Kind: contracts.FailureCertificateNotYetValid, Credential: job.Credential, Signer: "mary"}},
		{"no such key", Permanentf("credential %s: %w", job.Credential, keyring.ErrKeyNotFound),
			contracts.Failure{Kind: contracts.FailureCredentialUnknown, Credential: job.Credential, Signer: "mary"}},
		{"disabled credential", Permanentf("credential %s was %w", job.Credential, ErrCredentialDisabled),
			contracts.Failure{Kind: contracts.FailureCredentialDisabled, Credential: job.Credential, Signer: "mary"}},
		{"authorisation expired", Permanent(fmt.Errorf("job j1: %w", contracts.ErrJobAuthExpired)), contracts.Failure{Kind: contracts.FailureUnauthorised}},
		{"URL outside the portal", classify(fmt.Errorf("downloading x.pdf: %w", bitrix24.ErrForeignHost)), contracts.Failure{Kind: contracts.FailureURLOutsidePortal}},
		{"private address", classify(fmt.Errorf("downloading x.pdf: %w", bitrix24.ErrPrivateAddress)), contracts.Failure{Kind: contracts.FailureURLOutsidePortal}},
		{"access denied", classify(fmt.Errorf("downloading x.pdf: %w", &bitrix24.Error{HTTPStatus: 403, Code: bitrix24.ErrCodeAccessDenied})),
			contracts.Failure{Kind: contracts.FailureDownloadFailed}},
		{"Disk file gone", classify(diskLookupError(102, gone)), contracts.Failure{Kind: contracts.FailureFileRemoved, DiskFileID: 102}},
		{"no field", failing(contracts.Failure{Kind: contracts.FailureNoField, Item: 12, Field: "UF_CRM_7"}, "deal 12 has no field UF_CRM_7"),
			contracts.Failure{Kind: contracts.FailureNoField, Item: 12, Field: "UF_CRM_7"}},
		{"not a file field", notFileField(job.Document), contracts.Failure{Kind: contracts.FailureNotFileField, Item: 12, Field: "UF_CRM_7"}},
		{"gave up", giveUp(fmt.Errorf("downloading: %w", errors.New("connection refused")), 5), contracts.Failure{Kind: contracts.FailureGaveUp, Attempts: 5}},
		{"gave up, over a kind", giveUp(Permanent(pades.ErrNotPDF), 3), contracts.Failure{Kind: contracts.FailureGaveUp, Attempts: 3}},
		{"anything else", Permanentf("job j1: the NATS bucket said no"), contracts.Failure{Kind: contracts.FailureOther}},
	} {
		got := failureOf(tc.err, job, 10<<20)
		if !equalFailure(got, tc.want) {
			t.Errorf("%s: %+v, want %+v", tc.name, got, tc.want)
		}
	}
}

func equalFailure(a, b contracts.Failure) bool {
	return a.Kind == b.Kind && a.Item == b.Item && a.Field == b.Field && a.FileID == b.FileID && a.DiskFileID == b.DiskFileID &&
		a.Limit == b.Limit && a.Attempts == b.Attempts && a.Signer == b.Signer && a.Credential == b.Credential &&
		a.Property == b.Property && a.Reason == b.Reason && slices.Equal(a.Args, b.Args) && a.Deadline.Equal(b.Deadline)
}

// sampleFailure is a failure of kind k with every fact its words take.
func sampleFailure(k contracts.FailureKind) *contracts.Failure {
	return &contracts.Failure{Kind: k, Item: 12, Field: "UF_CRM_1739432938", FileID: 345, Limit: 10 << 20, Attempts: 5,
		Signer: "mary", Credential: "pkcs11:token=acme;object=mary-2026", Deadline: time.Date(2026, 12, 6, 9, 0, 0, 0, time.UTC)}
}

// The intake's kinds are worded by the intake's own keys (Reason), which producer's tests cover;
// every other kind has its words, in English and in Russian, and a Russian portal reads no English
// sentence: what is left of the text once the Russian catalogue and the facts are taken out has no
// letter. A variant (a Disk file, a limit) has its words too.
func TestEveryFailureKindIsWorded(t *testing.T) {
	intakes := []contracts.FailureKind{contracts.FailureUnknownSigner, contracts.FailureSignerDisabled, contracts.FailureNotEnrolled,
		contracts.FailureWrongCode, contracts.FailureCodeReused, contracts.FailureCodeFormat, contracts.FailureLockedOut,
		contracts.FailureCredentialNotMapped, contracts.FailureWrongRobot, contracts.FailureInvalidProperty}
	english := "job j1: the NATS bucket said no"
	var failures []*contracts.Failure
	for _, k := range contracts.FailureKinds {
		if !slices.Contains(intakes, k) {
			failures = append(failures, sampleFailure(k))
		}
	}
	disk := sampleFailure(contracts.FailureFileRemoved)
	disk.DiskFileID = 102
	noLimit := sampleFailure(contracts.FailureTooLarge)
	noLimit.Limit = 0
	one := sampleFailure(contracts.FailureGaveUp)
	one.Attempts = 1
	failures = append(failures, disk, noLimit, one)
	for _, f := range failures {
		if f.Kind != contracts.FailureDeclined && f.Kind != contracts.FailureExpired && f.Kind != contracts.FailureOther {
			key, _ := reasons.Message(f)
			for _, tag := range i18n.Languages() {
				if !slices.Contains(i18n.Keys(tag), key) {
					t.Errorf("%s: the %s catalogue has no %q", f.Kind, tag, key)
				}
			}
		}
		cb := &contracts.Callback{JobID: "j1", Outcome: contracts.OutcomeFailed, Error: english, Failure: f, TimeZone: "Europe/Moscow"}
		if f.Kind == contracts.FailureDeclined {
			cb.Outcome, cb.Error = contracts.OutcomeDeclined, "не тот договор"
		}
		en, ru := failureText(i18n.For(language.English), cb), failureText(i18n.For(language.Russian), cb)
		for _, s := range []string{en, ru} {
			if s == "" || strings.Contains(s, "%!") || strings.HasPrefix(s, "failure.") {
				t.Errorf("%s: badly worded: %q", f.Kind, s)
			}
		}
		if f.Kind != contracts.FailureDeclined && en == ru {
			t.Errorf("%s: the same words in English and Russian: %q", f.Kind, en)
		}
		left, err := i18ntext.Foreign(i18n.For(language.Russian), []byte("<p>"+html.EscapeString(ru)+"</p>"),
			f.Field, f.Credential, f.Signer, cb.Error, "j1", "signet dlq retry", "worker.max_pdf_bytes", "signing.tsa_url", "security.job_ttl")
		if err != nil {
			t.Fatal(err)
		}
		if len(left) > 0 || strings.Contains(ru, english) {
			t.Errorf("%s: the Russian words %q hold words not in the Russian catalogue: %v", f.Kind, ru, left)
		}
	}
}

// A callback queued before kinds (or with a kind of a newer Signet) is told by its text, as before;
// an intake's refusal is told in its own catalogue words, in the language of the portal, and a key
// that is not a refusal's is not trusted.
func TestFailureTextFallsBackAndWordsRefusals(t *testing.T) {
	ru := i18n.For(language.Russian)
	old := &contracts.Callback{JobID: "j1", Error: "the token is locked"}
	if got := failureText(ru, old); got != old.Error {
		t.Errorf("a callback without a kind: %q", got)
	}
	newer := &contracts.Callback{JobID: "j1", Error: "the token is locked", Failure: &contracts.Failure{Kind: "quantum_noise"}}
	if got := failureText(ru, newer); got != newer.Error {
		t.Errorf("a kind this worker does not know: %q", got)
	}
	refused := &contracts.Callback{JobID: "j1", Error: "signer user_99 is not a Signet user", Failure: &contracts.Failure{
		Kind: contracts.FailureUnknownSigner, Reason: "refusal.userNotFound", Args: []string{"user_99"}}}
	if got, want := failureText(ru, refused), ru.T("refusal.userNotFound", "user_99"); got != want || !strings.HasPrefix(got, "подписант user_99") {
		t.Errorf("an intake's refusal: %q, want %q", got, want)
	}
	property := &contracts.Callback{JobID: "j1", Failure: &contracts.Failure{Kind: contracts.FailureInvalidProperty, Property: "position",
		Reason: "refusal.position", Args: []string{"top-left"}}}
	if got := failureText(ru, property); got != "свойство робота «position»: должно быть одно из значений: top-left" {
		t.Errorf("a wrong property: %q", got)
	}
	forged := &contracts.Callback{JobID: "j1", Error: "нет", Failure: &contracts.Failure{Kind: contracts.FailureOther, Reason: "callback.comment.signed"}}
	if got := failureText(ru, forged); got != "нет" {
		t.Errorf("a reason that is not a refusal's key was used: %q", got)
	}
	if got := failureText(i18n.For(language.English), &contracts.Callback{JobID: "j1", Error: "the token is locked",
		Failure: &contracts.Failure{Kind: contracts.FailureOther}}); got != "the token is locked" {
		t.Errorf("an English portal reads the English detail of an unnamed failure: %q", got)
	}
}

// A signed PDF that could not replace the original is told in the portal's language too: the words
// of the failure the worker found, or the portal's refusal by its code; an unnamed failure is told by
// its English error to an English portal only.
func TestWriteBackTextInThePortalsLanguage(t *testing.T) {
	ru, en := i18n.For(language.Russian), i18n.For(language.English)
	denied := Permanent(&bitrix24.Error{HTTPStatus: 403, Code: bitrix24.ErrCodeAccessDenied, Description: "Access denied", Method: "crm.item.update"})
	noField := failing(contracts.Failure{Kind: contracts.FailureNoField, Item: 12, Field: "UF_CRM_7"}, "deal 12 has no field UF_CRM_7")
	unnamed := Permanentf("reading the signed PDF of job j1: object gone")
	for _, tc := range []struct {
		err    error
		ru, en string
	}{
		{denied, ru.T("callback.writeback.refused", "ACCESS_DENIED"), en.T("callback.writeback.refused", "ACCESS_DENIED")},
		{noField, ru.T("callback.writeback.failed", ru.T("failure.no_field", 12, "UF_CRM_7")), en.T("callback.writeback.failed", en.T("failure.no_field", 12, "UF_CRM_7"))},
		{unnamed, ru.T("callback.writeback.unknown", "j1"), en.T("callback.writeback.failed", unnamed)},
	} {
		gotRU, gotEN := writeBackText(ru, tc.err, "j1"), writeBackText(en, tc.err, "j1")
		if gotRU != tc.ru || gotEN != tc.en {
			t.Errorf("%v:\n ru %q, want %q\n en %q, want %q", tc.err, gotRU, tc.ru, gotEN, tc.en)
		}
		left, err := i18ntext.Foreign(ru, []byte("<p>"+html.EscapeString(gotRU)+"</p>"), "ACCESS_DENIED", "UF_CRM_7", "j1", "signedFileUrl")
		if err != nil {
			t.Fatal(err)
		}
		if len(left) > 0 {
			t.Errorf("%v: the Russian words %q hold words not in the Russian catalogue: %v", tc.err, gotRU, left)
		}
	}
}

package contracts

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

func sampleJob() *SignJob {
	return &SignJob{
		ID:      "b24-3d906b2a-0f1e",
		Kind:    KindRobot,
		Created: time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC),
		Portal:  Portal{MemberID: "3d906b2a32030386ccc7274d2313a01b", Domain: "bel.bitrix24.ru"},
		Document: Document{URL: "https://bel.bitrix24.ru/upload/x.pdf", DiskFileID: 17, FileName: "x.pdf",
			DocumentID: []string{"crm", "CCrmDocumentDeal", "DEAL_1188"}, EntityTypeID: 2, EntityID: 1188},
		Signer:     Signer{Login: "mary", BitrixUserID: 7, Authorization: "otp"},
		Credential: "pkcs11:token=acme;object=mary-2026",
		Stamp:      Stamp{Visible: true, Page: "last", Position: "bottom-right", Reason: "Approved"},
		Reply:      Reply{EventToken: "681c|A1|x.y", WorkflowID: "681c"},
	}
}

func TestSignJobRoundTrip(t *testing.T) {
	j := sampleJob()
	data, err := j.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), `"v":1`) {
		t.Fatalf("marshalled job has no version field: %s", data)
	}
	got, err := DecodeSignJob(data)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, j) {
		t.Fatalf("round trip changed the job:\n got %+v\nwant %+v", got, j)
	}
}

func TestCallbackRoundTrip(t *testing.T) {
	c := &Callback{JobID: "j1", Kind: KindBatch, BatchID: "b1", Outcome: OutcomeSigned,
		Signed: &Signed{PDFKey: "signed/p/2026/11/b1/j1.pdf", SHA256After: "ab", CertificateSerial: "01"},
		Time:   time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)}
	data, err := c.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeCallback(data)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, c) {
		t.Fatalf("round trip changed the callback:\n got %+v\nwant %+v", got, c)
	}
}

func TestAuditEventRoundTrip(t *testing.T) {
	e := &AuditEvent{Time: time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC), Action: AuditJobSigned, JobID: "j1", PrevHash: "00"}
	data, err := e.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeAuditEvent(data)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, e) {
		t.Fatalf("round trip changed the event:\n got %+v\nwant %+v", got, e)
	}
}

func TestUnknownVersionIsRejected(t *testing.T) {
	cases := map[string]string{
		"future version": `{"v":2,"id":"j1","kind":"robot"}`,
		"no version":     `{"id":"j1","kind":"robot"}`,
		"version zero":   `{"v":0,"id":"j1"}`,
		// A field that changed its type with the version: still reported as the version.
		"future version, another shape": `{"v":2,"id":{"portal":"p","n":1},"kind":["robot"]}`,
	}
	for name, msg := range cases {
		t.Run(name, func(t *testing.T) {
			if _, err := DecodeSignJob([]byte(msg)); !errors.Is(err, ErrUnknownVersion) {
				t.Errorf("sign job: want ErrUnknownVersion, got %v", err)
			}
			if _, err := DecodeCallback([]byte(msg)); !errors.Is(err, ErrUnknownVersion) {
				t.Errorf("callback: want ErrUnknownVersion, got %v", err)
			}
			if _, err := DecodeAuditEvent([]byte(msg)); !errors.Is(err, ErrUnknownVersion) {
				t.Errorf("audit: want ErrUnknownVersion, got %v", err)
			}
		})
	}
	_, err := DecodeSignJob([]byte(`{"v":2}`))
	if err == nil || !strings.Contains(err.Error(), "version 2") || !strings.Contains(err.Error(), "understands version 1") {
		t.Fatalf("the error must say which versions: %v", err)
	}
	// This version with a field of the wrong type: a plain decoding error, not a version one.
	_, err = DecodeSignJob([]byte(`{"v":1,"id":5}`))
	if err == nil || errors.Is(err, ErrUnknownVersion) || !strings.Contains(err.Error(), "sign job") {
		t.Fatalf("a malformed job of this version: %v", err)
	}
}

func TestInvalidJobsAreRejected(t *testing.T) {
	for name, mutate := range map[string]func(*SignJob){
		"no id":         func(j *SignJob) { j.ID = "" },
		"unknown kind":  func(j *SignJob) { j.Kind = "fax" },
		"no document":   func(j *SignJob) { j.Document.URL = ""; j.Document.DiskFileID = 0 },
		"no credential": func(j *SignJob) { j.Credential = "" },
		"no portal":     func(j *SignJob) { j.Portal.MemberID = "" },
	} {
		j := sampleJob()
		mutate(j)
		data, _ := j.Marshal()
		if _, err := DecodeSignJob(data); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: want ErrInvalid, got %v", name, err)
		}
	}
}

func TestSubjectsByKind(t *testing.T) {
	if KindBatch.Subject() != SubjectSignBatch || KindRobot.Subject() != SubjectSignInteractive || KindPlacement.Subject() != SubjectSignInteractive {
		t.Fatal("batch jobs must go to the batch subject and the others to the interactive one")
	}
}

// NewCallback copies every field a Callback shares with its SignJob (by name, and the job id), for a
// signed and a failed job alike, and the result decodes as a valid callback.
func TestNewCallbackCopiesTheJob(t *testing.T) {
	job := sampleJob()
	job.BatchID = "night-7"
	job.Reply.NotifyUserID = 7
	job.TimeZone = "Europe/Moscow"
	at := time.Date(2026, 11, 22, 10, 5, 0, 0, time.UTC)
	for _, tc := range []struct {
		name    string
		signed  *Signed
		reason  string
		outcome Outcome
	}{
		{"signed", &Signed{PDFKey: "signed/x.pdf", SHA256After: "ab"}, "", OutcomeSigned},
		{"failed", nil, "the document is encrypted; send it without a password", OutcomeFailed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cb := NewCallback(job, tc.signed, tc.reason, at)
			if cb.JobID != job.ID || cb.Outcome != tc.outcome || cb.Signed != tc.signed || cb.Error != tc.reason || !cb.Time.Equal(at) {
				t.Fatalf("callback %+v: want job id %s, outcome %s, error %q, time %s", cb, job.ID, tc.outcome, tc.reason, at)
			}
			jv, cv := reflect.ValueOf(job).Elem(), reflect.ValueOf(cb).Elem()
			shared := 0
			for i := range cv.NumField() {
				name := cv.Type().Field(i).Name
				if name == "V" {
					continue
				}
				if f := jv.FieldByName(name); f.IsValid() {
					shared++
					if !reflect.DeepEqual(f.Interface(), cv.Field(i).Interface()) {
						t.Errorf("field %s: callback has %+v, job %+v", name, cv.Field(i).Interface(), f.Interface())
					}
				}
			}
			if shared != 7 {
				t.Errorf("%d fields shared by SignJob and Callback, 7 expected (Kind, BatchID, Portal, Document, Signer, Reply, TimeZone): copy a new one in NewCallback and count it here", shared)
			}
			data, err := cb.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			if _, err := DecodeCallback(data); err != nil {
				t.Fatalf("NewCallback made an invalid callback: %v", err)
			}
		})
	}
}

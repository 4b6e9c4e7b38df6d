package contracts

import (
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

func newJobKey(t testing.TB) ed25519.PrivateKey {
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// A signed job survives the wire (JSON) and verifies; it expires at its exp.
func TestJobAuthRoundTrip(t *testing.T) {
	s := NewJobSigner(newJobKey(t), time.Hour)
	now := time.Date(2026, 12, 3, 10, 0, 0, 123, time.UTC)
	j := sampleJob()
	j.Created = now
	s.Sign(j, now)
	data, err := j.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeSignJob(data)
	if err != nil {
		t.Fatal(err)
	}
	keys := NewJobKeys(newJobKey(t).Public().(ed25519.PublicKey), s.Public())
	if err := keys.Verify(got, now.Add(59*time.Minute)); err != nil {
		t.Fatalf("a genuine job: %v", err)
	}
	if err := keys.Verify(got, now.Add(time.Hour)); !errors.Is(err, ErrJobAuthExpired) || errors.Is(err, ErrJobUnauthorised) {
		t.Fatalf("at its expiry: %v, want ErrJobAuthExpired", err)
	}
	if err := keys.Authentic(got); err != nil {
		t.Fatalf("an expired job is still authentic: %v", err)
	}
}

// Every field of a SignJob is covered by the signature: changing any one (found by reflection, so a
// field added to SignJob without being added to JobAuthMessage fails here) changes the signed bytes.
func TestJobAuthMessageCoversEveryField(t *testing.T) {
	base := sampleJob()
	exp := time.Unix(1_800_000_000, 0)
	want := base.JobAuthMessage("kid", exp)
	var walk func(v reflect.Value, path string)
	walk = func(v reflect.Value, path string) {
		for i := 0; i < v.NumField(); i++ {
			f, name := v.Field(i), path+v.Type().Field(i).Name
			if name == "Auth" {
				continue
			}
			if f.Kind() == reflect.Struct && f.Type() != reflect.TypeOf(time.Time{}) {
				walk(f, name+".")
				continue
			}
			old := reflect.New(f.Type()).Elem()
			old.Set(f)
			switch f.Kind() {
			case reflect.String:
				f.SetString(f.String() + "x")
			case reflect.Int:
				f.SetInt(f.Int() + 1)
			case reflect.Bool:
				f.SetBool(!f.Bool())
			case reflect.Slice:
				if f.Type().Elem().Kind() == reflect.Uint8 {
					f.SetBytes(append(append([]byte{}, f.Bytes()...), 'x'))
				} else {
					f.Set(reflect.Append(f, reflect.ValueOf("x")))
				}
			case reflect.Struct: // time.Time
				f.Set(reflect.ValueOf(f.Interface().(time.Time).Add(time.Nanosecond)))
			default:
				t.Fatalf("field %s of kind %s: teach JobAuthMessage and this test about it", name, f.Kind())
			}
			if string(base.JobAuthMessage("kid", exp)) == string(want) {
				t.Errorf("SignJob.%s is not covered by JobAuthMessage", name)
			}
			f.Set(old)
		}
	}
	walk(reflect.ValueOf(base).Elem(), "")
	if string(base.JobAuthMessage("kid2", exp)) == string(want) || string(base.JobAuthMessage("kid", exp.Add(time.Second))) == string(want) {
		t.Error("the key id and the expiry must be covered")
	}
	// Length prefixes: moving a character from one field to the next changes the bytes.
	a, b := sampleJob(), sampleJob()
	a.Signer.Login, a.Signer.Authorization = "mary", "otp"
	b.Signer.Login, b.Signer.Authorization = "maryo", "tp"
	if string(a.JobAuthMessage("k", exp)) == string(b.JobAuthMessage("k", exp)) {
		t.Error("field boundaries are ambiguous")
	}
}

// The contract-level refusals: no signature, another key, an altered job, a wrong algorithm.
func TestJobAuthRefusals(t *testing.T) {
	now := time.Now()
	trusted := NewJobSigner(newJobKey(t), time.Hour)
	keys := NewJobKeys(trusted.Public())
	other := NewJobSigner(newJobKey(t), time.Hour)
	cases := map[string]func(j *SignJob){
		"unsigned":     func(j *SignJob) { j.Auth = nil },
		"another key":  func(j *SignJob) { other.Sign(j, now) },
		"credential":   func(j *SignJob) { trusted.Sign(j, now); j.Credential = "pkcs11:token=acme;object=ceo" },
		"signer":       func(j *SignJob) { trusted.Sign(j, now); j.Signer.Login = "ceo" },
		"expiry moved": func(j *SignJob) { trusted.Sign(j, now); j.Auth.Expires = j.Auth.Expires.Add(time.Hour) },
		"kid swapped":  func(j *SignJob) { other.Sign(j, now); j.Auth.KeyID = trusted.KeyID() },
		"alg":          func(j *SignJob) { trusted.Sign(j, now); j.Auth.Alg = "none" },
		"short sig":    func(j *SignJob) { trusted.Sign(j, now); j.Auth.Sig = j.Auth.Sig[:10] },
	}
	for name, forge := range cases {
		j := sampleJob()
		forge(j)
		if err := keys.Verify(j, now); !errors.Is(err, ErrJobUnauthorised) {
			t.Errorf("%s: %v, want ErrJobUnauthorised", name, err)
		}
	}
	var none *JobKeys
	j := sampleJob()
	trusted.Sign(j, now)
	if err := none.Verify(j, now); !errors.Is(err, ErrJobUnauthorised) {
		t.Errorf("no trusted keys: %v", err)
	}
}

// The cost of the proof per job, signing at the intake and verifying at the worker.
func BenchmarkJobAuthSign(b *testing.B) {
	s := NewJobSigner(newJobKey(b), time.Hour)
	j := sampleJob()
	now := time.Now()
	for b.Loop() {
		s.Sign(j, now)
	}
}

func BenchmarkJobAuthVerify(b *testing.B) {
	s := NewJobSigner(newJobKey(b), time.Hour)
	keys := NewJobKeys(s.Public())
	j := sampleJob()
	now := time.Now()
	s.Sign(j, now)
	for b.Loop() {
		if err := keys.Verify(j, now); err != nil {
			b.Fatal(err)
		}
	}
}

// Issue 18 added the job's language and time zone under a new tag; a job without them keeps the v1
// bytes, so that a job queued before an upgrade still verifies after it.
func TestJobAuthLocaleKeepsV1ForOldJobs(t *testing.T) {
	exp := time.Unix(1_800_000_000, 0)
	old := sampleJob()
	if m := old.JobAuthMessage("kid", exp); !strings.HasPrefix(string(m), "signet-job-auth/v1\x00") {
		t.Fatalf("a job without language and zone is not signed as v1: %q", m[:20])
	}
	loc := sampleJob()
	loc.Language, loc.TimeZone = "ru", "Europe/Moscow"
	m := loc.JobAuthMessage("kid", exp)
	if !strings.HasPrefix(string(m), "signet-job-auth/v2\x00") || !strings.HasSuffix(string(m), "\x00\x00\x00\x02ru\x00\x00\x00\x0dEurope/Moscow") {
		t.Fatalf("a job with language and zone: %q", m)
	}
	// Each field alone moves the job to v2 and is covered.
	for _, mutate := range []func(j *SignJob){func(j *SignJob) { j.Language = "" }, func(j *SignJob) { j.TimeZone = "" }} {
		j := sampleJob()
		j.Language, j.TimeZone = "ru", "Europe/Moscow"
		mutate(j)
		if b := j.JobAuthMessage("kid", exp); string(b) == string(m) || !strings.HasPrefix(string(b), "signet-job-auth/v2\x00") {
			t.Errorf("one of language and zone: %q", b)
		}
	}
	// A signed job with a locale survives the wire and verifies; changing the zone breaks it.
	s := NewJobSigner(newJobKey(t), time.Hour)
	now := time.Now()
	s.Sign(loc, now)
	data, err := loc.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeSignJob(data)
	if err != nil || got.Language != "ru" || got.TimeZone != "Europe/Moscow" {
		t.Fatalf("decoded %+v, %v", got, err)
	}
	keys := NewJobKeys(s.Public())
	if err := keys.Verify(got, now); err != nil {
		t.Fatal(err)
	}
	got.TimeZone = "UTC"
	if err := keys.Verify(got, now); !errors.Is(err, ErrJobUnauthorised) {
		t.Fatalf("a changed zone: %v", err)
	}
}

// Issue 19 added the document's source under v3; a job without one keeps its v2 or v1 bytes.
func TestJobAuthSourceIsV3AndCovered(t *testing.T) {
	exp := time.Unix(1_800_000_000, 0)
	j := sampleJob()
	j.Document.Source = SourceDocumentGenerator
	m := j.JobAuthMessage("kid", exp)
	if !strings.HasPrefix(string(m), "signet-job-auth/v3\x00") || !strings.HasSuffix(string(m), "\x00\x00\x00\x12document_generator") {
		t.Fatalf("a job with a source: %q", m)
	}
	j.Document.Source = SourceDisk
	if string(j.JobAuthMessage("kid", exp)) == string(m) {
		t.Fatal("the source is not covered")
	}
}

// Issue 19 added the signet's image under v4; a job without one keeps its v3, v2 or v1 bytes.
func TestJobAuthImageIsV4AndCovered(t *testing.T) {
	exp := time.Unix(1_800_000_000, 0)
	j := sampleJob()
	before := j.JobAuthMessage("kid", exp)
	j.Stamp.Image = []byte("\x89PNG-one")
	m := j.JobAuthMessage("kid", exp)
	if !strings.HasPrefix(string(m), "signet-job-auth/v4\x00") || !strings.HasSuffix(string(m), "\x00\x00\x00\x08\x89PNG-one") {
		t.Fatalf("a job with an image: %q", m)
	}
	j.Stamp.Image = []byte("\x89PNG-two")
	if string(j.JobAuthMessage("kid", exp)) == string(m) {
		t.Fatal("the image is not covered")
	}
	j.Stamp.Image = nil
	if string(j.JobAuthMessage("kid", exp)) != string(before) {
		t.Fatal("a job without an image must keep its earlier bytes")
	}
	j.Stamp.Image = make([]byte, MaxStampImage+1)
	if err := j.Validate(); !errors.Is(err, ErrInvalid) {
		t.Fatalf("an oversized image: %v, want ErrInvalid", err)
	}
}

// Issue 19 added the bulk write-back mode under v5; a job that replaces its file keeps earlier bytes.
func TestJobAuthWriteBackIsV5AndCovered(t *testing.T) {
	exp := time.Unix(1_800_000_000, 0)
	j := sampleJob()
	before := j.JobAuthMessage("kid", exp)
	j.Reply.WriteBack = WriteBackLink
	m := j.JobAuthMessage("kid", exp)
	if !strings.HasPrefix(string(m), "signet-job-auth/v5\x00") || !strings.HasSuffix(string(m), "\x00\x00\x00\x04link") {
		t.Fatalf("a link-mode job: %q", m)
	}
	j.Reply.WriteBack = WriteBackReplace
	if string(j.JobAuthMessage("kid", exp)) != string(before) {
		t.Fatal("a job that replaces its file must keep its earlier bytes")
	}
	j.Reply.WriteBack = "other"
	if err := j.Validate(); !errors.Is(err, ErrInvalid) {
		t.Fatalf("an unknown write-back mode: %v, want ErrInvalid", err)
	}
}

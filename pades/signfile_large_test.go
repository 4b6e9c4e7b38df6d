package pades

import (
	"bytes"
	"context"
	"crypto"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/signet-b24/signet/internal/testsupport/pdfgen"
	"github.com/signet-b24/signet/internal/testsupport/testenv"
)

// TestSignFileChunks signs a file larger than smallFile, read, hashed and written in many pieces
// (or cloned, on a file system with reflinks), with SHA-384 (two hashes: the signature's and
// SHA256Before) and SHA-256 (one hash, cloned for SHA256Before); the output is judged by qpdf,
// pdfsig and openssl.
func TestSignFileChunks(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "in.pdf")
	if _, err := pdfgen.WriteBig(in, 3<<20+12345, 1<<20); err != nil {
		t.Fatal(err)
	}
	inBytes, err := os.ReadFile(in)
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range []crypto.Hash{crypto.SHA384, crypto.SHA256} {
		t.Run(h.String(), func(t *testing.T) {
			out := filepath.Join(dir, "out-"+h.String()+".pdf")
			res, err := SignFile(context.Background(), in, out, ecSigner(t), Options{Hash: h, Page: -1, Visible: true, Reason: "chunks"})
			if err != nil {
				t.Fatal(err)
			}
			outBytes, err := os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			if res.SHA256Before != sha256.Sum256(inBytes) || res.SHA256After != sha256.Sum256(outBytes) {
				t.Error("SHA256Before/After do not match the files")
			}
			checkSigned(t, inBytes, outBytes, res, 1)
		})
	}
}

// TestSignFileInPlace signs a file by appending to it; a signer that fails leaves it untouched.
func TestSignFileInPlace(t *testing.T) {
	dir := t.TempDir()
	for _, size := range []int64{40 << 10, 2 << 20} { // read whole and streamed alike
		t.Run(strconv.FormatInt(size, 10), func(t *testing.T) {
			path := filepath.Join(dir, fmt.Sprintf("doc-%d.pdf", size))
			if _, err := pdfgen.WriteBig(path, size, 1<<20); err != nil {
				t.Fatal(err)
			}
			in, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			_, err = SignFileInPlace(context.Background(), path, Signer{Key: failingKey{ecSigner(t).Key}, Certificate: ecSigner(t).Certificate}, Options{})
			if err == nil {
				t.Fatal("a failing key signed")
			}
			if now, _ := os.ReadFile(path); !bytes.Equal(now, in) {
				t.Fatal("a failed signature changed the file")
			}
			res, err := SignFileInPlace(context.Background(), path, rsaSigner(t), Options{Page: -1, Visible: true, Reason: "in place"})
			if err != nil {
				t.Fatal(err)
			}
			out, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if res.SHA256Before != sha256.Sum256(in) || res.SHA256After != sha256.Sum256(out) {
				t.Error("SHA256Before/After do not match the files")
			}
			checkSigned(t, in, out, res, 1)
		})
	}
}

type failingKey struct{ crypto.Signer }

func (failingKey) Sign(io.Reader, []byte, crypto.SignerOpts) ([]byte, error) {
	return nil, errors.New("token removed")
}

// TestSignLargeFileMemory signs a 200 MiB file with SignFile and then in place, in a child process
// that reports its peak resident set (VmHWM): it must stay under 64 MiB (issue 22, must 4), however
// large the file. A memory bound, not a timing one. The outputs are judged by pdfsig and qpdf.
func TestSignLargeFileMemory(t *testing.T) {
	if os.Getenv("SIGNET_LARGE_CHILD") != "" {
		largeChild(t)
		return
	}
	if testing.Short() {
		t.Skip("writes a 200 MiB file")
	}
	testenv.RequireTool(t, "pdfsig")
	testenv.RequireTool(t, "qpdf")
	dir := t.TempDir()
	in := filepath.Join(dir, "big.pdf")
	if _, err := pdfgen.WriteBig(in, 200<<20, 32<<20); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestSignLargeFileMemory$", "-test.v")
	cmd.Env = append(os.Environ(), "SIGNET_LARGE_CHILD="+dir)
	o, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, o)
	}
	_, after, ok := strings.Cut(string(o), "vmhwm_kb=")
	if !ok {
		t.Fatalf("child reported no peak:\n%s", o)
	}
	kb, err := strconv.ParseInt(strings.Fields(after)[0], 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("signing a 200 MiB file twice: peak RSS %d KiB", kb)
	if kb > 64<<10 {
		t.Errorf("peak RSS %d MiB signing a 200 MiB file; it must stay under 64 MiB", kb>>10)
	}
	for _, f := range []string{filepath.Join(dir, "out.pdf"), in} {
		if o, err := run(t, "qpdf", "--check", f); err != nil {
			t.Fatalf("qpdf --check %s: %v\n%s", f, err, o)
		}
		o, _ := run(t, "pdfsig", f)
		if !strings.Contains(o, "Signature is Valid.") || !strings.Contains(o, "Total document signed") {
			t.Fatalf("pdfsig %s:\n%s", f, o)
		}
	}
}

func largeChild(t *testing.T) {
	dir := os.Getenv("SIGNET_LARGE_CHILD")
	in := filepath.Join(dir, "big.pdf")
	s := ecSigner(t)
	if _, err := SignFile(context.Background(), in, filepath.Join(dir, "out.pdf"), s, Options{Page: -1, Visible: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := SignFileInPlace(context.Background(), in, s, Options{Page: -1, Visible: true}); err != nil {
		t.Fatal(err)
	}
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Skip("no /proc/self/status here")
	}
	for _, line := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			fmt.Printf("vmhwm_kb=%s\n", strings.TrimSuffix(strings.TrimSpace(v), " kB"))
		}
	}
}

// Command memory measures the peak resident memory of signing PDFs of 1 MB, 100 MB and 1 GB with
// the PAdES engine (pades.SignFile): the input is read, hashed and written to the output in 32 KiB
// pieces (or cloned, where the file system has reflinks) and the reader loads no stream data, so the
// peak must stay flat as the file grows.
//
// Each input is generated at run time in a temporary folder (never committed) and signed in a child
// process of this program, which reports its own VmHWM from /proc/self/status; the parent also
// reads the child's rusage Maxrss. With -pdfcpu the child also measures pdfcpu's ReadContext on the
// same file (what the engine used before), for sizes up to -pdfcpu-max.
//
//	go run ./bench/memory                      # 1MB,100MB,1GB
//	go run ./bench/memory -sizes 1MB,100MB -pdfcpu
//
// The key is a software ECDSA P-256 key made in the child, so the figures are the engine's alone
// (a PKCS#11 module adds its own constant few MB). Each size is also signed in place
// (pades.SignFileInPlace, the worker's path: the update appended to a staging copy), and the CPU
// time of each child (user + system) is printed beside the wall time, which on a shared machine
// says more than the wall time alone.
package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"flag"
	"fmt"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/pdfcpu/pdfcpu/pkg/api"
	"github.com/pdfcpu/pdfcpu/pkg/pdfcpu"
	"github.com/pdfcpu/pdfcpu/pkg/pdfcpu/model"

	"github.com/signet-b24/signet/internal/testsupport/pdfgen"
	"github.com/signet-b24/signet/pades"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "-child" {
		child(os.Args[2:])
		return
	}
	sizes := flag.String("sizes", "1MB,100MB,1GB", "comma-separated input sizes (KB, MB, GB)")
	dir := flag.String("dir", os.TempDir(), "where the inputs are generated (needs about 2× the largest size)")
	withPdfcpu := flag.Bool("pdfcpu", false, "also measure pdfcpu's ReadContext on the same inputs")
	pdfcpuMax := flag.String("pdfcpu-max", "100MB", "largest input read with pdfcpu")
	flag.Parse()
	limit, err := parseSize(*pdfcpuMax)
	if err != nil {
		fail(err)
	}
	work, err := os.MkdirTemp(*dir, "signet-memory-")
	if err != nil {
		fail(err)
	}
	defer os.RemoveAll(work)

	host, _ := os.Hostname()
	fmt.Printf("Peak RSS of `pades.SignFile` (visible signet on the last page, software P-256 key), %s, %s, %d cores (%s), %s\n\n",
		time.Now().UTC().Format("2006-01-02 15:04 MST"), host, runtime.NumCPU(), cpuModel(), runtime.Version())
	fmt.Println("| input | file size | pages | sign: VmHWM | sign: Maxrss | sign time (CPU user + sys) | in place: VmHWM | in place time (CPU) | pdfsig | pdfcpu ReadContext: VmHWM |")
	fmt.Println("|---|---|---|---|---|---|---|---|---|---|")
	for _, s := range strings.Split(*sizes, ",") {
		size, err := parseSize(s)
		if err != nil {
			fail(err)
		}
		in := filepath.Join(work, "in-"+s+".pdf")
		out := filepath.Join(work, "out-"+s+".pdf")
		pages, err := pdfgen.WriteBig(in, size, 32<<20)
		if err != nil {
			fail(err)
		}
		st, _ := os.Stat(in)
		hwm, maxrss, took, cpu, err := measure("sign", in, out)
		if err != nil {
			fail(fmt.Errorf("%s: %w", s, err))
		}
		valid := pdfsig(out)
		// In place, after the copy: the input is as warm in the page cache as it was for SignFile.
		ihwm, _, itook, icpu, err := measure("inplace", in, "")
		if err != nil {
			fail(fmt.Errorf("%s in place: %w", s, err))
		}
		if v := pdfsig(in); v != valid {
			valid += ", in place " + v
		}
		pc := "—"
		if *withPdfcpu && size <= limit {
			h, _, t, _, err := measure("pdfcpu", in, "")
			if err != nil {
				pc = "error: " + err.Error()
			} else {
				pc = fmt.Sprintf("%s (%.2f s)", mib(h), t.Seconds())
			}
		}
		fmt.Printf("| %s | %s | %d | %s | %s | %.3f s (%.2f s) | %s | %.3f s (%.2f s) | %s | %s |\n", s, mib(st.Size()), pages, mib(hwm), mib(maxrss),
			took.Seconds(), cpu.Seconds(), mib(ihwm), itook.Seconds(), icpu.Seconds(), valid, pc)
		os.Remove(in)
		os.Remove(out)
	}
}

// pdfsig judges a signed file: "valid" when pdfsig finds a valid signature over the whole document.
func pdfsig(path string) string {
	p, err := exec.LookPath("pdfsig")
	if err != nil {
		return "n/a"
	}
	o, _ := exec.Command(p, path).CombinedOutput()
	if strings.Contains(string(o), "Signature is Valid.") && strings.Contains(string(o), "Total document signed") {
		return "valid"
	}
	return "invalid"
}

// measure runs this program as a child in the given mode and returns its VmHWM and Maxrss in bytes,
// the time it took to sign and the CPU time (user + system) of the whole child.
func measure(mode, in, out string) (hwm, maxrss int64, took, cpu time.Duration, err error) {
	exe, err := os.Executable()
	if err != nil {
		return 0, 0, 0, 0, err
	}
	cmd := exec.Command(exe, "-child", mode, in, out)
	cmd.Stderr = os.Stderr
	o, err := cmd.Output()
	if err != nil {
		return 0, 0, 0, 0, fmt.Errorf("child %s: %w", mode, err)
	}
	cpu = cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		maxrss = ru.Maxrss * 1024 // KiB on Linux
	}
	for _, f := range strings.Fields(string(o)) {
		k, v, _ := strings.Cut(f, "=")
		n, _ := strconv.ParseInt(v, 10, 64)
		switch k {
		case "vmhwm_kb":
			hwm = n * 1024
		case "ns":
			took = time.Duration(n)
		}
	}
	return hwm, maxrss, took, cpu, nil
}

func child(args []string) {
	mode, in, out := args[0], args[1], args[2]
	start := time.Now()
	switch mode {
	case "sign", "inplace":
		key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Memory Bench"},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), KeyUsage: x509.KeyUsageDigitalSignature}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
		if err != nil {
			fail(err)
		}
		cert, _ := x509.ParseCertificate(der)
		signer, opts := pades.Signer{Key: key, Certificate: cert}, pades.Options{Visible: true, Page: -1, Reason: "memory benchmark"}
		start = time.Now() // the key and certificate are not the engine's cost
		if mode == "inplace" {
			_, err = pades.SignFileInPlace(context.Background(), in, signer, opts)
		} else {
			_, err = pades.SignFile(context.Background(), in, out, signer, opts)
		}
		if err != nil {
			fail(err)
		}
	case "pdfcpu":
		api.DisableConfigDir()
		conf := model.NewDefaultConfiguration()
		conf.ValidationMode = model.ValidationRelaxed
		if _, err := pdfcpu.ReadFile(in, conf); err != nil {
			fail(err)
		}
	}
	took := time.Since(start)
	fmt.Printf("vmhwm_kb=%d ns=%d\n", vmHWM(), took.Nanoseconds())
}

// vmHWM is the peak resident set size of this process in KiB (/proc/self/status).
func vmHWM() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return n
		}
	}
	return 0
}

func parseSize(s string) (int64, error) {
	s = strings.ToUpper(strings.TrimSpace(s))
	mult := int64(1)
	for suffix, m := range map[string]int64{"KB": 1 << 10, "MB": 1 << 20, "GB": 1 << 30} {
		if strings.HasSuffix(s, suffix) {
			s, mult = strings.TrimSuffix(s, suffix), m
			break
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("bad size %q: use e.g. 1MB, 100MB, 1GB", s)
	}
	return n * mult, nil
}

func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }

func cpuModel() string {
	b, _ := os.ReadFile("/proc/cpuinfo")
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "model name"); ok {
			return strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
		}
	}
	return "unknown CPU"
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "memory:", err)
	os.Exit(1)
}
